package systemtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/await"
)

// events follows an agent's event stream (its socket) from now on.
type events struct {
	mu  sync.Mutex
	evs []api.Event
	end error
}

func follow(t *testing.T, sock string) *events {
	t.Helper()
	c := api.NewUnix(sock)
	info, err := c.Agent(context.Background())
	if err != nil {
		t.Fatalf("the agent on %s: %v", sock, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &events{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := c.Events(ctx, info.Cursor, func(ev api.Event) error {
			e.mu.Lock()
			e.evs = append(e.evs, ev)
			e.mu.Unlock()
			return nil
		})
		e.mu.Lock()
		e.end = err
		e.mu.Unlock()
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		c.Close()
	})
	return e
}

// await waits for an event that match says is the one.
func (e *events) await(t *testing.T, what string, match func(api.Event) bool) {
	t.Helper()
	await.True(t, 2*time.Minute, what, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, ev := range e.evs {
			if match(ev) {
				return true
			}
		}
		return false
	})
}

// agentDrills, on the network the demo left up: alice runs 'parley
// daemon' and bob 'parley watch', each a process of its own; the other
// commands, from other processes, are served by them at once, and each
// side sees the other's messages live. Alice's disappearing message goes
// on time with only her agent running. A second daemon cannot start;
// SIGTERM stops the daemon cleanly; a daemon killed with SIGKILL loses
// nothing, and the next command or daemon takes the home over.
func agentDrills(t *testing.T, n *localnet) {
	t.Log("drill 6: alice runs 'parley daemon', bob 'parley watch'; the other commands are served by them")
	aliceHome := filepath.Join(n.dir, "demo", "alice")
	bobHome := filepath.Join(n.dir, "demo", "bob")
	aliceSock, bobSock := filepath.Join(aliceHome, "agent.sock"), filepath.Join(bobHome, "agent.sock")

	daemon := n.start("alice", "daemon")
	await.True(t, 2*time.Minute, "alice's daemon to serve its socket", func() bool {
		return strings.Contains(daemon.stderr.String(), "serving the API")
	})
	if fi, err := os.Stat(aliceSock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("alice's socket: %v, %v", fi, err)
	}
	watch := n.start("bob", "watch")
	await.True(t, 2*time.Minute, "bob's watch to serve his home's socket", func() bool {
		_, err := os.Stat(bobSock)
		return err == nil
	})
	alice := follow(t, aliceSock)

	// From another terminal, while the daemon runs: served at once (no
	// "waiting for another parley process").
	out, errs, code := n.run(filepath.Join(bin, "parley"), "--home", aliceHome, "send", "bob", "from a second terminal")
	if code != 0 || !strings.HasPrefix(out, "sent (alice/") || errs != "" {
		t.Fatalf("send while alice's daemon runs: exit %d: %s%s", code, out, errs)
	}
	await.True(t, 2*time.Minute, "bob's watch to show alice's message live", func() bool {
		return strings.Contains(watch.stdout.String(), "alice: from a second terminal")
	})
	out, errs, code = n.run(filepath.Join(bin, "parley"), "--home", bobHome, "send", "alice", "seen it live")
	if code != 0 || !strings.HasPrefix(out, "sent (bob/") || errs != "" {
		t.Fatalf("send while bob's watch runs: exit %d: %s%s", code, out, errs)
	}
	alice.await(t, "bob's reply on alice's event stream", func(ev api.Event) bool {
		return ev.Type == api.EventMessage && ev.Message.From == "bob" && ev.Message.Text == "seen it live"
	})
	if got := n.parley("alice", "read", "bob", "--last", "3"); !strings.Contains(got, "bob: seen it live") {
		t.Fatalf("alice reads through her daemon:\n%s", got)
	}

	// bob opens the chat on a terminal (script gives it one, 140x40)
	// while his watch runs: the chat is a front-end of the watch's agent.
	// alice's message shows in it live, and so does what bob sends from
	// another terminal meanwhile.
	chat := exec.Command("script", "-qfec", "stty cols 140 rows 40; exec "+filepath.Join(bin, "parley")+" --home "+bobHome+" chat alice", "/dev/null")
	chat.Dir, chat.Env = root, append(n.env(), "TERM=xterm-256color")
	chatIn, err := chat.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var chatOut syncBuffer
	chat.Stdout, chat.Stderr = &chatOut, &chatOut
	if err := chat.Start(); err != nil {
		t.Fatal(err)
	}
	chatDone := make(chan error, 1)
	go func() { chatDone <- chat.Wait() }()
	t.Cleanup(func() {
		chat.Process.Kill()
		<-chatDone
	})
	inChat := func(what, text string) {
		t.Helper()
		await.NoError(t, 2*time.Minute, what, func() error {
			if out := chatOut.String(); !strings.Contains(out, text) {
				return fmt.Errorf("the chat's terminal has %q", out[max(0, len(out)-2000):])
			}
			return nil
		})
	}
	inChat("bob's chat to show the conversation", "seen it live")
	n.parley("alice", "send", "bob", "to the chat")
	inChat("bob's chat to show alice's message live", "to the chat")
	out, errs, code = n.run(filepath.Join(bin, "parley"), "--home", bobHome, "send", "alice", "beside the chat")
	if code != 0 || !strings.HasPrefix(out, "sent (bob/") || errs != "" {
		t.Fatalf("send while bob's chat and watch run: exit %d: %s%s", code, out, errs)
	}
	inChat("bob's chat to show what he sent from another terminal", "beside the chat")
	io.WriteString(chatIn, "\x1b") // Esc quits
	select {
	case <-chatDone:
		chatDone <- nil
	case <-time.After(time.Minute):
		t.Fatal("the chat did not quit on Esc")
	}

	// Disappearing messages go on time with only the agent running: no
	// command of alice's runs meanwhile.
	n.parley("alice", "timer", "bob", "2s")
	n.parley("alice", "send", "bob", "this one disappears")
	alice.await(t, "alice's agent to delete the disappearing message (an expired event)", func(ev api.Event) bool {
		return ev.Type == api.EventExpired
	})
	if got := n.parley("alice", "read", "bob"); strings.Contains(got, "this one disappears") || !strings.Contains(got, "bob: seen it live") {
		t.Fatalf("alice's conversation after the timer ran out:\n%s", got)
	}
	n.parley("alice", "timer", "bob", "0")

	// Every chain node dies while the agents run: reads are answered from
	// what the agents hold, a send is never refused nor lost: queued, it goes
	// out by itself once the chain is back, with no command of alice's.
	t.Log("drill 8: every chain node dies while the agents run; reads still work, a send waits and goes out by itself once the chain is back")
	n.parley("alice", "whois", "bob") // verified now: the agent keeps it
	for i := range 4 {
		n.kill(fmt.Sprintf("chain/node%d.pid", i))
	}
	if got := n.parley("alice", "read", "bob"); !strings.Contains(got, "bob: seen it live") {
		t.Fatalf("alice reads with the chain down:\n%s", got)
	}
	out, errs, code = n.run(filepath.Join(bin, "parley"), "--home", aliceHome, "whois", "bob")
	if code != 0 || !strings.Contains(out, "name:     bob (verified by proof)") || !strings.Contains(errs, "the chain does not answer: bob as this device verified it at") {
		t.Fatalf("whois with the chain down: exit %d: %s%s", code, out, errs)
	}
	// Sent at once if bob's record was verified moments ago at the
	// latest height the agent knows (so its keys are known to be his),
	// else queued until the chain answers; never refused, never lost.
	out, errs, code = n.run(filepath.Join(bin, "parley"), "--home", aliceHome, "send", "bob", "while the chain was down")
	if code != 0 || !strings.HasPrefix(out, "queued (alice/") && !strings.HasPrefix(out, "sent (alice/") {
		t.Fatalf("send with the chain down: exit %d: %s%s", code, out, errs)
	}
	t.Logf("send with the chain down: %s%s", out, errs)
	alice.await(t, "alice's agent to report the chain down (whois asked it above)", func(ev api.Event) bool {
		return ev.Type == api.EventChain && ev.Up != nil && !*ev.Up
	})
	// The agent stops and starts again with the chain still down. With no
	// agent, whois answers with bob's record as the device verified it
	// (the records whois verified, sealed in the home), and says from
	// which height; so does the restarted daemon. A name never verified
	// needs the chain, and whois says in one line that it does not answer
	// (docs/cli.md). What was queued goes out once the chain is back, sent
	// by the new daemon.
	if code := daemon.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("alice's daemon after SIGTERM, the chain down: exit %d\n%s", code, daemon.stderr.String())
	}
	out, errs, code = n.run(filepath.Join(bin, "parley"), "--home", aliceHome, "whois", "bob")
	if code != 0 || !strings.Contains(out, "name:     bob (verified by proof)") || !strings.Contains(errs, "the chain does not answer: bob as this device verified it at height ") {
		t.Fatalf("whois bob, the chain down, no agent running: exit %d: %s%s", code, out, errs)
	}
	out, errs, code = n.run(filepath.Join(bin, "parley"), "--home", aliceHome, "whois", "nobody")
	if code != 1 || out != "" || !strings.Contains(errs, "does not answer") {
		t.Fatalf("whois of a name never verified, the chain down, no agent running: exit %d: %s%s", code, out, errs)
	}
	daemon = n.start("alice", "daemon")
	await.True(t, 2*time.Minute, "alice's daemon to serve again with the chain down", func() bool {
		return strings.Contains(daemon.stderr.String(), "serving the API")
	})
	alice = follow(t, aliceSock)
	out, errs, code = n.run(filepath.Join(bin, "parley"), "--home", aliceHome, "whois", "bob")
	if code != 0 || !strings.Contains(out, "name:     bob (verified by proof)") || !strings.Contains(errs, "the chain does not answer: bob as this device verified it at height ") {
		t.Fatalf("whois bob, the chain down, served by the restarted daemon: exit %d: %s%s", code, out, errs)
	}
	n.localnet("up")
	await.True(t, 3*time.Minute, "bob's watch to show the message queued while the chain was down", func() bool {
		return strings.Contains(watch.stdout.String(), "alice: while the chain was down")
	})

	// Alice's hub dies while the agents run: her send is queued, the agent
	// says the hub is down, and once the hub is back the agent sends it
	// and bob's watch, reconnected, shows it, with no command of alice's.
	t.Log("drill 9: alice's hub dies while the agents run; her send waits, and goes out by itself once the hub is back")
	n.kill("hub0.pid")
	out, errs, code = n.run(filepath.Join(bin, "parley"), "--home", aliceHome, "send", "bob", "while my hub was down")
	if code != 0 || !strings.HasPrefix(out, "queued (alice/") {
		t.Fatalf("send with alice's hub down: exit %d: %s%s", code, out, errs)
	}
	hub0URL := "http://127.0.0.1:" + strconv.Itoa(n.hubPort)
	alice.await(t, "alice's agent to report her hub down", func(ev api.Event) bool {
		return ev.Type == api.EventHub && ev.Hub == hub0URL && ev.Up != nil && !*ev.Up
	})
	n.localnet("up")
	await.True(t, 3*time.Minute, "bob's watch to show the message queued while alice's hub was down", func() bool {
		return strings.Count(watch.stdout.String(), "alice: while my hub was down") == 1
	})
	await.True(t, 2*time.Minute, "alice's agent to report her hub up again, after down", func() bool {
		alice.mu.Lock()
		defer alice.mu.Unlock()
		down := false
		for _, ev := range alice.evs {
			if ev.Type == api.EventHub && ev.Hub == hub0URL && ev.Up != nil {
				if !*ev.Up {
					down = true
				} else if down {
					return true
				}
			}
		}
		return false
	})

	// Two agents cannot both run on one home.
	out, errs, code = n.run(filepath.Join(bin, "parley"), "--home", aliceHome, "daemon")
	if code != 1 || !strings.Contains(errs, "an agent already serves "+aliceHome) {
		t.Fatalf("a second daemon on alice's home: exit %d: %s%s", code, out, errs)
	}

	// SIGTERM stops the daemon cleanly: exit 0, the socket gone, the
	// event stream ended; then commands serve themselves again.
	if code := daemon.stop(t, syscall.SIGTERM); code != 0 || !strings.Contains(daemon.stderr.String(), "stopping") {
		t.Fatalf("the daemon after SIGTERM: exit %d\n%s", code, daemon.stderr.String())
	}
	if _, err := os.Stat(aliceSock); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("alice's socket after the daemon stopped: %v", err)
	}
	await.True(t, time.Minute, "alice's event stream to end with the daemon", func() bool {
		alice.mu.Lock()
		defer alice.mu.Unlock()
		return alice.end != nil
	})
	if got := n.parley("alice", "read", "bob"); !strings.Contains(got, "alice: from a second terminal") {
		t.Fatalf("alice reads with no agent running:\n%s", got)
	}

	// SIGKILL: the socket stays behind, dead; the next command serves
	// itself, the next daemon takes the home over. Nothing is lost or
	// sent twice.
	t.Log("drill 7: alice's daemon is killed with SIGKILL; the next command and the next daemon take the home over")
	daemon = n.start("alice", "daemon")
	await.True(t, 2*time.Minute, "alice's second daemon to serve", func() bool {
		return strings.Contains(daemon.stderr.String(), "serving the API")
	})
	n.parley("alice", "send", "bob", "before the kill")
	// The kill comes mid-send: a 24 MiB file the daemon is uploading for a
	// 'parley send-file' of another process.
	src := filepath.Join(t.TempDir(), "agent-film.bin")
	data := make([]byte, 24<<20)
	for i := range data {
		data[i] = byte(i * 7907 >> 7)
	}
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	chunks := func() int {
		c, _ := filepath.Glob(filepath.Join(n.dir, "hub0", "data", "*", "f", "*"))
		return len(c)
	}
	before := chunks()
	sendFile := n.start("alice", "send-file", "bob", src)
	// hub0 freezes as soon as 2 chunks are on it (24 MiB would take far
	// longer than a millisecond to go), so that the upload is surely
	// under way when the daemon dies; it thaws once the daemon is gone.
	hub0 := n.pid("hub0.pid")
	for deadline := time.Now().Add(2 * time.Minute); chunks() < before+2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon's upload never began: %s", sendFile.stderr.String())
		}
	}
	syscall.Kill(hub0, syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(hub0, syscall.SIGCONT) })
	daemon.cmd.Process.Kill()
	<-daemon.done
	daemon.done <- nil
	syscall.Kill(hub0, syscall.SIGCONT)
	if code := sendFile.stop(t, syscall.Signal(0)); code != 1 || !strings.Contains(sendFile.stderr.String(), "parley: the agent stopped while it served this command\nparley: hint: start the agent again") {
		t.Fatalf("send-file whose agent was killed: exit %d: %s%s", code, sendFile.stdout.String(), sendFile.stderr.String())
	}
	t.Logf("send-file whose agent was killed: %s", sendFile.stderr.String())
	if _, err := os.Stat(aliceSock); err != nil {
		t.Fatalf("the killed daemon's socket: %v (expected left behind)", err)
	}
	out, errs, code = n.run(filepath.Join(bin, "parley"), "--home", aliceHome, "send", "bob", "after the kill")
	if code != 0 || !strings.HasPrefix(out, "sent (alice/") {
		t.Fatalf("send after the daemon was killed: exit %d: %s%s", code, out, errs)
	}
	daemon = n.start("alice", "daemon")
	await.True(t, 2*time.Minute, "alice's third daemon to serve", func() bool {
		return strings.Contains(daemon.stderr.String(), "serving the API")
	})
	n.parley("alice", "send", "bob", "with the new daemon")
	// The file goes again: it resumes, and bob gets it whole, once.
	if out := n.parley("alice", "send-file", "bob", src); !strings.Contains(out, "sent agent-film.bin as alice/") {
		t.Fatalf("send-file after the agent was killed: %s", out)
	}

	await.True(t, 2*time.Minute, "bob's watch to show every message once", func() bool {
		w := watch.stdout.String()
		return strings.Count(w, "alice: before the kill") == 1 && strings.Count(w, "alice: after the kill") == 1 &&
			strings.Count(w, "alice: with the new daemon") == 1
	})
	daemon.stop(t, syscall.SIGTERM)
	watch.stop(t, syscall.SIGTERM)
	got := n.parley("bob", "read", "alice")
	if c := strings.Count(got, "agent-film.bin"); c != 1 {
		t.Fatalf("bob has the file %d times:\n%s", c, got)
	}
	var ref string
	for _, line := range strings.Split(got, "\n") {
		if i := strings.Index(line, "[alice/"); i >= 0 && strings.Contains(line, "agent-film.bin") {
			ref = line[i+1 : i+strings.IndexByte(line[i:], ']')]
		}
	}
	dest := filepath.Join(t.TempDir(), "agent-film.bin")
	n.parley("bob", "get-file", "alice", ref, "--out", dest)
	if b, err := os.ReadFile(dest); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("the file bob got differs (%v)", err)
	}
	for _, m := range []string{"alice: from a second terminal", "alice: before the kill", "alice: after the kill", "alice: with the new daemon"} {
		if strings.Count(got, m) != 1 {
			t.Fatalf("bob has %q %d times:\n%s", m, strings.Count(got, m), got)
		}
	}
}
