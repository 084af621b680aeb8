package client_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/wire"
)

// labels renders the conversation with name as its labels and texts, and
// what each reply points at.
func labels(c *client.Client, name string) string {
	var out []string
	for _, m := range c.Conversation(client.ContactConv(name)) {
		l, ok := m.Label()
		if !ok {
			continue
		}
		s := l.String() + " " + m.Text
		if m.RefLabel != nil {
			s += " ↪" + m.RefLabel.String()
		}
		out = append(out, s)
	}
	return strings.Join(out, " | ")
}

// TestLabelsHaveNoGaps: reactions, edits, profile keys and other events
// take sequence numbers, but references count text messages only: both
// sides label alice's messages 1, 2, 3, and a reference resolves to the
// message it names.
func TestLabelsHaveNoGaps(t *testing.T) {
	_, alice, bob := newPair(t)
	ctx := context.Background()
	if err := alice.SetProfile(ctx, wire.Profile{DisplayName: "Alice"}); err != nil && !errors.Is(err, client.ErrQueued) {
		t.Fatal(err)
	}
	connect(t, alice, bob, "hi bob")
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	if err := bob.Send(ctx, "alice", "hi alice"); err != nil {
		t.Fatal(err)
	}
	alice.Receive(ctx, client.ContactConv("bob"))
	bobs, err := alice.Resolve(client.ContactConv("bob"), wire.Ref{By: "bob", Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.React(ctx, client.ContactConv("bob"), bobs, "👍"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Send(ctx, "bob", "one"); err != nil {
		t.Fatal(err)
	}
	one, _ := alice.Resolve(client.ContactConv("bob"), wire.Ref{By: "alice", Seq: 2})
	if err := alice.Edit(ctx, client.ContactConv("bob"), one.Seq, "one!"); err != nil {
		t.Fatal(err)
	}
	if err := reply(ctx, alice, client.ContactConv("bob"), one, "two"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	want := "alice/1 hi bob | bob/1 hi alice | alice/2 one! | alice/3 two ↪alice/2"
	if got := labels(bob, "alice"); got != want {
		t.Fatalf("bob's labels:\n got %s\nwant %s", got, want)
	}
	if got := labels(alice, "bob"); got != want {
		t.Fatalf("alice's labels:\n got %s\nwant %s", got, want)
	}
	if one.Seq == 2 {
		t.Fatalf("alice's second text is her event %d: the test has no gap to close", one.Seq)
	}
	if _, err := bob.Resolve(client.ContactConv("alice"), wire.Ref{By: "alice", Seq: 4}); !errors.Is(err, client.ErrNoMessage) {
		t.Fatalf("a label no message has: %v", err)
	}
}

// TestNumbersKeepOldReferences: a conversation from before numbers keeps
// its messages' labels (their sequence numbers, gaps and all) and goes on
// above them on both sides; a number that does not go up (a faulty
// sender) is not taken, so no two messages share a label.
func TestNumbersKeepOldReferences(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	dir := t.TempDir()
	alice, _, _ := w.userWithState("alice", w.hubs[0], filepath.Join(dir, "alice"))
	bob, _, _ := w.userWithState("bob", w.hubs[1], filepath.Join(dir, "bob"))
	w.settle("alice", "bob")
	connect(t, alice, bob, "a") // alice's event 0
	a, _ := alice.Resolve(client.ContactConv("bob"), wire.Ref{By: "alice", Seq: 1})
	if err := alice.Edit(ctx, client.ContactConv("bob"), a.Seq, "a!"); err != nil { // event 1
		t.Fatal(err)
	}
	if err := alice.Send(ctx, "bob", "b"); err != nil { // event 2
		t.Fatal(err)
	}
	bob.Receive(ctx, client.ContactConv("alice"))

	var err error
	if alice, err = client.ReopenAsBeforeNumbers(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if bob, err = client.ReopenAsBeforeNumbers(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if got, want := labels(bob, "alice"), "alice/0 a! | alice/2 b"; got != want {
		t.Fatalf("bob's labels from before numbers: %s, want %s", got, want)
	}
	b, err := bob.Resolve(client.ContactConv("alice"), wire.Ref{By: "alice", Seq: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := reply(ctx, bob, client.ContactConv("alice"), b, "yes"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Send(ctx, "bob", "c"); err != nil { // numbered from 3: above every label shown so far
		t.Fatal(err)
	}
	client.SetNextNumber(alice, "bob", 1) // a faulty client numbers again from 1
	if err := alice.Send(ctx, "bob", "d"); err != nil {
		t.Fatal(err)
	}
	bob.Receive(ctx, client.ContactConv("alice"))
	alice.Receive(ctx, client.ContactConv("bob"))
	if got, want := labels(bob, "alice"), "alice/0 a! | alice/2 b | bob/1 yes ↪alice/2 | alice/3 c | alice/4 d"; got != want {
		t.Fatalf("bob's labels:\n got %s\nwant %s", got, want)
	}
	if got, want := labels(alice, "bob"), "alice/0 a! | alice/2 b | alice/3 c | alice/4 d | bob/1 yes ↪alice/2"; got != want {
		t.Fatalf("alice's labels:\n got %s\nwant %s", got, want)
	}
}
