package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parley-im/parley/hub/driver/memory"
	"github.com/parley-im/parley/hub/server"
	"github.com/parley-im/parley/hub/server/hubtest"
	"github.com/parley-im/parley/internal/cli"
)

// gatedHub is a real hub whose writes can be refused with 401, as a hub
// does when it does not accept a device's token.
type gatedHub struct {
	*httptest.Server
	refuse atomic.Bool
}

func startGatedHub(t *testing.T) *gatedHub {
	g := &gatedHub{Server: httptest.NewUnstartedServer(nil)}
	srv, err := server.New(server.Config{Driver: memory.New(), PublicURL: "http://" + g.Listener.Addr().String(), InboxPowDifficulty: 6})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	g.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.refuse.Load() && r.Method != http.MethodGet && strings.HasPrefix(r.URL.Path, "/store/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"message":"token revoked"}`))
			return
		}
		h.ServeHTTP(w, r)
	})
	g.Start()
	t.Cleanup(func() { srv.Close(); g.Close() })
	return g
}

// parleyErr runs the CLI and returns its exit code and what it wrote to
// stderr.
func parleyErr(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, nil, &out, &errb)
	return code, errb.String()
}

// goChains are what a person must not be shown: Go package prefixes and
// raw network errors.
var goChains = regexp.MustCompile(`(^|\s)(client|hubclient|lookup|wire|keystore|hub): |dial tcp|Post "|Get "|%!`)

// TestErrorsSayWhatToDo: what parley says when something fails is a
// sentence and a hint that is true of that failure, never a chain of Go
// packages (which --verbose shows): a hub that refuses the device's token
// (the hint must not promise "once the hub is back"), a hub that is down,
// a chain node that does not answer, a name that is not a contact.
func TestErrorsSayWhatToDo(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "correct horse battery staple")
	gate := startGatedHub(t)
	alice, bob := aliceAndBob(t, rpc, gate.URL, hubs[0])
	inTouch(t, alice, bob, "hi bob")
	parley(t, "--home", bob, "read", "alice")

	for _, tc := range []struct {
		name    string
		setup   func()
		args    []string
		code    int
		stdout  string   // what stdout begins with ("": anything)
		want    []string // lines of stderr, in order
		wantNot string
	}{
		{"a hub refuses the token", func() { gate.refuse.Store(true) }, []string{"--home", alice, "send", "bob", "refused?"}, 0,
			"queued (alice/2): your hub " + gate.URL + " refused it (it did not accept this device's signed token); it stays queued until the hub accepts it; check that this device's clock is right",
			nil, "once the hub is back"},
		{"--verbose shows the chain", nil, []string{"--home", alice, "-v", "send", "bob", "refused again?"}, 0,
			"queued (alice/3): your hub " + gate.URL + " refused it (it did not accept this device's signed token)",
			[]string{"parley: queued on this device: your hub refused this device's signed token", "parley: hint: ", // the one queued before
				"parley: detail: client: message queued (no hub took it yet: ", "parley: detail: client: queued: no hub of yours took it yet: "},
			""},
		{"the hub is down", func() { gate.refuse.Store(false); gate.Close() }, []string{"--home", alice, "send", "bob", "down?"}, 0,
			"queued (alice/4): your hub " + gate.URL + " does not answer; it goes out with your next parley command (or a running watch) once it does\n",
			[]string{"parley: offline: hub " + gate.URL + " does not answer (connection refused); shown as this device has it"},
			""},
		{"not a contact", nil, []string{"--home", bob, "send", "carol", "hi"}, 1, "",
			[]string{"parley: ", "parley: hint: 'parley contacts add NAME' asks them"}, ""},
		{"the chain node does not answer", nil, []string{"--home", bob, "settings", "node", "http://127.0.0.1:1"}, 1, "",
			[]string{"parley: chain node http://127.0.0.1:1 does not answer (connection refused)",
				"parley: hint: check that this device is online and the node runs; 'parley settings node URL' picks another node"},
			""},
	} {
		if tc.setup != nil {
			tc.setup()
		}
		var outb, errb bytes.Buffer
		code := run(context.Background(), tc.args, nil, &outb, &errb)
		stderr := errb.String()
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d:\n%s", tc.name, code, tc.code, stderr)
		}
		if !strings.HasPrefix(outb.String(), tc.stdout) || tc.wantNot != "" && strings.Contains(outb.String(), tc.wantNot) {
			t.Errorf("%s: stdout is not %q...:\n%s", tc.name, tc.stdout, outb.String())
		}
		for i, w := range tc.want {
			if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
				t.Errorf("%s: stderr line %d is not %q...:\n%s", tc.name, i+1, w, stderr)
			}
		}
		if tc.wantNot != "" && strings.Contains(stderr, tc.wantNot) {
			t.Errorf("%s: says %q:\n%s", tc.name, tc.wantNot, stderr)
		}
		if !strings.Contains(strings.Join(tc.args, " "), "-v") {
			if loc := goChains.FindStringIndex(stderr); loc != nil {
				t.Errorf("%s: a Go error chain reaches the user (%q):\n%s", tc.name, stderr[loc[0]:loc[1]], stderr)
			}
		}
	}
}

