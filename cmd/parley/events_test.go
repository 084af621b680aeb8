package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/agent"
	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/await"
)

// eventLog follows an agent's event stream (GET /v1/events over its
// socket) from now on and keeps its message events.
type eventLog struct {
	mu  sync.Mutex
	got []api.Message
}

func followEvents(t *testing.T, home string) *eventLog {
	t.Helper()
	c := api.NewUnix(agent.SocketPath(home))
	t.Cleanup(func() { c.Close() })
	info, err := c.Agent(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	l := &eventLog{}
	go func() {
		defer close(done)
		c.Events(ctx, info.Cursor, func(ev api.Event) error {
			if ev.Type == api.EventMessage {
				l.mu.Lock()
				l.got = append(l.got, *ev.Message)
				l.mu.Unlock()
			}
			return nil
		})
	}()
	return l
}

// await waits until a message event matching want (its kind, from,
// text, emoji, ref, ttl) is on the stream.
func (l *eventLog) await(t *testing.T, what string, want func(m api.Message) bool) api.Message {
	t.Helper()
	return await.Value(t, 2*time.Minute, what, func() (api.Message, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if i := slices.IndexFunc(l.got, want); i >= 0 {
			return l.got[i], nil
		}
		return api.Message{}, fmt.Errorf("the stream had %+v", l.got)
	})
}

// TestEventsOfChanges: with both agents running, a reaction, an edit, a
// deletion, a timer and a file, each made by a command (served by the
// sender's agent), are message events on the sender's agent's stream (so
// every other front-end of it shows them: they were missing but for
// texts) and on the recipient's agent's stream once they arrive.
func TestEventsOfChanges(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "correct horse battery staple")
	alice, bob := aliceAndBob(t, rpc, hubs[0], hubs[1])
	inTouch(t, alice, bob)
	for _, h := range []string{alice, bob} {
		startDaemon(t, h).serving(t, h)
	}
	mine, theirs := followEvents(t, alice), followEvents(t, bob)

	parley(t, "--home", alice, "send", "bob", "lunch at noon?")
	first := func(m api.Message) bool {
		return m.Kind == api.KindText && m.From == "alice" && m.Text == "lunch at noon?"
	}
	sent := mine.await(t, "alice's message on her agent's stream", first)
	theirs.await(t, "alice's message on bob's agent's stream", first)
	ref := sent.Label // alice/N

	changes := []struct {
		name string
		args []string
		want func(m api.Message) bool
	}{
		{"reaction", []string{"react", "bob", ref, "👍"}, func(m api.Message) bool {
			return m.Kind == api.KindReact && m.From == "alice" && m.Emoji == "👍" && m.Ref != nil && m.Ref.By == "alice" && m.Ref.Seq == sent.ID.Seq
		}},
		{"edit", []string{"edit", "bob", ref, "lunch at one?"}, func(m api.Message) bool {
			return m.Kind == api.KindEdit && m.From == "alice" && m.Text == "lunch at one?" && m.Ref != nil && m.Ref.Seq == sent.ID.Seq
		}},
		{"timer", []string{"timer", "bob", "1h"}, func(m api.Message) bool {
			return m.Kind == api.KindTimer && m.From == "alice" && m.TTL == 3600
		}},
		{"timer off", []string{"timer", "bob", "0"}, func(m api.Message) bool {
			return m.Kind == api.KindTimer && m.From == "alice" && m.TTL == 0
		}},
		{"deletion", []string{"delete", "bob", ref}, func(m api.Message) bool {
			return m.Kind == api.KindDelete && m.From == "alice" && m.Ref != nil && m.Ref.Seq == sent.ID.Seq
		}},
	}
	for _, ch := range changes {
		parley(t, append([]string{"--home", alice}, ch.args...)...)
		mine.await(t, "alice's "+ch.name+" on her agent's stream", ch.want)
		theirs.await(t, "alice's "+ch.name+" on bob's agent's stream", ch.want)
	}

	file := filepath.Join(t.TempDir(), "menu.txt")
	if err := os.WriteFile(file, []byte("soup, bread"), 0o600); err != nil {
		t.Fatal(err)
	}
	parley(t, "--home", alice, "send-file", "bob", file)
	isFile := func(m api.Message) bool {
		return m.From == "alice" && m.File != nil && m.File.Name == "menu.txt" && m.File.Size == 11
	}
	mine.await(t, "alice's file on her agent's stream", isFile)
	theirs.await(t, "alice's file on bob's agent's stream", isFile)

	// And the other way: bob's reaction to alice's message.
	parley(t, "--home", bob, "send", "alice", "soup it is")
	answer := mine.await(t, "bob's message on alice's agent's stream", func(m api.Message) bool { return m.From == "bob" && m.Text == "soup it is" })
	parley(t, "--home", alice, "react", "bob", answer.Label, "🍲")
	isReact := func(m api.Message) bool {
		return m.Kind == api.KindReact && m.From == "alice" && m.Emoji == "🍲" && m.Ref != nil && m.Ref.By == "bob"
	}
	mine.await(t, "alice's reaction to bob's message on her stream", isReact)
	theirs.await(t, "alice's reaction to bob's message on bob's stream", isReact)
}
