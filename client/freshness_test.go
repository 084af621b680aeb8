package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/chain/node"
	"github.com/parley-im/parley/chain/node/nodetest"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub/server/hubtest"
	"github.com/parley-im/parley/internal/await"
)

// TestQueuedInALongRunIsCheckedAgain: in one long run (a watch, a chat:
// here one Client), alice's keys check of bob passes and her message to
// him queues while her hub is down; then bob's keys change on the chain.
// Nothing in alice's run looks bob up again before her hub comes back and
// the queue is flushed (a watch flushes every few seconds, and looks
// contacts up hourly). The message must not go out on the old keys: a
// send is checked against the chain's state at the moment it leaves, not
// against a check made earlier in the run.
func TestQueuedInALongRunIsCheckedAgain(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	o := queuedInOutage(t, w)
	alice, bob := o.alice, o.bob
	w.newKeys(o.bobID, o.bobDir, "bob") // the chain, as alice's node gives it, holds the new keys

	o.hub.start()
	err := alice.Flush(ctx)
	if ms, rerr := bob.Receive(ctx, client.ContactConv("alice")); rerr != nil || len(ms) != 0 {
		t.Fatalf("bob's replaced device reads what alice's long run flushed after bob's keys changed: %q (%v; flush: %v)", texts(ms), rerr, err)
	}
	if !errors.Is(err, client.ErrKeysChanged) {
		t.Fatalf("flush of a message queued for keys that changed since they were checked: %v, want ErrKeysChanged", err)
	}
}

// outage: alice, whose only hub is down, has a message to bob queued
// ("queued before the change"); bob has read her greeting. bobID and
// bobDir let a test give bob's name new keys (newKeys).
type outage struct {
	hub        *restartableHub
	alice, bob *client.Client
	bobID      *keystore.Identity
	bobDir     *lookup.Client
}

func queuedInOutage(t *testing.T, w *world) outage {
	t.Helper()
	ctx := context.Background()
	o := outage{hub: startRestartableHub(t)}
	o.alice = w.user("alice", "http://"+o.hub.addr)
	o.bob, o.bobID, o.bobDir = w.userWithState("bob", w.hubs[1], "")
	w.settle("alice", "bob")
	connect(t, o.alice, o.bob, "hi")
	if _, err := o.bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	o.hub.stop()
	if err := o.alice.Send(ctx, "bob", "queued before the change"); !errors.Is(err, client.ErrQueued) {
		t.Fatalf("send during the outage: %v", err)
	}
	return o
}

// newKeys gives name new keys on the chain (a new device, or the owner
// taking the name back from a stolen one), signed with the owner key of
// id through dir, and waits until the world's first node answers with
// them.
func (w *world) newKeys(id *keystore.Identity, dir *lookup.Client, name string) {
	w.t.Helper()
	ctx := context.Background()
	old, err := dir.Lookup(ctx, name)
	if err != nil {
		w.t.Fatal(err)
	}
	newID, _ := keystore.New()
	profile, _ := newID.Profile(old.Profile.Hubs)
	if _, err := dir.Submit(ctx, id.OwnerKey(), &bns.Tx{Type: bns.TxUpdate, Name: name, Profile: profile}); err != nil {
		w.t.Fatal(err)
	}
	await.True(w.t, 2*time.Minute, name+"'s new keys on the chain", func() bool {
		rec, err := w.dirs[0].Lookup(ctx, name)
		return err == nil && rec.Seq > old.Seq
	})
}

// crew makes alice a contact of each member and a group "crew" of them
// all, settled, and returns its ID.
func crew(t *testing.T, alice *client.Client, members ...*client.Client) string {
	t.Helper()
	var names []string
	for _, m := range members {
		connect(t, alice, m, "hi "+m.Name)
		names = append(names, m.Name)
	}
	if _, err := alice.CreateGroup(context.Background(), "crew", names); err != nil {
		t.Fatal(err)
	}
	return groupSync(t, "crew", append([]*client.Client{alice}, members...)...)
}

