package systemtest

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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
	daemon.cmd.Process.Kill()
	<-daemon.done
	daemon.done <- nil
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
	await.True(t, 2*time.Minute, "bob's watch to show every message once", func() bool {
		w := watch.stdout.String()
		return strings.Count(w, "alice: before the kill") == 1 && strings.Count(w, "alice: after the kill") == 1 &&
			strings.Count(w, "alice: with the new daemon") == 1
	})
	daemon.stop(t, syscall.SIGTERM)
	watch.stop(t, syscall.SIGTERM)
	got := n.parley("bob", "read", "alice")
	for _, m := range []string{"alice: from a second terminal", "alice: before the kill", "alice: after the kill", "alice: with the new daemon"} {
		if strings.Count(got, m) != 1 {
			t.Fatalf("bob has %q %d times:\n%s", m, strings.Count(got, m), got)
		}
	}
}
