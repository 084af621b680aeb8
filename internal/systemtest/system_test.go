package systemtest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/await"
)

var (
	root string // the repository
	bin  string // the binaries, built for this test
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	root = filepath.Join(filepath.Dir(file), "..", "..")
	dir, err := os.MkdirTemp("", "parley-bin")
	if err != nil {
		panic(err)
	}
	bin = dir
	// As make build: parley is the front-end, parley-core beside it the
	// full build, so every drill runs what a person installs.
	for _, args := range [][]string{
		{"build", "-o", bin + "/", "./cmd/..."},
		{"build", "-o", bin + "/parley-core", "./cmd/parley"},
		{"build", "-tags", "front", "-o", bin + "/parley", "./cmd/parley"},
	} {
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// net is one local network: its directory and ports.
type localnet struct {
	t        *testing.T
	dir      string
	basePort int
	hubPort  int
}

// freeBase finds a base port whose four validators' ports and two hubs'
// ports are free now. It stays below Linux's ephemeral range (32768 and
// up), where the other tests' 127.0.0.1:0 listeners land.
func freeBase(t *testing.T) (base, hub int) {
	for range 200 {
		base = 20000 + 100*rand.IntN(120)
		ports := []int{base + 90, base + 91}
		for i := range 4 {
			ports = append(ports, base+10*i, base+10*i+1)
		}
		free := true
		for _, p := range ports {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return base, base + 90
		}
	}
	t.Fatal("no free ports")
	return
}

func (n *localnet) env() []string {
	return append(os.Environ(), "LOCALNET="+n.dir, "BIN="+bin, "BASE_PORT="+strconv.Itoa(n.basePort),
		"HUB_PORT="+strconv.Itoa(n.hubPort), "PARLEY_PASSPHRASE=system test passphrase")
}

// run runs a command with the network's environment and returns its
// output and exit code.
func (n *localnet) run(name string, args ...string) (stdout, stderr string, code int) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = root, n.env()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		n.t.Fatalf("%s: %v", name, err)
	}
	return o.String(), e.String(), code
}

// must runs a command that must succeed.
func (n *localnet) must(name string, args ...string) string {
	n.t.Helper()
	out, errs, code := n.run(name, args...)
	if code != 0 {
		n.t.Fatalf("%s %s: exit %d\n%s%s", name, strings.Join(args, " "), code, out, errs)
	}
	return out
}

// demo runs scripts/demo.sh, which must succeed, and returns its stdout
// and stderr (a failure message shows both: parley's errors are on
// stderr).
func (n *localnet) demo() (stdout, stderr string) {
	n.t.Helper()
	out, errs, code := n.run("bash", "scripts/demo.sh")
	if code != 0 {
		n.t.Fatalf("scripts/demo.sh: exit %d\n%s%s", code, out, errs)
	}
	return out, errs
}

func (n *localnet) parley(who string, args ...string) string {
	n.t.Helper()
	return n.must(filepath.Join(bin, "parley"), append([]string{"--home", filepath.Join(n.dir, "demo", who)}, args...)...)
}

func (n *localnet) localnet(cmd string) string {
	n.t.Helper()
	out := n.must("bash", "scripts/localnet.sh", cmd)
	n.t.Logf("localnet.sh %s:\n%s", cmd, out)
	return out
}

