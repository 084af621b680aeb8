package client_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/wire"
)

func conversationTexts(c *client.Client, name string) string {
	var out []string
	for _, m := range c.Conversation(client.ContactConv(name)) {
		out = append(out, m.Text)
	}
	return strings.Join(out, "|")
}

// TestBackupRestore: a fresh device restores keys, contacts and history
// from the name and the backup passphrase, without what expired, and goes
// on talking; a backup older than the conversation is refused for sending
// until the conversation is reset, which the contact accepts in place of
// the old one.
func TestBackupRestore(t *testing.T) {
	clk := newClock()
	w := newWorld(t)
	w.opts = []client.Option{client.WithClock(clk.Now), client.WithBackupKDF(testKDF())}
	ctx := context.Background()
	alice, _, _ := w.userOn("alice", []string{w.hubs[0]}, filepath.Join(t.TempDir(), "alice.state"))
	bob := w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	connect(t, alice, bob, "hello bob")
	bob.Send(ctx, "alice", "hello alice")
	alice.Receive(ctx, client.ContactConv("bob"))
	pass := []byte("a long backup passphrase")
	if err := alice.EnableBackup(ctx, []byte("short")); !errors.Is(err, keystore.ErrWeakPassphrase) {
		t.Fatalf("a short backup passphrase: %v", err)
	}
	if err := alice.EnableBackup(ctx, pass); err != nil {
		t.Fatal(err)
	}
	alice.SetTimer(ctx, client.ContactConv("bob"), time.Hour)
	alice.Send(ctx, "bob", "this one vanishes")
	alice.SetTimer(ctx, client.ContactConv("bob"), 0)
	if err := alice.Backup(ctx); err != nil {
		t.Fatal(err)
	}
	want := conversationTexts(alice, "bob")
	clk.advance(2 * time.Hour)

	// A fresh device: only the name and the passphrase.
	if _, _, err := client.Restore(ctx, "alice", []byte("wrong passphrase!!"), w.directory(), filepath.Join(t.TempDir(), "x"), w.opts...); !errors.Is(err, client.ErrNoBackup) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	id2, alice2, err := client.Restore(ctx, "alice", pass, w.directory(), filepath.Join(t.TempDir(), "alice2.state"), w.opts...)
	if err != nil {
		t.Fatal(err)
	}
	if id2 == nil || alice2.Address() != alice.Address() {
		t.Fatal("restored another identity")
	}
	got := conversationTexts(alice2, "bob")
	if strings.Contains(got, "vanishes") || got != strings.Replace(want, "this one vanishes|", "", 1) {
		t.Fatalf("restored conversation %q, had %q", got, want)
	}
	if err := alice2.Send(ctx, "bob", "from the new device"); err != nil {
		t.Fatal(err)
	}
	if got, err := receive(t, bob, "alice"); err != nil || got[len(got)-1] != "from the new device" {
		t.Fatalf("bob received %q %v", got, err)
	}

	// The conversation goes on after the newest backup: restoring it is stale.
	alice2.Backup(ctx)
	alice2.Send(ctx, "bob", "not in any backup")
	receive(t, bob, "alice")
	_, alice3, err := client.Restore(ctx, "alice", pass, w.directory(), filepath.Join(t.TempDir(), "alice3.state"), w.opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice3.Send(ctx, "bob", "x"); !errors.Is(err, client.ErrStale) {
		t.Fatalf("send from a stale backup: %v", err)
	}
	if err := alice3.Reset(ctx, "bob", "starting over"); err != nil {
		t.Fatal(err)
	}
	p, _, err := bob.Requests(ctx)
	if err != nil || len(p) != 1 {
		t.Fatalf("bob's requests %+v %v", p, err)
	}
	if err := bob.Accept(ctx, p[0]); err != nil {
		t.Fatalf("the newer request was refused: %v", err)
	}
	if got, err := receive(t, bob, "alice"); err != nil || strings.Join(got, "|") != "starting over" {
		t.Fatalf("after the reset bob received %q %v", got, err)
	}
	bob.Send(ctx, "alice", "welcome back")
	if got, err := receive(t, alice3, "bob"); err != nil || strings.Join(got, "|") != "welcome back" {
		t.Fatalf("after the reset alice received %q %v", got, err)
	}
	// The conversation started over: the messages before are kept but
	// marked earlier, and a reference means the new conversation's message.
	conv := bob.Conversation(client.ContactConv("alice"))
	last := conv[len(conv)-1]
	if !conv[0].Earlier || last.Earlier || last.Text != "welcome back" {
		t.Fatalf("bob's conversation after the reset: %+v", conv)
	}
	if _, err := alice3.SendEvent(ctx, client.ContactConv("bob"), &wire.Event{Kind: wire.KindReact, Emoji: "👋", Ref: &wire.Ref{By: "bob", Seq: last.Seq}}); err != nil {
		t.Fatal(err)
	}
	receive(t, bob, "alice")
	for _, m := range bob.Conversation(client.ContactConv("alice")) {
		if _, reacted := m.Reactions["alice"]; reacted != (m.Text == "welcome back" && !m.Earlier) {
			t.Fatalf("alice's reaction to bob/%d landed on %+v", last.Seq, m)
		}
	}
}
