//go:build record

package client_test

// The recorder of store/testdata/state-v1: a home's state file and history log
// as the client wrote them before the client was split into parts (group,
// store, outbox). Run it only to record a new fixture:
//
//	go test -tags record -run TestRecordStateV1 ./client
//
// TestRecordedStateV1 (state_fixture_test.go) opens what it wrote.

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/internal/await"
)

func TestRecordStateV1(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	first := startRestartableHub(t)
	erinHub := startRestartableHub(t)
	dir := t.TempDir()
	statePath := filepath.Join(dir, "state")
	firstURL := "http://" + first.addr
	alice, aliceID, _ := w.userOn("alice", []string{firstURL, w.hubs[0]}, statePath)
	bob := w.user("bob", w.hubs[1])
	carol := w.user("carol", w.hubs[0])
	dave := w.user("dave", w.hubs[1])
	frank, frankID, frankDir := w.userWithState("frank", w.hubs[1], "")
	w.userOn("erin", []string{"http://" + erinHub.addr}, "")
	w.settle("alice", "bob", "carol", "dave", "erin", "frank")
	must := func(m client.Message, err error) client.Message {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	ok := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// A conversation with every kind of event.
	connect(t, alice, bob, "hi bob")                                                         // alice/0
	must(bob.SendEvent(ctx, "alice", &wire.Event{Kind: wire.KindText, Text: "hello alice"})) // bob/0
	if _, err := alice.Receive(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	q := must(alice.SendEvent(ctx, "bob", &wire.Event{Kind: wire.KindText, Text: "how are yuo"}))                        // alice/1
	must(alice.SendEvent(ctx, "bob", &wire.Event{Kind: wire.KindText, Text: "glad", Ref: &wire.Ref{By: "bob", Seq: 0}})) // alice/2
	must(alice.SendEvent(ctx, "bob", &wire.Event{Kind: wire.KindReact, Emoji: "👋", Ref: &wire.Ref{By: "bob", Seq: 0}}))
	ok(alice.Edit(ctx, "bob", q.Seq, "how are you"))
	gone := must(alice.SendEvent(ctx, "bob", &wire.Event{Kind: wire.KindText, Text: "oops"}))
	ok(alice.Delete(ctx, "bob", gone.Seq))
	if _, err := bob.Receive(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	ok(bob.MarkRead(ctx, "alice"))
	ok(bob.React(ctx, "alice", q.ID(), "❤"))
	ok(bob.SetProfile(ctx, wire.Profile{DisplayName: "Bob B.", Status: "around"}))
	if _, err := alice.Receive(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	ok(alice.MarkRead(ctx, "bob"))
	if _, err := alice.ContactProfile(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.ReceiptFrom(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	rec, err := alice.ContactRecord("bob")
	ok(err)
	ok(alice.Verify(ctx, "bob", alice.SafetyNumber(rec)))
	ok(alice.SetProfile(ctx, wire.Profile{DisplayName: "Alice A.", Status: "recording"}))
	ok(alice.SetTimer(ctx, "bob", time.Hour))
	must(alice.SendEvent(ctx, "bob", &wire.Event{Kind: wire.KindText, Text: "this disappears"}))

	// A group of three, bob and carol meeting through it.
	connect(t, alice, carol, "hi carol")
	id, err := alice.CreateGroup(ctx, "team", []string{"bob", "carol"})
	ok(err)
	groupSync(t, "team", alice, bob, carol)
	must(alice.SendEvent(ctx, "#"+id, &wire.Event{Kind: wire.KindText, Text: "welcome"}))
	for _, c := range []*client.Client{bob, carol} {
		if _, err := c.Receive(ctx, client.GroupConv(id)); err != nil {
			t.Fatal(err)
		}
	}
	must(bob.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "thanks"}))
	must(carol.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindReact, Emoji: "🎉", Ref: &wire.Ref{By: "alice", Seq: 0}}))
	if _, err := alice.Receive(ctx, client.GroupConv(id)); err != nil {
		t.Fatal(err)
	}
	ok(alice.MarkRead(ctx, "#"+id))

	// A blocked contact, and one whose keys changed.
	connect(t, alice, dave, "hi dave")
	ok(alice.Block(ctx, "dave"))
	connect(t, alice, frank, "hi frank")
	if _, err := frank.Receive(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	newID, _ := keystore.New()
	profile, _ := newID.Profile([]string{w.hubs[1]})
	if _, err := frankDir.Submit(ctx, frankID.OwnerKey(), &bns.Tx{Type: bns.TxUpdate, Name: "frank", Profile: profile}); err != nil {
		t.Fatal(err)
	}
	await.True(t, 2*time.Minute, "alice to see frank's key change", func() bool {
		return errors.Is(alice.CheckKeys(ctx, "frank"), client.ErrKeysChanged)
	})

	// Backup on; then erin's hub and alice's first hub go down: a request
	// queued, a message on one hub only, a deletion not done, a file
	// upload interrupted.
	ok(alice.EnableBackup(ctx, []byte("a backup passphrase for the fixture")))
	erinHub.stop()
	if err := alice.Request(ctx, "erin", "hi erin"); !errors.Is(err, client.ErrQueued) {
		t.Fatalf("request to erin, whose hub is down: %v", err)
	}
	first.stop()
	half := must(alice.SendEvent(ctx, "bob", &wire.Event{Kind: wire.KindText, Text: "while my first hub is down"}))
	_ = half
	if err := alice.Delete(ctx, "bob", q.Seq); err != nil && !errors.Is(err, client.ErrQueued) {
		t.Fatal(err)
	}
	src, _ := writeRandomFile(t, wire.ChunkSize+10)
	fctx, cancel := context.WithCancel(ctx)
	if _, err := alice.SendFile(fctx, "bob", src, "a film", func(done, total int64) {
		if done > 0 && done < total {
			cancel()
		}
	}); err == nil {
		t.Fatal("the interrupted upload went out")
	}
	cancel()
	ok(alice.SetReadReceipts(ctx, false))

	// The fixture: the state, its history log, the identity, and how to open it.
	out := filepath.Join("store", "testdata", "state-v1")
	os.RemoveAll(out)
	ok(os.MkdirAll(out, 0o755))
	files, _ := filepath.Glob(statePath + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		ok(err)
		ok(os.WriteFile(filepath.Join(out, filepath.Base(f)), b, 0o600))
	}
	ok(keystore.Save(filepath.Join(out, "keystore"), aliceID, []byte(fixturePassphrase), keystore.KDF{Time: 1, Memory: 64, Threads: 1}))
	meta, _ := json.MarshalIndent(fixtureMeta{Name: "alice", Hub: firstURL, Group: id, File: filepath.Base(src)}, "", "  ")
	ok(os.WriteFile(filepath.Join(out, "fixture.json"), append(meta, '\n'), 0o600))
	t.Logf("recorded %s: %s", out, strings.Join(files, " "))
}