// pid reads the pid file rel (under the network's directory).
func (n *localnet) pid(rel string) int {
	n.t.Helper()
	b, err := os.ReadFile(filepath.Join(n.dir, rel))
	if err != nil {
		n.t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// kill SIGKILLs the process whose pid file is rel (under the network's
// directory) and waits until it is gone.
func (n *localnet) kill(rel string) {
	n.t.Helper()
	pid := n.pid(rel)
	n.t.Logf("drill: killing %s (pid %d) with SIGKILL", strings.TrimSuffix(filepath.Base(rel), ".pid"), pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		n.t.Fatal(err)
	}
	await.True(n.t, time.Minute, fmt.Sprintf("%s (pid %d) to be gone after SIGKILL", rel, pid), func() bool {
		return syscall.Kill(pid, 0) != nil
	})
}

// TestDemoAndDrills runs the script behind make demo on free ports, checks what it
// narrates, runs it again (nothing is done twice), then drills on the
// network it leaves up: the node both users ask first is killed
// mid-conversation; alice's hub is killed and her message queues; every
// process is stopped and started again; a parley process is killed while
// it sends a file. Every conversation stays intact.
func TestDemoAndDrills(t *testing.T) {
	base, hub := freeBase(t)
	n := &localnet{t: t, dir: t.TempDir(), basePort: base, hubPort: hub}
	t.Cleanup(func() { n.run("bash", "scripts/localnet.sh", "down") })

	out, errs := n.demo()
	for _, want := range []string{
		"alice registers the name 'alice'", "bob registers the name 'bob'", "verified by proof",
		"alice asks bob to become a contact", "request sent to bob", "accepted alice",
		"alice: Yes! Noon at the usual place.", "bob: See you there. 👍alice", // bob/2: his second message
		"no names, no plaintext", "bin/parley --home",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("the demo does not say %q:\n%s%s", want, out, errs)
		}
	}
	if i := strings.IndexByte(out, 0x1b); i >= 0 { // a pipe is no terminal: no bold, no colour
		t.Fatalf("the demo printed an escape sequence to a pipe: %q", out[max(0, i-40):min(len(out), i+40)])
	}
	phrase := phraseShown(t, out) // alice's, for drill 7
	again, againErrs := n.demo()
	for _, not := range []string{"registers the name", "asks bob to become a contact", "they talk"} {
		if strings.Contains(again, not) {
			t.Fatalf("the second demo run did %q again:\n%s%s", not, again, againErrs)
		}
	}
	if c := strings.Count(n.parley("bob", "read", "alice"), "See you there"); c != 1 {
		t.Fatalf("after two demo runs bob has 'See you there' %d times", c)
	}

	// Drill 1: node0, the node both clients ask first, dies mid-conversation.
	t.Log("drill 1: node0, the node both clients ask first, dies mid-conversation; they go on talking")
	n.kill("chain/node0.pid")
	n.parley("alice", "send", "bob", "node0 is gone, still talking")
	if got := n.parley("bob", "read", "alice"); !strings.Contains(got, "alice: node0 is gone, still talking") {
		t.Fatalf("bob after node0 died:\n%s", got)
	}
	n.parley("bob", "send", "alice", "loud and clear")
	if got := n.parley("alice", "read", "bob"); !strings.Contains(got, "bob: loud and clear") {
		t.Fatalf("alice after node0 died:\n%s", got)
	}

	// Drill 2: alice's hub dies; her message queues and goes out once.
	t.Log("drill 2: alice's hub (hub0) dies; her message queues, and goes out once when 'localnet.sh up' restarts hub0 and node0")
	n.kill("hub0.pid")
	out, errs, code := n.run(filepath.Join(bin, "parley"), "--home", filepath.Join(n.dir, "demo", "alice"), "send", "bob", "sent while my hub was down")
	if code != 0 || !strings.HasPrefix(out, "queued (alice/") || !strings.Contains(out, " does not answer; it goes out with your next parley command") {
		t.Fatalf("send with the hub down: exit %d: %s%s", code, out, errs)
	}
	n.localnet("up") // brings hub0 and node0 back
	n.parley("alice", "send", "bob", "and after it came back")
	got := n.parley("bob", "read", "alice")
	if strings.Count(got, "sent while my hub was down") != 1 || strings.Index(got, "sent while my hub was down") > strings.Index(got, "and after it came back") {
		t.Fatalf("bob after the hub outage:\n%s", got)
	}

	// Drill 3: everything stops and starts again; nothing is lost.
	t.Log("drill 3: every process stops ('localnet.sh down') and starts again ('localnet.sh up'); nothing is lost")
	n.localnet("down")
	n.localnet("up")
	before := got
	n.parley("bob", "send", "alice", "after the restart")
	if got := n.parley("alice", "read", "bob"); !strings.Contains(got, "bob: after the restart") || !strings.Contains(got, "alice: sent while my hub was down") {
		t.Fatalf("alice after the restart:\n%s", got)
	}
	after := n.parley("bob", "read", "alice")
	for _, line := range strings.Split(strings.TrimSpace(before), "\n") {
		line = strings.Split(line, " [")[0] // delivery marks may have moved on
		if !strings.Contains(after, line) {
			t.Fatalf("after the restart bob lost %q:\n%s", line, after)
		}
	}
	// Drill 4: a parley process killed mid-send (an 8 MiB file, killed once
	// its upload is under way) loses nothing: run again, it resumes, and
	// bob gets the file intact.
	t.Log("drill 4: alice's parley is killed (SIGKILL) while it uploads an 8 MiB file; run again, it resumes")
	src := filepath.Join(t.TempDir(), "film.bin")
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i * 7919 >> 8)
	}
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	send := exec.Command(filepath.Join(bin, "parley"), "--home", filepath.Join(n.dir, "demo", "alice"), "send-file", "bob", src)
	send.Env = n.env()
	var sendErr syncBuffer
	send.Stderr = &sendErr
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	// A few chunks went out: they are on alice's hub (a pipe gets no
	// progress bar).
	await.NoError(t, 2*time.Minute, "send-file's upload to begin (3 chunks on hub0)", func() error {
		chunks, _ := filepath.Glob(filepath.Join(n.dir, "hub0", "data", "*", "f", "*"))
		if len(chunks) < 3 {
			return fmt.Errorf("%d chunks; send-file said %q", len(chunks), sendErr.String())
		}
		return nil
	})
	t.Logf("drill: killing parley send-file (pid %d) with SIGKILL mid-upload", send.Process.Pid)
	send.Process.Kill()
	send.Wait()
	out2 := n.parley("alice", "send-file", "bob", src)
	if !strings.Contains(out2, "sent film.bin as alice/") {
		t.Fatalf("send-file after the kill: %s", out2)
	}
	ref := strings.Fields(out2[strings.Index(out2, "as ")+3:])[0]
	dest := filepath.Join(t.TempDir(), "film.bin")
	n.parley("bob", "get-file", "alice", ref, "--out", dest)
	if b, err := os.ReadFile(dest); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("the file bob got differs (%v)", err)
	}

	// Drill 5: bob's hub (hub1) is stopping when 'up' runs: told to stop
	// (SIGTERM) while frozen (SIGSTOP), it still runs and does not
	// answer. up waits for it rather than skip it; once it exits (SIGCONT
	// lets it), up starts it again. (It used to skip it, and fail after
	// 120 s.)
	t.Log("drill 5: hub1 is stopping (SIGTERM while frozen) as 'localnet.sh up' runs; up must wait for it to exit and start it again")
	hub1 := n.pid("hub1.pid")
	syscall.Kill(hub1, syscall.SIGSTOP)
	syscall.Kill(hub1, syscall.SIGTERM)
	up := exec.Command("bash", "scripts/localnet.sh", "up")
	up.Dir, up.Env = root, n.env()
	var upOut syncBuffer
	up.Stdout, up.Stderr = &upOut, &upOut
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	upDone := make(chan error, 1)
	go func() { upDone <- up.Wait() }()
	t.Cleanup(func() { syscall.Kill(hub1, syscall.SIGCONT) }) // a failure leaves no frozen hub
	waiting := fmt.Sprintf("hub1 (pid %d) runs but does not answer: waiting for it", hub1)
	await.NoError(t, 2*time.Minute, "up to wait for the stopping hub1", func() error {
		if out := upOut.String(); !strings.Contains(out, waiting) {
			return fmt.Errorf("up said:\n%s", out)
		}
		return nil
	})
	t.Logf("drill: hub1 (pid %d) may exit now (SIGCONT)", hub1)
	syscall.Kill(hub1, syscall.SIGCONT)
	select {
	case err := <-upDone:
		if err != nil || !strings.Contains(upOut.String(), "hub1 exited: started it again") || !strings.Contains(upOut.String(), "is up at height") {
			t.Fatalf("up with a stopping hub1: %v\n%s", err, upOut.String())
		}
	case <-time.After(3 * time.Minute):
		up.Process.Kill()
		t.Fatalf("up did not finish:\n%s", upOut.String())
	}
	t.Logf("localnet.sh up:\n%s", upOut.String())
	if n.pid("hub1.pid") == hub1 {
		t.Fatal("hub1's pid file still names the old process")
	}
	n.parley("alice", "send", "bob", "after hub1 came back")
	if got := n.parley("bob", "read", "alice"); !strings.Contains(got, "alice: after hub1 came back") {
		t.Fatalf("bob after hub1 came back:\n%s", got)
	}

	agentDrills(t, n)

	// Drill 7: alice loses her device. With the recovery phrase the demo's
	// init showed, the built parley takes her name back in a new home;
	// bob is told her keys changed, confirms, and they talk again.
	t.Log("drill 7: alice's device is lost; 'parley recover' with her recovery phrase takes the name back on a new one")
	newHome := filepath.Join(n.dir, "demo", "alice-new")
	rec := exec.Command(filepath.Join(bin, "parley"), "--home", newHome, "recover", "alice", "--node", fmt.Sprintf("http://127.0.0.1:%d", n.basePort+1),
		"--witness", fmt.Sprintf("http://127.0.0.1:%d", n.basePort+11))
	rec.Dir, rec.Env = root, append(n.env(), "PARLEY_RECOVERY_PHRASE="+phrase)
	if b, err := rec.CombinedOutput(); err != nil || !strings.Contains(string(b), "recovered alice at height ") {
		t.Fatalf("recover: %v\n%s", err, b)
	}
	await.NoError(t, 2*time.Minute, "bob to see alice's new keys", func() error {
		_, errs, code := n.run(filepath.Join(bin, "parley"), "--home", filepath.Join(n.dir, "demo", "bob"), "send", "alice", "are you there?")
		if code == 1 && strings.Contains(errs, "alice's keys changed on the chain at height ") {
			return nil
		}
		return fmt.Errorf("bob's send: exit %d: %s", code, errs)
	})
	n.parley("bob", "contacts", "confirm", "alice")
	n.parley("bob", "send", "alice", "welcome back, alice")
	n.must(filepath.Join(bin, "parley"), "--home", newHome, "contacts", "accept", "bob")
	if got := n.must(filepath.Join(bin, "parley"), "--home", newHome, "read", "bob"); !strings.Contains(got, "bob: welcome back, alice") {
		t.Fatalf("the recovered alice reads:\n%s", got)
	}
	if got := n.parley("alice", "read", "bob"); strings.Contains(got, "welcome back") {
		t.Fatalf("alice's lost device reads what bob sent after the recovery:\n%s", got)
	}

	if st := n.localnet("status"); strings.Contains(st, "stopped") {
		t.Fatalf("status after the drills:\n%s", st)
	}
}

