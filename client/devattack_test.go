package client_test

import (
	"context"
	"crypto/hpke"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/store"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/internal/await"
)

// TestRemovedDeviceGetsNothingQueued: alice's phone is cut off from the
// chain (down, or blocked) while bob removes his stolen laptop and alice,
// with her owner key elsewhere, removes hers. The phone, which has not
// seen either removal, sends bob a message: it is sealed for bob's
// devices and copied for alice's laptop as they were last seen, and
// queued. Neither removed laptop may ever read it: not the copy at once
// (the user's own devices are as unchecked as a contact's), nor bob's
// once the chain answers again and the phone flushes.
func TestRemovedDeviceGetsNothingQueued(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	state := filepath.Join(t.TempDir(), "alice.state")
	_, aliceID, aliceDir := w.userOn("alice", []string{w.hubs[0]}, state)
	_, bobID, _ := w.userOn("bob", []string{w.hubs[1]}, "")
	w.settle("alice", "bob")
	chain := &switchableChain{Directory: aliceDir}
	phone, err := client.Open(ctx, "alice", aliceID, chain, w.hubs[0], state)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := client.Open(ctx, "bob", bobID, w.directory(), w.hubs[1], "")
	if err != nil {
		t.Fatal(err)
	}
	connect(t, phone, bob, "hi bob")
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	aliceLaptop, aliceLaptopID := w.linkDevice("alice", "laptop", aliceID, w.hubs[0])
	bobLaptop, bobLaptopID := w.linkDevice("bob", "laptop", bobID, w.hubs[1])
	for _, c := range []*client.Client{aliceLaptop, bobLaptop} {
		if err := c.AddFromOtherDevice(ctx, map[string]string{"alice": "bob", "bob": "alice"}[c.Name]); err != nil {
			t.Fatal(err)
		}
	}
	// Every session is under way: the phone's first message reaches both
	// of bob's devices and, as a copy, alice's laptop.
	if err := phone.Send(ctx, "bob", "before"); err != nil {
		t.Fatal(err)
	}
	receiveUntil(t, bob, "alice", "before")
	receiveUntil(t, bobLaptop, "alice", "before")
	receiveUntil(t, aliceLaptop, "bob", "before")

	chain.down.Store(true)
	dir := w.directory()
	if _, err := dir.RemoveDevice(ctx, bobID.SigningKey(), "bob", bns.PublicKeyOf(bobLaptopID.SigningKey())); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.RemoveDevice(ctx, aliceID.OwnerKey(), "alice", bns.PublicKeyOf(aliceLaptopID.SigningKey())); err != nil {
		t.Fatal(err)
	}
	w.awaitDevices("bob", func(r *bns.Record) bool { return len(r.AllDevices()) == 1 })
	w.awaitDevices("alice", func(r *bns.Record) bool { return len(r.AllDevices()) == 1 })

	const secret = "sealed before the removals were seen"
	if err := phone.Send(ctx, "bob", secret); !errors.Is(err, client.ErrQueued) {
		t.Fatalf("send with the chain down: %v, want ErrQueued", err)
	}
	copies, err := aliceLaptop.SyncCopies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(texts(copies), secret) {
		t.Errorf("alice's removed laptop read the phone's copy while the phone could not see the chain: %q", texts(copies))
	}

	chain.down.Store(false)
	if err := phone.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	receiveUntil(t, bob, "alice", secret)
	ms, err := bobLaptop.Receive(ctx, client.ContactConv("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(texts(ms), secret) {
		t.Errorf("bob's removed laptop read what alice's phone sealed for it before seeing the removal and sent after: %q", texts(ms))
	}
	copies, err = aliceLaptop.SyncCopies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(texts(copies), secret) || slices.Contains(historyTexts(aliceLaptop.Conversation(client.ContactConv("bob"))), secret) {
		t.Errorf("alice's removed laptop read the phone's copy once the chain answered: %q", texts(copies))
	}
}

// TestRemovedLinkedDeviceReadsNoGroup: alice and bob are in a group;
// alice links a laptop, which is then stolen, and she removes it. The
// thief holds the laptop's keys, which open the welcome that still sits
// in alice's bucket (a public read): it must not give the group's sender
// keys (bob's, or the phone's own), with which the thief would read what
// bob and alice write to the group after the removal.
func TestRemovedLinkedDeviceReadsNoGroup(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	phone, phoneID, dir := w.userOn("alice", []string{w.hubs[0]}, "")
	bob := w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	connect(t, phone, bob, "hi bob")
	if _, err := phone.CreateGroup(ctx, "trip", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	id := groupSync(t, "trip", phone, bob)
	if _, err := bob.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "before the link"}); err != nil {
		t.Fatal(err)
	}
	groupTexts(t, phone, id)

	// The laptop is linked the way `parley devices add` does it.
	laptopID, err := keystore.New()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := laptopID.Profile(nil)
	offer := bns.Device{SigningKey: p.SigningKey, EncKeys: p.EncKeys, Label: "laptop"}
	code, _, err := dir.OfferDevice(ctx, laptopID.SigningKey(), offer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddDevice(ctx, phoneID.SigningKey(), "alice", code); err != nil {
		t.Fatal(err)
	}
	w.awaitDevices("alice", func(r *bns.Record) bool { return len(r.AllDevices()) == 2 })
	lcode := wire.LinkCode(code)
	if err := phone.WriteWelcome(ctx, lcode, offer, false); err != nil {
		t.Fatal(err)
	}
	wel, err := client.ReadWelcome(ctx, "alice", lcode, laptopID, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Linked(ctx, "alice", laptopID, dir, "", wel); err != nil {
		t.Fatal(err)
	}

	// Stolen: alice removes it; bob and the phone write on.
	if _, err := dir.RemoveDevice(ctx, phoneID.SigningKey(), "alice", offer.SigningKey); err != nil {
		t.Fatal(err)
	}
	w.awaitDevices("alice", func(r *bns.Record) bool { return len(r.AllDevices()) == 1 })
	for _, c := range []*client.Client{bob, phone} {
		if _, err := c.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: c.Name + " after the removal"}); err != nil {
			t.Fatal(err)
		}
	}

	// The thief reads the welcome with the laptop's keys, as anyone reads
	// a bucket, and takes what sender keys it holds.
	pub, err := hubclient.Dial(ctx, w.hubs[0], nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	env, _, err := pub.Get(ctx, phone.Address(), wire.WelcomePath(lcode))
	if err != nil {
		t.Fatal(err)
	}
	xk, _ := laptopID.X25519Key()
	hk, _ := laptopID.HybridKey()
	stolen, err := wire.OpenWelcome(env, "alice", lcode, offer.SigningKey, []hpke.PrivateKey{xk, hk}, func(bns.PublicKey) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Parse(stolen.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var read []string
	for _, g := range st.Groups {
		for member, keys := range g.Keys {
			author := map[string]*client.Client{"alice": phone, "bob": bob}[member]
			if author == nil {
				continue
			}
			hubURL := map[string]string{"alice": w.hubs[0], "bob": w.hubs[1]}[member]
			h, err := hubclient.Dial(ctx, hubURL, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				ck := wire.GroupChainStart(k.Seed)
				for i := k.From; i < k.From+8; i++ {
					next, mk := wire.GroupChainStep(ck)
					ck = next
					path := wire.GroupPath(k.Seed, i)
					blob, _, err := h.Get(ctx, author.Address(), path)
					if err != nil {
						continue
					}
					verifier := k.SignPub
					if len(verifier) == 0 {
						rec := mustLookup(t, w, member)
						verifier = rec.Profile.SigningKey[:]
					}
					plain, err := wire.OpenGroupMessage(mk, verifier, g.ID, k.Epoch, i, path, blob)
					if err != nil {
						continue
					}
					if e, err := wire.ParseEvent(plain); err == nil {
						read = append(read, member+": "+e.Text)
					}
				}
			}
		}
	}
	for _, text := range []string{"bob: bob after the removal", "alice: alice after the removal"} {
		if slices.Contains(read, text) {
			t.Errorf("the thief holding the removed laptop read %q with the sender keys its welcome gave (read: %q)", text, read)
		}
	}
}

// bucketReads counts the GET requests whose path holds addr (n), and the
// change streams opened (watches).
type bucketReads struct {
	addr       string
	n, watches atomic.Int64
}

func (c *bucketReads) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case r.Method == http.MethodGet && strings.Contains(r.URL.Path, c.addr):
		c.n.Add(1)
	case r.Method == http.MethodPost && r.URL.Path == "/watch":
		c.watches.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestWelcomeEventsDoNotRestartTheWatch: alice's hub (its operator, or
// anything that writes in her buckets) announces welcome after welcome
// (k/ writes). Each made alice's running watch start over: every stream
// to every hub closed and opened again, and every contact read again,
// so one cheap event cost a request to each contact's hubs (thousands
// with a thousand contacts). A welcome's event only looks alice's own
// record up; the watch starts over only when her devices changed.
func TestWelcomeEventsDoNotRestartTheWatch(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	bob, _, _ := w.userOn("bob", []string{w.hubs[0]}, "")
	count := &bucketReads{addr: bob.Address()}
	w.opts = []client.Option{client.WithHTTPClient(&http.Client{Transport: count})}
	phone, phoneID, _ := w.userOn("alice", []string{w.hubs[0]}, "")
	w.opts = nil
	w.settle("alice", "bob")
	connect(t, phone, bob, "hi bob")
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	// Sent before the watch starts: its catch-up reads it once the
	// streams are up, and no change event of it comes later to be counted
	// (sent after, its event could reach the watch after onPhone returned:
	// a read counted against the flood).
	if err := bob.Send(ctx, "alice", "the watch runs"); err != nil {
		t.Fatal(err)
	}
	onPhone := watchTexts(t, phone)
	onPhone("the watch runs")

	h, err := hubclient.Dial(ctx, w.hubs[0], phoneID.SigningKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	before, watches := count.n.Load(), count.watches.Load()
	const flood = 30
	for i := range flood {
		var code wire.LinkCode
		code[0], code[1] = byte(i), 0xee
		if _, err := h.Put(ctx, wire.WelcomePath(code), []byte("not a welcome"), "application/octet-stream", hubclient.Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	// Bob writes after the flood, on the same hub: once the watch shows
	// it, it has taken every event before.
	if err := bob.Send(ctx, "alice", "after the flood"); err != nil {
		t.Fatal(err)
	}
	onPhone("after the flood")
	if got := count.watches.Load() - watches; got > 1 {
		t.Errorf("%d welcome events made alice's watch open its change streams %d times, want at most 1", flood, got)
	}
	if got := count.n.Load() - before; got > 4 {
		t.Errorf("%d welcome events made alice's watch read bob's bucket %d times, want a few for his one message", flood, got)
	}
}

// TestContactCannotSyncReadsOrCopies: bob, a contact, sends alice's
// devices what only her own devices may: a `read` naming her conversation
// with carol (to hide carol's message as read) and a text naming carol's
// conversation as a copy does (to show words as alice's own, to carol).
// Neither her first device (the name session) nor her laptop (a
// device-pair session) takes them so: carol's message stays unread, and
// the text shows as bob's, in bob's conversation.
func TestContactCannotSyncReadsOrCopies(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	phone, phoneID, _ := w.userOn("alice", []string{w.hubs[0]}, "")
	bob := w.user("bob", w.hubs[1])
	carol := w.user("carol", w.hubs[1])
	w.settle("alice", "bob", "carol")
	connect(t, phone, bob, "hi bob")
	connect(t, phone, carol, "hi carol")
	laptop, _ := w.linkDevice("alice", "laptop", phoneID, w.hubs[0])
	for _, n := range []string{"bob", "carol"} {
		if err := laptop.AddFromOtherDevice(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := carol.Send(ctx, "alice", "from carol"); err != nil {
		t.Fatal(err)
	}
	devices := []*client.Client{phone, laptop}
	for _, d := range devices {
		receiveUntil(t, d, "carol", "from carol")
	}
	conv := client.ContactConv("carol")
	unread := []int{phone.Unread(conv), laptop.Unread(conv)}
	if unread[0] == 0 || unread[1] == 0 {
		t.Fatalf("carol's message unread on the phone, the laptop: %v", unread)
	}

	if _, err := bob.SendEvent(ctx, client.ContactConv("alice"), &wire.Event{Kind: wire.KindRead, Conv: "carol",
		Upto: []wire.Ref{{By: "carol", Seq: 100}}}); err != nil {
		t.Logf("bob's read event: %v", err)
	}
	if _, err := bob.SendEvent(ctx, client.ContactConv("alice"), &wire.Event{Kind: wire.KindText, Conv: "carol", Text: "a copy from bob"}); err != nil {
		t.Logf("bob's copy: %v", err)
	}
	if err := bob.Send(ctx, "alice", "bob's last"); err != nil {
		t.Fatal(err)
	}
	for i, d := range devices {
		receiveUntil(t, d, "bob", "bob's last")
		if n := d.Unread(conv); n != unread[i] {
			t.Errorf("device %d: bob's read event changed carol's unread from %d to %d", i, unread[i], n)
		}
		for _, m := range d.Conversation(conv) {
			if m.Text == "a copy from bob" {
				t.Errorf("device %d shows bob's text in carol's conversation: %+v", i, m)
			}
		}
		for _, m := range d.Conversation(client.ContactConv("bob")) {
			if m.Text == "a copy from bob" && m.From != "bob" {
				t.Errorf("device %d shows bob's text as %s's: %+v", i, m.From, m)
			}
		}
	}
}

// TestRemovedDeviceWritesNoCopies: alice's laptop is stolen and removed
// (with her owner key, from elsewhere) while her phone cannot reach the
// chain. The thief's laptop, still holding its self session with the
// phone, writes copies: a message as alice's own, a delete of a message
// the phone sent (which would have the phone delete it from its hubs
// before bob fetched it) and a read marker hiding bob's message. The
// phone takes none of them.
func TestRemovedDeviceWritesNoCopies(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	state := filepath.Join(t.TempDir(), "alice.state")
	_, aliceID, aliceDir := w.userOn("alice", []string{w.hubs[0]}, state)
	bob := w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	chain := &switchableChain{Directory: aliceDir}
	phone, err := client.Open(ctx, "alice", aliceID, chain, w.hubs[0], state)
	if err != nil {
		t.Fatal(err)
	}
	connect(t, phone, bob, "hi bob")
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	laptop, laptopID := w.linkDevice("alice", "laptop", aliceID, w.hubs[0])
	if err := laptop.AddFromOtherDevice(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	conv := client.ContactConv("bob")
	sent, err := phone.SendEvent(ctx, conv, &wire.Event{Kind: wire.KindText, Text: "not fetched by bob yet"})
	if err != nil {
		t.Fatal(err)
	}
	receiveUntil(t, laptop, "bob", "not fetched by bob yet")
	if err := laptop.Send(ctx, "bob", "from the laptop"); err != nil {
		t.Fatal(err)
	}
	receiveUntil(t, phone, "bob", "from the laptop")
	if err := bob.Send(ctx, "alice", "bob, unread"); err != nil {
		t.Fatal(err)
	}
	receiveUntil(t, phone, "bob", "bob, unread")
	receiveUntil(t, laptop, "bob", "bob, unread")
	unread := phone.Unread(conv)
	if unread == 0 {
		t.Fatal("bob's message is read on the phone already")
	}

	// Still listed (a thief not noticed yet), the laptop deletes and edits
	// the phone's message: only the device that wrote a message changes it.
	if _, err := laptop.SendEvent(ctx, conv, &wire.Event{Kind: wire.KindDelete, Ref: &wire.Ref{By: "alice", Seq: sent.Seq}}); err == nil {
		t.Error("the laptop's library deleted a message the phone wrote")
	}
	for _, e := range []*wire.Event{{Kind: wire.KindEdit, Text: "edited by the laptop", Ref: &wire.Ref{By: "alice", Seq: sent.Seq}},
		{Kind: wire.KindDelete, Ref: &wire.Ref{By: "alice", Seq: sent.Seq}}, {Kind: wire.KindText, Text: "the laptop's marker"}} {
		if err := client.SendUnchecked(ctx, laptop, "bob", e); err != nil {
			t.Fatal(err)
		}
	}
	receiveUntil(t, phone, "bob", "the laptop's marker")
	if err := phone.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range phone.Conversation(conv) {
		if m.Seq == sent.Seq && m.From == "alice" && m.Device == "" && (m.Deleted || m.Edited) {
			t.Errorf("the laptop changed the phone's message on the phone: %+v", m)
		}
	}
	receiveUntil(t, bob, "alice", "not fetched by bob yet")

	chain.down.Store(true)
	if _, err := w.directory().RemoveDevice(ctx, aliceID.OwnerKey(), "alice", bns.PublicKeyOf(laptopID.SigningKey())); err != nil {
		t.Fatal(err)
	}
	w.awaitDevices("alice", func(r *bns.Record) bool { return len(r.AllDevices()) == 1 })

	// The thief writes copies from the removed laptop.
	if err := laptop.Send(ctx, "bob", "injected by the thief"); err != nil {
		t.Logf("the removed laptop's send: %v", err)
	}
	if err := laptop.Delete(ctx, conv, sent.Seq); err != nil {
		if _, err := laptop.SendEvent(ctx, conv, &wire.Event{Kind: wire.KindDelete, Ref: &wire.Ref{By: "alice", Seq: sent.Seq}}); err != nil {
			t.Logf("the removed laptop's delete: %v", err)
		}
	}
	if err := laptop.MarkRead(ctx, conv); err != nil {
		t.Logf("the removed laptop's read marker: %v", err)
	}
	if err := laptop.Flush(ctx); err != nil {
		t.Logf("the removed laptop's flush: %v", err)
	}

	if _, err := phone.Receive(ctx, conv); err != nil {
		t.Logf("the phone's receive with the chain down: %v", err)
	}
	for _, m := range phone.Conversation(conv) {
		switch {
		case m.Text == "injected by the thief":
			t.Errorf("the phone shows what the removed laptop wrote as alice's own: %+v", m)
		case m.Seq == sent.Seq && m.From == "alice" && m.Device == "" && m.Deleted:
			t.Errorf("the removed laptop deleted the phone's message on the phone: %+v", m)
		}
	}
	if n := phone.Unread(conv); n != unread {
		t.Errorf("the removed laptop's read marker took the phone's unread from %d to %d", unread, n)
	}
	// Reading on the phone with the chain down still works: its read
	// marker for the user's other devices waits with the copies.
	if err := phone.MarkRead(ctx, conv); err != nil {
		t.Errorf("the phone marks bob's messages read with the chain down: %v", err)
	}
	chain.down.Store(false)
	if _, err := phone.Receive(ctx, conv); err != nil {
		t.Fatal(err)
	}
	if h := historyTexts(phone.Conversation(conv)); slices.Contains(h, "injected by the thief") {
		t.Errorf("once the chain answers, the phone shows what the removed laptop wrote: %q", h)
	}
}

// TestHostileWelcomeContents: a welcome is signed by a device of the
// name (a thief's listed device can write one), so its payload is
// checked as any stored state is: contacts without a record, or with a
// name made to look like a path, are refused with an error, and odd
// groups or history make no crash.
func TestHostileWelcomeContents(t *testing.T) {
	w, _, phoneID, _ := aliceAndBob(t)
	ctx := context.Background()
	_, laptopID := w.linkDevice("alice", "laptop", phoneID, w.hubs[0])
	for _, tc := range []struct {
		payload string
		refused bool
	}{
		{`{"contacts":[{"name":"bob"}]}`, true},
		{`{"contacts":[{"name":"../../etc","record":null}]}`, true},
		{`{"groups":[{"id":"x","members":["bob"]}]}`, false},
		{`{"history":[{"from":"bob","to":"bob","kind":"text","text":"x"}],"contacts":[]}`, false},
	} {
		t.Run(tc.payload, func(t *testing.T) {
			wel := &wire.Welcome{Name: "alice", Device: bns.PublicKeyOf(laptopID.SigningKey()), Approver: bns.PublicKeyOf(phoneID.SigningKey()),
				Time: time.Now(), Payload: []byte(tc.payload)}
			c, err := client.Linked(ctx, "alice", laptopID, w.directory(), "", wel)
			if tc.refused {
				if !errors.Is(err, bns.ErrMalformed) {
					t.Fatalf("Linked: %v, want bns.ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.Contacts()
			c.Groups()
			c.Conversation(client.ContactConv("bob"))
		})
	}
}

// TestRemovedDeviceGetsNoQueuedGroupMessage: as
// TestRemovedDeviceGetsNothingQueued, in a group: alice's phone cannot
// reach the chain while bob removes his stolen laptop, which holds
// alice's sender key; what the phone writes to the group meanwhile is
// sealed under that key and queued. Once the chain answers and it goes
// out, the removed laptop must not read it.
func TestRemovedDeviceGetsNoQueuedGroupMessage(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	state := filepath.Join(t.TempDir(), "alice.state")
	_, aliceID, aliceDir := w.userOn("alice", []string{w.hubs[0]}, state)
	bob, bobID, _ := w.userOn("bob", []string{w.hubs[1]}, "")
	w.settle("alice", "bob")
	chain := &switchableChain{Directory: aliceDir}
	phone, err := client.Open(ctx, "alice", aliceID, chain, w.hubs[0], state)
	if err != nil {
		t.Fatal(err)
	}
	connect(t, phone, bob, "hi bob")
	bobLaptop, bobLaptopID := w.linkDevice("bob", "laptop", bobID, w.hubs[1])
	if err := bobLaptop.AddFromOtherDevice(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := phone.CreateGroup(ctx, "crew", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	devs := []device{{"alice's phone", phone}, {"bob's phone", bob}, {"bob's laptop", bobLaptop}}
	groupReadsAll(t, "crew", devs)
	id, _ := phone.FindGroup("crew")
	g := client.GroupConv(id)
	if _, err := phone.SendEvent(ctx, g, &wire.Event{Kind: wire.KindText, Text: "before"}); err != nil {
		t.Fatal(err)
	}
	groupReadsAll(t, "crew", devs, "alice:before")

	chain.down.Store(true)
	if _, err := w.directory().RemoveDevice(ctx, bobID.SigningKey(), "bob", bns.PublicKeyOf(bobLaptopID.SigningKey())); err != nil {
		t.Fatal(err)
	}
	w.awaitDevices("bob", func(r *bns.Record) bool { return len(r.AllDevices()) == 1 })
	const secret = "sealed before the removal was seen"
	if _, err := phone.SendEvent(ctx, g, &wire.Event{Kind: wire.KindText, Text: secret}); err != nil {
		t.Logf("the phone's group message with the chain down: %v", err)
	}
	chain.down.Store(false)
	if err := phone.Flush(ctx); err != nil {
		t.Logf("the phone's flush: %v", err)
	}
	for i := 0; i < 2; i++ {
		bobLaptop.SyncGroups(ctx)
	}
	for _, m := range bobLaptop.Conversation(g) {
		if m.Text == secret {
			t.Errorf("bob's removed laptop reads what alice's phone sealed before seeing the removal: %+v", m)
		}
	}
}

// TestContactCannotChangeSettings: bob, a contact, sends alice's devices
// the `setting` events only her own devices may write: block carol, and
// read receipts off. Neither her first device (the name session) nor her
// laptop (a device-pair session) takes them: carol is not blocked and
// read receipts stay on.
func TestContactCannotChangeSettings(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	phone, phoneID, _ := w.userOn("alice", []string{w.hubs[0]}, "")
	bob := w.user("bob", w.hubs[1])
	carol := w.user("carol", w.hubs[1])
	w.settle("alice", "bob", "carol")
	connect(t, phone, bob, "hi bob")
	connect(t, phone, carol, "hi carol")
	laptop, _ := w.linkDevice("alice", "laptop", phoneID, w.hubs[0])
	for _, n := range []string{"bob", "carol"} {
		if err := laptop.AddFromOtherDevice(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	devices := []*client.Client{phone, laptop}
	if err := bob.Send(ctx, "alice", "bob's first"); err != nil {
		t.Fatal(err)
	}
	for _, d := range devices {
		receiveUntil(t, d, "bob", "bob's first") // the laptop's device-pair session with bob starts
	}
	for _, e := range []*wire.Event{
		{Kind: wire.KindSetting, Set: wire.SetBlock, Conv: "carol", On: true},
		{Kind: wire.KindSetting, Set: wire.SetReceipts},
		{Kind: wire.KindContact, Conv: "carol", Key: make([]byte, 32)},
	} {
		if _, err := bob.SendEvent(ctx, client.ContactConv("alice"), e); err != nil {
			t.Fatalf("bob's setting event: %v", err)
		}
	}
	if err := bob.Send(ctx, "alice", "bob's last"); err != nil {
		t.Fatal(err)
	}
	for i, d := range devices {
		// Nothing of bob's self-session kinds arrives as an event either
		// (a front-end would show it as an empty message).
		var got []client.Event
		await.True(t, 2*time.Minute, "bob's last on each device", func() bool {
			es, err := d.Receive(ctx, client.ContactConv("bob"))
			got = append(got, es...)
			return err == nil && slices.ContainsFunc(got, func(e client.Event) bool { return e.Text == "bob's last" })
		})
		for _, e := range got {
			if e.Kind == wire.KindSetting || e.Kind == wire.KindContact || e.Kind == wire.KindRead {
				t.Errorf("device %d: bob's %s event arrived as an event: %+v", i, e.Kind, e)
			}
		}
		if _, err := d.SyncCopies(ctx); err != nil {
			t.Fatal(err)
		}
		if b := d.Blocked(); len(b) != 0 {
			t.Errorf("device %d: bob's setting event blocked %q", i, b)
		}
		if !d.ReadReceipts() {
			t.Errorf("device %d: bob's setting event turned read receipts off", i)
		}
	}
}
