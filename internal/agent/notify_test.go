package agent

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/internal/api"
)

// shown records the notifications the agent shows.
type shown struct {
	mu  sync.Mutex
	got []string
}

func (s *shown) Notify(_ context.Context, title, body string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, title+": "+body)
	return nil
}

// TestNotificationsSayOnlyWho: opt-in, and then "new message from NAME"
// (or "contact request from NAME"), never what was written; nothing for
// the user's own messages, receipts or reactions.
func TestNotificationsSayOnlyWho(t *testing.T) {
	n := &shown{}
	a := New(Options{Home: t.TempDir(), Mode: ModeDaemon, Notifier: n})
	c := &client.Client{Name: "alice"}
	ctx := context.Background()
	secret := "the secret plan"
	arrived := func(e client.Event) client.Notice {
		return client.Notice{Kind: client.NoticeMessage, Conv: e.Conv, Event: &e}
	}
	text := arrived(client.Event{From: "bob", Conv: client.ContactConv("bob"), Kind: wire.KindText, Text: secret})
	a.watched(ctx, c, text)
	if len(n.got) != 0 {
		t.Fatalf("notifications off (the default), shown: %q", n.got)
	}
	if err := a.home.update(func(cfg *config) { cfg.Notifications = true }); err != nil {
		t.Fatal(err)
	}
	a.watched(ctx, c, text)
	a.watched(ctx, c, arrived(client.Event{From: "alice", Conv: client.ContactConv("bob"), Kind: wire.KindText, Text: secret})) // the user's own
	a.watched(ctx, c, arrived(client.Event{From: "bob", Conv: client.ContactConv("bob"), Kind: wire.KindReact, Text: "👍"}))     // a reaction
	a.watched(ctx, c, client.Notice{Kind: client.NoticeRequest, From: "carol", Greeting: secret, Time: time.Now()})             // a request's greeting
	want := []string{"Parley: new message from bob", "Parley: contact request from carol"}
	if len(n.got) != len(want) || n.got[0] != want[0] || n.got[1] != want[1] {
		t.Fatalf("shown %q, want %q", n.got, want)
	}
	// The event stream carries the message itself (to the user's own
	// front-ends), the notification never.
	evs, _, _, _, _ := a.events.read(0, 100)
	var msgs int
	for _, ev := range evs {
		if ev.Type == api.EventMessage && ev.Message.Text == secret {
			msgs++
		}
	}
	if msgs != 3 {
		t.Fatalf("%d message events with the text, want 3 (bob's twice, alice's once)", msgs)
	}
}