// TestQueuedGroupMessageAfterAMemberChanged: alice, bob and dave share a
// group. Alice writes to it while her hub is down (every member checked:
// fine, so it is sealed with her sender key, which bob's device holds).
// Bob's name then gets new keys (a thief with his owner key, or a new
// device). When alice's hub is back, the queued group message must not go
// out under a key the old holder of bob's name has: it is not sent, and
// alice is told so in the group. What alice writes after that reaches
// dave and not bob's old device.
func TestQueuedGroupMessageAfterAMemberChanged(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	hub := startRestartableHub(t)
	alice := w.user("alice", "http://"+hub.addr)
	bob, bobID, bobDir := w.userWithState("bob", w.hubs[1], "")
	dave := w.user("dave", w.hubs[0])
	w.settle("alice", "bob", "dave")
	id := crew(t, alice, bob, dave)
	if _, err := alice.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "before"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{bob, dave} {
		if got := groupTexts(t, c, id); got != "alice:before" {
			t.Fatalf("%s reads %q", c.Name, got)
		}
	}

	hub.stop()
	if _, err := alice.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "queued while bob was bob"}); !errors.Is(err, client.ErrQueued) {
		t.Fatalf("group send during the outage: %v", err)
	}
	w.newKeys(bobID, bobDir, "bob")

	hub.start()
	flushErr := alice.Flush(ctx)
	if got := groupTexts(t, bob, id); got != "alice:before" {
		t.Fatalf("bob's replaced device reads what alice's queue sent after bob's keys changed: %q (flush: %v)", got, flushErr)
	}
	if _, err := alice.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "after"}); err != nil {
		t.Fatal(err)
	}
	if got := groupTexts(t, bob, id); got != "alice:before" {
		t.Fatalf("bob's replaced device reads the group after the change: %q", got)
	}
	// Alice's new key comes over their link; dave's sync says that bob's
	// keys changed (it reads nothing more from bob's link).
	if _, err := dave.SyncGroups(ctx); err != nil && !errors.Is(err, client.ErrKeysChanged) {
		t.Fatal(err)
	}
	if got := groupTexts(t, dave, id); !strings.HasSuffix(got, "alice:after") || strings.Contains(got, "queued") {
		t.Fatalf("dave reads %q, want alice's message after the change and not the one sealed before it", got)
	}
	var told bool
	for _, m := range alice.Conversation(client.GroupConv(id)) {
		told = told || m.Kind == client.KindNotice && strings.Contains(m.Text, "not sent")
	}
	if !told {
		t.Fatalf("alice's group history does not say her queued message was not sent: %+v", alice.Conversation(client.GroupConv(id)))
	}
	if st := alice.StateOf(client.GroupConv(id), 1, wire.Receipt{}); st != client.StateNotSent {
		t.Fatalf("alice's queued message alice/1 shows %q, want %q", st, client.StateNotSent)
	}
}