// proc is a parley process left running (a daemon, a watch).
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan error
}

// start starts parley for who with args, and kills it when the test ends
// if it still runs.
func (n *localnet) start(who string, args ...string) *proc {
	n.t.Helper()
	cmd := exec.Command(filepath.Join(bin, "parley"), append([]string{"--home", filepath.Join(n.dir, "demo", who)}, args...)...)
	cmd.Dir, cmd.Env = root, n.env()
	p := &proc{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	n.t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// stop sends sig and waits (a minute at most) for the process to exit;
// it returns the exit code.
func (p *proc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		p.done <- nil // for the cleanup
	case <-time.After(time.Minute):
		t.Fatalf("%s did not exit a minute after %v:\n%s%s", p.cmd.Args, sig, p.stdout.String(), p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// phraseShown is the first recovery phrase in the demo's output (alice's
// init).
func phraseShown(t *testing.T, out string) string {
	t.Helper()
	i := strings.Index(out, "your recovery phrase")
	if i < 0 {
		t.Fatalf("the demo showed no recovery phrase:\n%s", out)
	}
	var words []string
	for _, m := range regexp.MustCompile(`\s(\d+) ([a-z]+)`).FindAllStringSubmatch(out[i:], -1) {
		if n, _ := strconv.Atoi(m[1]); n == len(words)+1 {
			words = append(words, m[2])
		}
		if len(words) == 12 {
			return strings.Join(words, " ")
		}
	}
	t.Fatalf("the demo's recovery phrase has %d words:\n%s", len(words), out[i:])
	return ""
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLintOutsideGit: 'make lint' checks formatting in a tree that is not
// a git checkout (a downloaded archive): it names the file gofmt would
// change, and never reads the terminal (it used to: 'git ls-files'
// failed, and gofmt with no file read stdin, and hung).
func TestLintOutsideGit(t *testing.T) {
	dir := t.TempDir()
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "Makefile"), mk, 0o600)
	os.MkdirAll(filepath.Join(dir, "pkg"), 0o700)
	os.WriteFile(filepath.Join(dir, "pkg", "good.go"), []byte("package pkg\n\nfunc Good() {}\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "pkg", "bad.go"), []byte("package pkg\nfunc   Bad( ) {  }\n"), 0o600)
	// stdin is a pipe nobody writes to or closes: a read of it would hang.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "lint", "GO=true", "STATICCHECK=true") // vet and staticcheck left out: only the format check
	cmd.Dir, cmd.Stdin = dir, r
	cmd.Env = append(os.Environ(), "GIT_CEILING_DIRECTORIES="+filepath.Dir(dir))
	cmd.WaitDelay = 5 * time.Second // gofmt, make's child, may hold the output open
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("make lint hung outside a git checkout:\n%s", out)
	}
	if err == nil || !strings.Contains(string(out), "gofmt would change:\npkg/bad.go") || strings.Contains(string(out), "good.go") {
		t.Fatalf("make lint outside a git checkout: %v\n%s", err, out)
	}
	os.Remove(filepath.Join(dir, "pkg", "bad.go"))
	if out, err := exec.CommandContext(ctx, "make", "-C", dir, "lint", "GO=true", "STATICCHECK=true").CombinedOutput(); err != nil {
		t.Fatalf("make lint on a formatted tree: %v\n%s", err, out)
	}
}

// TestDocsStayInTheRepository: README.md and docs/ link only to files in
// the repository (a reader of a clone or an archive has nothing else), and
// no document promises what "will be added".
func TestDocsStayInTheRepository(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append(files, filepath.Join(root, "README.md"))
	link := regexp.MustCompile("\\]\\(([^)#]*)[^)]*\\)|`(\\.\\./[^`]*)`")
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1] + m[2]
			if target == "" || strings.Contains(target, "://") {
				continue // an anchor in the page, or an example URL
			}
			abs := filepath.Clean(filepath.Join(filepath.Dir(f), target))
			if rel, err := filepath.Rel(root, abs); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s links outside the repository: %s", filepath.Base(f), target)
			} else if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s links to a missing file: %s", filepath.Base(f), target)
			}
		}
		for _, stale := range []string{"will be added", "not built yet"} {
			if strings.Contains(string(b), stale) {
				t.Errorf("%s still says %q", filepath.Base(f), stale)
			}
		}
	}
	if checked < 2 {
		t.Fatalf("checked %d documents", checked)
	}
}
