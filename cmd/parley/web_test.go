package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	awaitpkg "github.com/parley-im/parley/internal/await"
	"github.com/parley-im/parley/internal/web/webtest"
)

// startWeb runs parley web on home and returns the address it printed
// first; at the end of the test it stops it, checks it exited cleanly and
// that its log never held the login token.
func startWeb(t *testing.T, home string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- runWith(ctx, testRun(), []string{"--home", home, "web"}, nil, &out, &errb) }()
	first := awaitpkg.Value(t, 2*time.Minute, "parley web to print the address to open", func() (string, error) {
		line, _, ok := strings.Cut(out.String(), "\n")
		if !ok {
			return "", errFalse("nothing printed yet: " + errb.String())
		}
		return line, nil
	})
	m := regexp.MustCompile(`^open (http://127\.0\.0\.1:\d+/login\?token=([A-Za-z0-9_-]{43}))$`).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("parley web's first line is %q", first)
	}
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("parley web exited %d:\n%s", code, errb.String())
		}
		if strings.Contains(errb.String(), m[2]) {
			t.Errorf("parley web logged its login token:\n%s", errb.String())
		}
	})
	return m[1]
}

type errFalse string

func (e errFalse) Error() string { return string(e) }

// origin is the scheme, host and port of a URL.
func origin(u string) string {
	return u[:strings.Index(u[len("http://"):], "/")+len("http://")]
}

