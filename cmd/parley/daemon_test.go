package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/internal/agent"
	"github.com/parley-im/parley/internal/api"
	awaitpkg "github.com/parley-im/parley/internal/await"
)

// daemonRun is a 'parley daemon' running in this process.
type daemonRun struct {
	stderr *syncBuffer
	stop   context.CancelFunc
	done   chan int
}

func startDaemon(t *testing.T, home string) *daemonRun { return startDaemonWith(t, home, testRun()) }

func startDaemonWith(t *testing.T, home string, opts runOptions) *daemonRun {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	d := &daemonRun{stderr: &syncBuffer{}, stop: stop, done: make(chan int, 1)}
	go func() {
		d.done <- runWith(ctx, opts, []string{"--home", home, "daemon"}, nil, io.Discard, d.stderr)
	}()
	t.Cleanup(func() {
		stop()
		<-d.done // every reader of done puts the code back
	})
	return d
}

// serving waits until the daemon serves the home's socket.
func (d *daemonRun) serving(t *testing.T, home string) {
	t.Helper()
	awaitpkg.NoError(t, 2*time.Minute, "the daemon to serve "+home, func() error {
		select {
		case code := <-d.done:
			d.done <- code
			t.Fatalf("the daemon exited %d:\n%s", code, d.stderr.String())
		default:
		}
		info, err := api.NewUnix(agent.SocketPath(home)).Agent(context.Background())
		if err == nil && info.Mode != agent.ModeDaemon {
			err = fmt.Errorf("mode %s", info.Mode)
		}
		return err
	})
}

// end stops the daemon (as SIGTERM does) and returns its exit code.
func (d *daemonRun) end(t *testing.T) int {
	t.Helper()
	d.stop()
	select {
	case code := <-d.done:
		d.done <- code
		return code
	case <-time.After(time.Minute):
		t.Fatalf("the daemon did not stop:\n%s", d.stderr.String())
	}
	return -1
}

// TestCommandRacingTheAgentStart: a command and a daemon started at the
// same moment are each served by exactly one agent (the daemon, or the
// command serving itself and the daemon waiting for it); nothing is sent
// twice or lost. A command that holds the home when the daemon starts is
// waited for, not a reason to fail.
func TestCommandRacingTheAgentStart(t *testing.T) {
	_, _, h := pair(t)
	alice := h["alice"]

	// The deterministic case: a command serving itself holds the home.
	lock, err := agent.TryLock(alice, "parley send")
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, alice)
	awaitpkg.True(t, time.Minute, "the daemon to wait for the command", func() bool {
		return strings.Contains(d.stderr.String(), "waiting for another parley process using "+alice+" (pid ")
	})
	lock.Release()
	d.serving(t, alice)
	if code := d.end(t); code != 0 {
		t.Fatalf("the daemon after it waited: exit %d\n%s", code, d.stderr.String())
	}

	// The race, a few times.
	for i := range 3 {
		start := make(chan struct{})
		type result struct {
			code     int
			out, err string
		}
		sent := make(chan result, 1)
		go func() {
			<-start
			var out, errb bytes.Buffer
			code := runWith(context.Background(), testRun(), []string{"--home", alice, "send", "bob", fmt.Sprintf("race %d", i)}, nil, &out, &errb)
			sent <- result{code, out.String(), errb.String()}
		}()
		d := startDaemon(t, alice)
		close(start)
		r := <-sent
		if r.code != 0 || !strings.HasPrefix(r.out, "sent (alice/") {
			t.Fatalf("race %d: the send: exit %d: %s%s", i, r.code, r.out, r.err)
		}
		d.serving(t, alice)
		// The next command is the daemon's.
		if out := parley(t, "--home", alice, "read", "bob", "--last", "1"); !strings.Contains(out, fmt.Sprintf("alice: race %d", i)) {
			t.Fatalf("race %d: alice reads through the daemon:\n%s", i, out)
		}
		if code := d.end(t); code != 0 {
			t.Fatalf("race %d: the daemon: exit %d\n%s", i, code, d.stderr.String())
		}
	}
	out := parley(t, "--home", h["bob"], "read", "alice")
	for i := range 3 {
		if c := strings.Count(out, fmt.Sprintf("alice: race %d\n", i)); c != 1 {
			t.Fatalf("bob has 'race %d' %d times:\n%s", i, c, out)
		}
	}
}

// TestDaemonReportsKeyChanges: a message sent through the daemon by
// another process is on its event stream. With only the daemon running, a contact's
// key change (bob revokes his name) is found by the daemon's own record
// refresh, logged, and put on the event stream; a send through the daemon
// is then refused, saying why.
func TestDaemonReportsKeyChanges(t *testing.T) {
	_, _, h := pair(t)
	alice, bob := h["alice"], h["bob"]
	opts := testRun()
	opts.client = append(opts.client, client.WithWatchTimings(client.WatchTimings{Refresh: 200 * time.Millisecond, Maintenance: 200 * time.Millisecond}))
	d := startDaemonWith(t, alice, opts)
	d.serving(t, alice)
	c := api.NewUnix(agent.SocketPath(alice))
	defer c.Close()
	info, err := c.Agent(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan api.KeyChange, 8)
	sent := make(chan string, 8)
	go c.Events(ctx, info.Cursor, func(ev api.Event) error {
		switch {
		case ev.Type == api.EventKeyChange:
			changes <- *ev.KeyChange
		case ev.Type == api.EventMessage && ev.Message.From == "alice":
			sent <- ev.Message.Text
		}
		return nil
	})
	// What another process sends through the daemon is on its stream
	// (every front-end shows it).
	parley(t, "--home", alice, "send", "bob", "from another terminal")
	select {
	case text := <-sent:
		if text != "from another terminal" {
			t.Fatalf("the sent message's event says %q", text)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("no event for the message sent through the daemon")
	}
	t.Setenv(phraseEnv, phraseOf(t, bob))
	parley(t, "--home", bob, "name", "revoke", "--confirm", "bob")
	select {
	case kc := <-changes:
		if kc.Name != "bob" || !kc.Revoked || kc.Reason != "revoke" {
			t.Fatalf("the key change event: %+v", kc)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("no key change event; the daemon logged:\n%s", d.stderr.String())
	}
	if !strings.Contains(d.stderr.String(), "a contact's keys changed") {
		t.Fatalf("the daemon's log does not say it:\n%s", d.stderr.String())
	}
	code, out, errb := try(alice, "send", "bob", "to a revoked name")
	if code != 1 || !strings.Contains(errb, "bob's name was revoked at height") {
		t.Fatalf("send to bob after the revocation: exit %d: %s%s", code, out, errb)
	}
}