// TestNameLapses: bob lets his name expire, and its grace period passes:
// anyone may register "bob" from the next block. Alice cannot know, when
// a message leaves, whether someone did in the blocks her node has not
// shown her yet, so she sends nothing to the name (a clear error, nothing
// to confirm), and in the group they share her key is made new without
// him; dave reads her, bob's device does not. Once bob registers the name
// again with the same keys, the conversation goes on by itself.
func TestNameLapses(t *testing.T) {
	const lifetime, grace = 800, 20
	w := &world{t: t, chainID: "world"}
	w.rpc = nodetest.StartWith(t, w.chainID, func(o *node.Options) { o.Params.NameLifetime, o.Params.GracePeriod = lifetime, grace })
	for i := 0; i < 2; i++ {
		h := hubtest.Start(t, nil)
		w.hubs, w.drivers = append(w.hubs, h.URL), append(w.drivers, h.Driver)
	}
	ctx := context.Background()
	bob, bobID, bobDir := w.userWithState("bob", w.hubs[1], "")
	alice, aliceID, aliceDir := w.userWithState("alice", w.hubs[0], "")
	dave, daveID, daveDir := w.userWithState("dave", w.hubs[0], "")
	w.settle("alice", "bob", "dave")
	id := crew(t, alice, bob, dave)
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "before"}); err != nil {
		t.Fatal(err)
	}
	rec, err := bobDir.Lookup(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	awaitHeight := func(h int64) {
		t.Helper()
		await.NoError(t, 5*time.Minute, fmt.Sprintf("the chain to reach height %d", h), func() error {
			if cur, err := aliceDir.Height(ctx); err != nil || cur < h {
				return fmt.Errorf("height %d, %v", cur, err)
			}
			return nil
		})
	}
	renew := func() { // alice and dave keep their names
		t.Helper()
		for _, u := range []struct {
			name string
			id   *keystore.Identity
			dir  *lookup.Client
		}{{"alice", aliceID, aliceDir}, {"dave", daveID, daveDir}} {
			if _, err := u.dir.Submit(ctx, u.id.OwnerKey(), &bns.Tx{Type: bns.TxRenew, Name: u.name}); err != nil {
				t.Fatalf("renew %s: %v", u.name, err)
			}
		}
	}
	// Renewed 200 blocks after bob registered, alice and dave outlive his
	// name by that much, time enough to renew again once it is free.
	awaitHeight(rec.RegisteredAt + 200)
	renew()
	awaitHeight(rec.ExpiresAt + grace + 1)
	renew()

	err = alice.Send(ctx, "bob", "to a free name")
	var kc *client.KeyChange
	if !errors.Is(err, client.ErrNameFree) || !errors.As(err, &kc) || !kc.Free() || !strings.Contains(err.Error(), "anyone may register it") {
		t.Fatalf("alice sends to bob's free name: %v, want ErrNameFree", err)
	}
	if _, err := alice.ConfirmKeys(ctx, "bob"); !errors.Is(err, client.ErrNameFree) {
		t.Fatalf("alice confirms bob's free name: %v, want ErrNameFree", err)
	}
	if _, err := alice.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "after bob's name lapsed"}); err != nil {
		t.Fatalf("group send with a member whose name is free: %v", err)
	}
	if got := groupTexts(t, bob, id); got != "alice:before" {
		t.Fatalf("bob's device reads the group after his name lapsed: %q", got)
	}
	if ms, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil || len(ms) != 0 {
		t.Fatalf("bob's device reads alice after his name lapsed: %q %v", texts(ms), err)
	}
	if _, err := dave.SyncGroups(ctx); err != nil && !errors.Is(err, client.ErrNameFree) {
		t.Fatal(err)
	}
	if got := groupTexts(t, dave, id); got != "alice:before|alice:after bob's name lapsed" {
		t.Fatalf("dave reads %q", got)
	}

	// Bob registers "bob" again, with the keys he had: nothing to confirm.
	profile, _ := bobID.Profile([]string{w.hubs[1]})
	var salt [32]byte
	h, err := bobDir.Preorder(ctx, bobID.OwnerKey(), "bob", salt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bobDir.Register(ctx, bobID.OwnerKey(), "bob", salt, h, profile); err != nil {
		t.Fatal(err)
	}
	await.NoError(t, 2*time.Minute, "alice's send to bob once he registered his name again", func() error {
		err := alice.Send(ctx, "bob", "welcome back")
		if err != nil && !errors.Is(err, client.ErrNameFree) {
			t.Fatalf("alice sends to bob once he registered his name again: %v", err)
		}
		return err
	})
	if ms, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil || strings.Join(texts(ms), "|") != "welcome back" {
		t.Fatalf("bob reads %q %v, want alice's message once his name is his again", texts(ms), err)
	}
}

// TestWatchReadsNothingAfterAKeyChange: bob's device is stolen; he gives
// his name new keys with his owner key. The thief writes to alice from the
// old device. Alice's watch has run since before the change and looked
// bob up an hour ago at most: it must not show what the old device writes
// after the change as bob's, but say that bob's keys changed.
func TestWatchReadsNothingAfterAKeyChange(t *testing.T) {
	w := newWorld(t)
	alice := w.user("alice", w.hubs[0])
	bob, bobID, bobDir := w.userWithState("bob", w.hubs[1], "")
	w.settle("alice", "bob")
	connect(t, alice, bob, "hi")
	watchThroughKeyChange(t, w, alice, bobID, bobDir, client.ContactConv("bob"), func(text string) error {
		return bob.Send(context.Background(), "alice", text)
	})
}