// TestGetFileChecksTheDestination: get-file refuses a destination that
// exists or cannot be written before it downloads anything (nothing is
// fetched, no DEST.part appears), saying what to do.
func TestGetFileChecksTheDestination(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "correct horse battery staple")
	alice, bob := aliceAndBob(t, rpc, hubs[0], hubs[1])
	inTouch(t, alice, bob, "hi bob")
	src := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(src, bytes.Repeat([]byte("parley "), 300000), 0o600)
	sent := parley(t, "--home", alice, "send-file", "bob", src)
	ref := regexp.MustCompile(`as (alice/\d+)`).FindStringSubmatch(sent)
	if ref == nil {
		t.Fatalf("send-file: %s", sent)
	}
	dir := t.TempDir()
	exists := filepath.Join(dir, "notes.txt")
	os.WriteFile(exists, []byte("mine"), 0o600)
	notDir := filepath.Join(dir, "a-file")
	os.WriteFile(notDir, nil, 0o600)

	for _, tc := range []struct {
		dest string
		want []string
	}{
		{exists, []string{"parley: " + exists + ": file already exists", "parley: hint: parley never writes over a file: give another path"}},
		{filepath.Join(notDir, "notes.txt"), []string{"parley: cannot write " + filepath.Join(notDir, "notes.txt") + ": ", "parley: hint: choose a place you can write to (--out PATH)"}},
	} {
		code, stderr := parleyErr(t, "--home", bob, "get-file", "alice", ref[1], "--out", tc.dest)
		lines := strings.Split(stderr, "\n")
		if code != 1 || len(lines) < 2 || !strings.HasPrefix(lines[0], tc.want[0]) || lines[1] != tc.want[1] {
			t.Errorf("get-file --out %s: exit %d:\n%s", tc.dest, code, stderr)
		}
		if _, err := os.Stat(tc.dest + ".part"); err == nil {
			t.Errorf("get-file --out %s downloaded before refusing (%s.part exists)", tc.dest, tc.dest)
		}
	}
	if b, _ := os.ReadFile(exists); string(b) != "mine" {
		t.Fatalf("the existing file now holds %q", b)
	}
	// Another user of the machine planted DEST.part, a link to bob's
	// .bashrc (TestGetWritesNoOneElsesFile in client/files): nothing is
	// written through it, and get-file says what to do.
	bashrc := filepath.Join(t.TempDir(), ".bashrc")
	os.WriteFile(bashrc, []byte("alias ll='ls -l'\n"), 0o600)
	planted := filepath.Join(dir, "planted.txt")
	if err := os.Symlink(bashrc, planted+".part"); err != nil {
		t.Fatal(err)
	}
	code, stderr := parleyErr(t, "--home", bob, "get-file", "alice", ref[1], "--out", planted)
	if code != 1 || !strings.Contains(stderr, "parley: the partial download is not a plain file of yours") ||
		!strings.Contains(stderr, "parley: hint: save it in a directory only you can write to (--out PATH)") {
		t.Errorf("get-file with a link planted at its .part: exit %d:\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(bashrc); string(b) != "alias ll='ls -l'\n" {
		t.Fatalf("get-file wrote through a link planted at its .part: .bashrc holds %d bytes", len(b))
	}
	dest := filepath.Join(dir, "got.txt")
	parley(t, "--home", bob, "get-file", "alice", ref[1], "--out", dest)
	if b, _ := os.ReadFile(dest); !bytes.Equal(b, bytes.Repeat([]byte("parley "), 300000)) {
		t.Fatal("get-file wrote something else")
	}
}