// TestWebScenario: Alice uses the web app, Bob the CLI, on a real chain
// node and two real hubs. Alice unlocks in the browser, sees Bob's
// request with its greeting, accepts it; they write both ways and each
// sees the other's messages live (Alice's page without a reload); what
// Bob wrote that looks like markup, script or bidi tricks is shown as the
// text it is and runs nothing; files go both ways (Bob's image shown as
// a preview, Alice's upload fetched by Bob intact); Alice checks the
// safety number against what Bob's whois says and marks Bob verified.
// Every screen passes axe-core with no serious or critical violation.
func TestWebScenario(t *testing.T) {
	rpc, hubs := startWorld(t)
	const pass = "correct horse battery staple"
	t.Setenv("PARLEY_PASSPHRASE", pass)
	alice, bob := filepath.Join(t.TempDir(), "alice"), filepath.Join(t.TempDir(), "bob")
	initHome(t, rpc, alice)
	initHome(t, rpc, bob)
	parley(t, "--home", alice, "register", "alice", "--hub", hubs[0])
	parley(t, "--home", bob, "register", "bob", "--hub", hubs[1])
	awaitName(t, bob, "alice")
	awaitName(t, alice, "bob")
	greeting := `hi alice <b>it's bob</b> <script>window.pwned = "greeting"</script>`
	parley(t, "--home", bob, "contacts", "add", "alice", "--message", greeting)

	login := startWeb(t, alice)
	app := origin(login)
	page := webtest.Browser(t, "alice")
	page.Open(login)

	// Signed in, the keys still locked: the passphrase is typed in the page.
	page.AwaitText("main", "Unlock Parley")
	page.Axe("unlock")
	page.Type("textbox", "Passphrase", pass)
	page.Click("button", "Unlock")

	// The request, with its greeting as text.
	page.Click("link", "Requests (1)")
	page.AwaitText("main", "bob")
	if got := page.Text(".greeting"); got != greeting {
		t.Fatalf("the greeting shows as %q, want %q", got, greeting)
	}
	page.Axe("requests")
	page.Click("button", "Accept bob")

	// The conversation: Bob's greeting is its first message.
	page.AwaitText("[role=log]", "it's bob")
	page.Type("textbox", "Message", "hello bob, from the browser\r")
	awaitpkg.True(t, 2*time.Minute, "bob to read alice's message", func() bool {
		return strings.Contains(parley(t, "--home", bob, "read", "alice"), "alice: hello bob, from the browser")
	})
	// Shift+Enter is a new line, Enter sends.
	page.Type("textbox", "Message", "line one")
	page.ShiftEnter()
	page.Type("textbox", "Message", "line two\r")
	awaitpkg.True(t, 2*time.Minute, "bob to read alice's two lines", func() bool {
		out := parley(t, "--home", bob, "read", "alice")
		return strings.Contains(out, "line one") && strings.Contains(out, "line two")
	})

	// Bob's reply arrives live: no reload.
	page.Eval(`window.sameDocument = true`, nil)
	parley(t, "--home", bob, "send", "alice", "hi alice, live from the CLI")
	page.AwaitText("[role=log]", "hi alice, live from the CLI")

	// Hostile text: shown as text, nothing runs, no link made.
	hostile := "<img src=x onerror=\"window.pwned='img'\"><a href=\"javascript:window.pwned='link'\">click</a> \u202eevil.exe\u202c <script>window.pwned='script'</script>"
	parley(t, "--home", bob, "send", "alice", hostile)
	page.AwaitText("[role=log]", "click")
	var shown string
	page.Eval(`[...document.querySelectorAll('[role=log] .msg .text')].map(e => e.textContent).pop()`, &shown)
	if shown != hostile {
		t.Errorf("the hostile message shows as %q, want %q", shown, hostile)
	}
	var dom struct {
		Pwned, Same                       any
		Scripts, Imgs, Links, Bdi, Inline int
	}
	page.Eval(`({pwned: window.pwned, same: window.sameDocument,
		scripts: document.querySelectorAll('[role=log] script, body > script:not([src])').length,
		imgs: document.querySelectorAll('[role=log] img:not(.preview)').length,
		links: document.querySelectorAll('a[href^="javascript:"]').length,
		bdi: document.querySelectorAll('[role=log] bdi').length,
		inline: document.querySelectorAll('[onerror],[onclick],[onload]').length})`, &dom)
	if dom.Pwned != nil || dom.Same != true || dom.Scripts != 0 || dom.Imgs != 0 || dom.Links != 0 || dom.Inline != 0 || dom.Bdi == 0 {
		t.Errorf("after the hostile message the page has %+v", dom)
	}
	page.Axe("conversation")

	// A file from Bob with a hostile name: an image, previewed, and its
	// name as text.
	dir := t.TempDir()
	imgName := `<img src=x onerror=window.pwned=1>` + "\u202e" + `gnp.png`
	pic := filepath.Join(dir, imgName)
	writePNG(t, pic)
	parley(t, "--home", bob, "send-file", "alice", pic)
	page.AwaitText("[role=log]", "gnp.png")
	page.Await("the image preview to load", `[...document.querySelectorAll('[role=log] img.preview')].some(i => i.complete && i.naturalWidth === 8)`)
	var names []string
	page.Eval(`[...document.querySelectorAll('[role=log] .file-name')].map(e => e.textContent)`, &names)
	if len(names) != 1 || names[0] != "📎 "+imgName {
		t.Errorf("the file's name shows as %q", names)
	}

	// A file from Alice, chosen with the picker, sent with progress, and
	// fetched by Bob intact.
	upload := filepath.Join(dir, "from-alice.txt")
	content := bytes.Repeat([]byte("parley web "), 50000)
	os.WriteFile(upload, content, 0o600)
	page.Upload("#composer-file", upload)
	page.AwaitText("[role=log]", "from-alice.txt")
	ref := awaitpkg.Value(t, 2*time.Minute, "bob to see alice's file", func() (string, error) {
		m := regexp.MustCompile(`from-alice\.txt \([^;]*; get-file (alice/\d+)\)`).FindStringSubmatch(parley(t, "--home", bob, "read", "alice"))
		if m == nil {
			return "", errFalse("not yet")
		}
		return m[1], nil
	})
	got := filepath.Join(t.TempDir(), "got.txt")
	parley(t, "--home", bob, "get-file", "alice", ref, "--out", got)
	if b, _ := os.ReadFile(got); !bytes.Equal(b, content) {
		t.Errorf("bob got %d bytes of alice's %d", len(b), len(content))
	}

	// The safety number Alice is shown is the one Bob's whois reads; she
	// types it and Bob is verified (as the CLI on her home, served by the
	// web app's agent, says).
	page.Click("link", "Contact details and safety number")
	page.AwaitText("main", "Safety number")
	number := page.Text("#safety-number")
	if number == "" || !strings.Contains(parley(t, "--home", bob, "whois", "alice"), number) {
		t.Fatalf("alice is shown safety number %q, not in bob's whois", number)
	}
	page.Await("the QR code to load", `document.querySelector('img.qr').complete && document.querySelector('img.qr').naturalWidth > 0`)
	page.Axe("contact")
	page.Type("textbox", "The number bob reads to you", number)
	page.Click("button", "Mark verified")
	page.AwaitText("main", "Verified in person")
	if out := parley(t, "--home", alice, "contacts"); !strings.HasPrefix(out, "bob\tkeys as confirmed, verified in person") {
		t.Errorf("alice's contacts after verifying in the browser: %q", out)
	}

	for _, screen := range []string{"status", "settings", "profile", "search", "add", "groups/new"} {
		page.Open(app + "/#/" + screen)
		page.Await(screen+" to show", `document.querySelector('main h1') !== null && !document.querySelector('main .loading')`)
		page.Axe(screen)
	}
	if errs := page.Errors(); len(errs) > 0 {
		t.Errorf("the page's scripts failed: %q", errs)
	}
}

// writePNG writes an 8×8 PNG.
func writePNG(t *testing.T, path string) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range 8 {
		img.Set(i, i, color.RGBA{200, 30, 30, 255})
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}