// watchThroughKeyChange runs alice's watch while bob writes to her in
// conv (write), once before his name gets new keys and once after, from
// the old device: the watch must bring the first and, instead of the
// second, say that bob's keys changed.
func watchThroughKeyChange(t *testing.T, w *world, alice *client.Client, bobID *keystore.Identity, bobDir *lookup.Client, conv client.Conv, write func(text string) error) {
	t.Helper()
	got, changed := make(chan string, 16), make(chan error, 16)
	watch(t, alice, func(n client.Notice) {
		if m := n.Event; n.Kind == client.NoticeMessage && m.Kind == wire.KindText && n.Conv == conv {
			got <- m.From + ": " + m.Text
		}
	}, func(err error) {
		if errors.Is(err, client.ErrKeysChanged) {
			changed <- err
		}
	})
	if err := write("before the change"); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "bob: before the change" {
			t.Fatalf("alice's watch brought %q", s)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("alice's watch never brought bob's message")
	}

	w.newKeys(bobID, bobDir, "bob")
	// The thief's write: the old device has not looked bob up, so it
	// writes with the keys it holds.
	if err := write("from the stolen device"); err != nil {
		t.Fatalf("the old device's write: %v", err)
	}
	select {
	case s := <-got:
		t.Fatalf("alice's watch shows %q, written by bob's old device after his keys changed", s)
	case err := <-changed:
		var kc *client.KeyChange
		if !errors.As(err, &kc) || kc.Name != "bob" {
			t.Fatalf("alice's watch says %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("alice's watch never said that bob's keys changed")
	}
	select {
	case s := <-got:
		t.Fatalf("alice's watch shows %q after saying bob's keys changed", s)
	default:
	}
}

// TestTransferredNameIsClosed: bob transfers his name to carol (sold, or
// given away). Until carol publishes keys there is nothing to send to or
// confirm; once she does, alice confirms and starts over with carol, and
// bob's device reads nothing alice sends after the transfer.
func TestTransferredNameIsClosed(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	alice := w.user("alice", w.hubs[0])
	bob, bobID, bobDir := w.userWithState("bob", w.hubs[1], "")
	w.settle("alice", "bob")
	connect(t, alice, bob, "hi")
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	carolID, _ := keystore.New()
	old, err := bobDir.Lookup(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bobDir.Submit(ctx, bobID.OwnerKey(), &bns.Tx{Type: bns.TxTransfer, Name: "bob", NewOwner: bns.PublicKeyOf(carolID.OwnerKey())}); err != nil {
		t.Fatal(err)
	}
	await.True(t, 2*time.Minute, "the transfer to reach the chain", func() bool {
		rec, err := w.dirs[0].Lookup(ctx, "bob")
		return err == nil && rec.Seq > old.Seq
	})
	err = alice.Send(ctx, "bob", "after the transfer")
	var kc *client.KeyChange
	if !errors.As(err, &kc) || kc.Reason != bns.OpTransfer || !strings.Contains(err.Error(), "changed hands") {
		t.Fatalf("alice sends to bob's transferred name: %v, want a key change by transfer", err)
	}
	if _, err := alice.ConfirmKeys(ctx, "bob"); !errors.Is(err, client.ErrNoKeys) {
		t.Fatalf("alice confirms a name that publishes no keys yet: %v, want ErrNoKeys", err)
	}
	// Carol publishes her keys; alice confirms and starts over with her.
	carolDir := w.directory()
	profile, _ := carolID.Profile([]string{w.hubs[1]})
	if _, err := carolDir.Submit(ctx, carolID.OwnerKey(), &bns.Tx{Type: bns.TxUpdate, Name: "bob", Profile: profile}); err != nil {
		t.Fatal(err)
	}
	await.NoError(t, 2*time.Minute, "alice to confirm carol's keys", func() error {
		_, err := alice.ConfirmKeys(ctx, "bob")
		if err != nil && !errors.Is(err, client.ErrNoKeys) {
			t.Fatalf("alice confirms carol's keys: %v", err)
		}
		return err
	})
	carol, err := client.Open(ctx, "bob", carolID, carolDir, w.hubs[1], "")
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := carol.Requests(ctx)
	if err != nil || len(p) != 1 || p[0].From != "alice" {
		t.Fatalf("carol's requests: %+v %v", p, err)
	}
	if err := carol.Accept(ctx, p[0]); err != nil {
		t.Fatal(err)
	}
	if err := alice.Send(ctx, "bob", "hello carol"); err != nil {
		t.Fatal(err)
	}
	if ms, err := carol.Receive(ctx, client.ContactConv("alice")); err != nil || !slices.Contains(texts(ms), "hello carol") {
		t.Fatalf("carol reads %q %v", texts(ms), err)
	}
	if ms, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil || len(ms) != 0 {
		t.Fatalf("bob's device reads %q %v after the transfer", texts(ms), err)
	}
}

// TestGroupWatchReadsNothingAfterAKeyChange: the same in a group. bob's
// device is stolen; he gives his name new keys. The thief writes to the
// group alice, bob and dave share, with the sender key the old device
// holds. Alice's watch, running since before the change, must not show it
// as bob's: it says that bob's keys changed.
func TestGroupWatchReadsNothingAfterAKeyChange(t *testing.T) {
	w := newWorld(t)
	alice := w.user("alice", w.hubs[0])
	bob, bobID, bobDir := w.userWithState("bob", w.hubs[1], "")
	dave := w.user("dave", w.hubs[0])
	w.settle("alice", "bob", "dave")
	id := crew(t, alice, bob, dave)
	watchThroughKeyChange(t, w, alice, bobID, bobDir, client.GroupConv(id), func(text string) error {
		_, err := bob.SendEvent(context.Background(), client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: text})
		return err
	})
}