// TestVersion: parley version and --version say which build this is,
// without a home.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), append([]string{"--home", filepath.Join(t.TempDir(), "none")}, args...), nil, &out, &errb); code != 0 ||
			out.String() != "parley "+cli.Version()+"\n" {
			t.Errorf("parley %s: exit %d, %q %q", args[0], code, out.String(), errb.String())
		}
	}
}

// TestInitPassphrase: init asks the passphrase twice on the terminal and
// refuses two that differ, and refuses a weak one (from the terminal or
// PARLEY_PASSPHRASE) with the backup's rule; nothing is created then.
// Without --witness it warns that the node is trusted alone.
func TestInitPassphrase(t *testing.T) {
	rpc, _ := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "correct horse battery staple")
	initHome(t, rpc, filepath.Join(t.TempDir(), "first")) // the chain has a block
	init := func(env string, answers []string, extra ...string) (code int, stderr string, prompts []string) {
		t.Helper()
		t.Setenv("PARLEY_PASSPHRASE", env)
		home := filepath.Join(t.TempDir(), "home")
		var out, errb bytes.Buffer
		ask := func(prompt string) ([]byte, error) {
			prompts = append(prompts, prompt)
			if w, ok := phraseWordAsked(t, prompt, out.String()); ok {
				return []byte(w), nil
			}
			a := answers[0]
			answers = answers[1:]
			return []byte(a), nil
		}
		code = runWith(context.Background(), testRunAsking(ask), append([]string{"--home", home, "init", "--node", rpc}, extra...), nil, &out, &errb)
		if _, err := os.Stat(filepath.Join(home, "keystore")); (err == nil) != (code == 0) {
			t.Errorf("init exited %d, and its keystore: %v", code, err)
		}
		return code, errb.String(), prompts
	}
	for _, tc := range []struct {
		name    string
		env     string
		answers []string
		want    []string
	}{
		{"two that differ", "", []string{"correct horse battery staple", "correct horse battery stapel"},
			[]string{"parley: the two passphrases you typed differ; nothing was changed", "parley: hint: type the same passphrase twice"}},
		{"short", "", []string{"hunter2", "hunter2"},
			[]string{"parley: passphrase too weak: 7 characters, at least 12 are needed", "parley: hint: choose one of at least 12 characters"}},
		{"short, from the environment", "pw", nil, []string{"parley: passphrase too weak: 2 characters, at least 12 are needed"}},
		{"one character", "aaaaaaaaaaaaaaaa", nil, []string{"parley: passphrase too weak: one character repeated"}},
	} {
		code, stderr, _ := init(tc.env, tc.answers, "--witness", rpc)
		lines := strings.Split(stderr, "\n")
		if code != 1 {
			t.Errorf("%s: exit %d:\n%s", tc.name, code, stderr)
		}
		for i, w := range tc.want {
			if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
				t.Errorf("%s: stderr line %d is not %q...:\n%s", tc.name, i+1, w, stderr)
			}
		}
	}
	code, stderr, prompts := init("", []string{"correct horse battery staple", "correct horse battery staple"})
	if code != 0 || !strings.HasPrefix(strings.Join(prompts, "|"), "new passphrase: |again: |word ") || len(prompts) != 5 {
		t.Fatalf("init with the passphrase typed twice: exit %d, prompts %q:\n%s", code, prompts, stderr)
	}
	if want := "parley: warning: no --witness: this device trusts the node " + rpc + " alone"; !strings.HasPrefix(stderr, want) {
		t.Errorf("init without a witness: stderr %q, want %q...", stderr, want)
	}
	if code, stderr, _ := init("correct horse battery staple", nil, "--witness", rpc); code != 0 || strings.Contains(stderr, "warning") {
		t.Errorf("init with a witness: exit %d:\n%s", code, stderr)
	}
}

// TestProfileAvatar: an avatar must be an image by its content (an SVG
// named .png is refused with what to do); a contact's avatar is saved
// with profile NAME --avatar FILE, never over a file.
func TestProfileAvatar(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "correct horse battery staple")
	alice, bob := aliceAndBob(t, rpc, hubs[0], hubs[1])
	inTouch(t, alice, bob, "hi bob")

	dir := t.TempDir()
	svg := filepath.Join(dir, "me.png")
	os.WriteFile(svg, []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), 0o600)
	code, stderr := parleyErr(t, "--home", alice, "profile", "set", "--avatar", svg)
	if lines := strings.Split(stderr, "\n"); code != 1 || !strings.HasPrefix(lines[0], "parley: "+svg+": not an avatar parley takes") ||
		lines[1] != "parley: hint: choose a PNG, JPEG or GIF image of at most 192 KiB and 1024×1024 pixels" {
		t.Fatalf("an SVG as avatar: exit %d:\n%s", code, stderr)
	}
	var img bytes.Buffer
	png.Encode(&img, image.NewGray(image.Rect(0, 0, 32, 24)))
	ok := filepath.Join(dir, "ok.png")
	os.WriteFile(ok, img.Bytes(), 0o600)
	parley(t, "--home", alice, "profile", "set", "--name", "Alice", "--avatar", ok)

	saved := filepath.Join(dir, "alice.png")
	out := parley(t, "--home", bob, "profile", "alice", "--avatar", saved)
	if !strings.Contains(out, "avatar: PNG, 32×24 pixels") || !strings.Contains(out, "saved alice's avatar in "+saved) {
		t.Fatalf("profile alice --avatar:\n%s", out)
	}
	if b, _ := os.ReadFile(saved); !bytes.Equal(b, img.Bytes()) {
		t.Fatal("the saved avatar differs from alice's")
	}
	if code, stderr := parleyErr(t, "--home", bob, "profile", "alice", "--avatar", saved); code != 1 || !strings.Contains(stderr, "file exists") {
		t.Fatalf("saving over a file: exit %d:\n%s", code, stderr)
	}
}

// TestFullInboxSaysSo: a contact request to someone whose hub's inbox is
// full is queued with that reason, not "too many requests" (the hub's
// InboxFullError used to reach the client as a rate limit).
func TestFullInboxSaysSo(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "correct horse battery staple")
	small := hubtest.Start(t, func(c *server.Config) { c.InboxMaxEntries = 1 }).URL
	alice, bob, carol := filepath.Join(t.TempDir(), "alice"), filepath.Join(t.TempDir(), "bob"), filepath.Join(t.TempDir(), "carol")
	for _, h := range []string{alice, bob, carol} {
		initHome(t, rpc, h)
	}
	parley(t, "--home", alice, "register", "alice", "--hub", hubs[0])
	parley(t, "--home", bob, "register", "bob", "--hub", hubs[1])
	parley(t, "--home", carol, "register", "carol", "--hub", small)
	awaitName(t, alice, "carol")
	awaitName(t, bob, "carol")
	parley(t, "--home", alice, "contacts", "add", "carol")
	var out, errb bytes.Buffer
	run(context.Background(), []string{"--home", bob, "contacts", "add", "carol"}, nil, &out, &errb)
	said := out.String() + errb.String()
	if !strings.Contains(said, "the inbox there is full") || strings.Contains(said, "too many requests") {
		t.Fatalf("bob's request to carol, whose inbox is full:\n%s", said)
	}
	if goChains.MatchString(said) {
		t.Fatalf("a Go chain shown:\n%s", said)
	}
}
