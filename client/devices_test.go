package client_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/internal/await"
)

// linkDevice adds a new device to name on the chain (a link offer signed
// by the new device's key, approved by approver, a device the record
// lists) and returns its client, on the same hubs; it waits until every
// directory of the world sees the device.
func (w *world) linkDevice(name, label string, approver *keystore.Identity, hubURL string) (*client.Client, *keystore.Identity) {
	w.t.Helper()
	ctx := context.Background()
	id, err := keystore.New()
	if err != nil {
		w.t.Fatal(err)
	}
	p, err := id.Profile([]string{hubURL})
	if err != nil {
		w.t.Fatal(err)
	}
	dir := w.directory()
	code, _, err := dir.OfferDevice(ctx, id.SigningKey(), bns.Device{SigningKey: p.SigningKey, EncKeys: p.EncKeys, Label: label})
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := dir.AddDevice(ctx, approver.SigningKey(), name, code); err != nil {
		w.t.Fatal(err)
	}
	w.awaitDevices(name, func(r *bns.Record) bool { _, ok := r.Device(p.SigningKey); return ok })
	c, err := client.Open(ctx, name, id, dir, hubURL, "", append([]client.Option{client.WithBackupKDF(testKDF())}, w.opts...)...)
	if err != nil {
		w.t.Fatal(err)
	}
	w.dirs = append(w.dirs, dir)
	return c, id
}

// awaitDevices waits until every directory of the world finds name's
// record as ok says.
func (w *world) awaitDevices(name string, ok func(*bns.Record) bool) {
	w.t.Helper()
	for _, d := range w.dirs {
		await.NoError(w.t, 2*time.Minute, name+"'s devices as expected", func() error {
			r, err := d.Lookup(context.Background(), name)
			if err != nil {
				return err
			}
			if !ok(r) {
				return lookup.ErrNotFound
			}
			return nil
		})
	}
}

// aliceAndBob is the start of the device tests: alice on her phone (her
// first device, on hub 0) and bob (hub 1), in touch ("hi bob").
func aliceAndBob(t *testing.T) (w *world, phone *client.Client, phoneID *keystore.Identity, bob *client.Client) {
	t.Helper()
	w = newWorld(t)
	phone, phoneID, _ = w.userOn("alice", []string{w.hubs[0]}, "")
	bob = w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	connect(t, phone, bob, "hi bob")
	return w, phone, phoneID, bob
}

// TestTwoDevices: alice has a phone (her first device) and a laptop she
// linked. What the phone sends bob shows on the laptop, which takes the
// conversation on; bob's message reaches both; what she reads on the phone is read
// on the laptop, what she deletes there is deleted on the laptop; what
// the laptop sends reaches bob
// and shows on the phone as alice's own; once the phone removes the
// laptop, bob's next message reaches the phone only, and nothing the
// laptop sends after its removal reaches bob.
func TestTwoDevices(t *testing.T) {
	w, phone, phoneID, bob := aliceAndBob(t)
	ctx := context.Background()
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	laptop, laptopID := w.linkDevice("alice", "laptop", phoneID, w.hubs[0])

	// The phone writes to bob: the laptop takes the conversation on.
	if err := phone.Send(ctx, "bob", "morning, bob"); err != nil {
		t.Fatal(err)
	}
	copies, err := laptop.SyncCopies(ctx)
	if err != nil || len(copies) != 1 || copies[0].Text != "morning, bob" || copies[0].From != "alice" || copies[0].Conv != client.ContactConv("bob") {
		t.Fatalf("the laptop's copies: %+v, %v", copies, err)
	}
	if !slices.Contains(laptop.Contacts(), "bob") {
		t.Fatalf("the laptop's contacts: %q", laptop.Contacts())
	}

	// Bob writes once; each of alice's devices reads it.
	if err := bob.Send(ctx, "alice", "hello, both of you"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		name string
		c    *client.Client
	}{{"phone", phone}, {"laptop", laptop}} {
		if m := receiveUntil(t, d.c, "bob", "hello, both of you"); m.From != "bob" || m.Device != "" {
			t.Errorf("the %s shows %+v: want it from bob's first device", d.name, m)
		}
	}

	// Read on the phone, read on the laptop.
	conv := client.ContactConv("bob")
	if n := laptop.Unread(conv); n != 1 {
		t.Fatalf("the laptop counts %d unread from bob, want 1", n)
	}
	if err := phone.MarkRead(ctx, conv); err != nil {
		t.Fatal(err)
	}
	await.NoError(t, 2*time.Minute, "the laptop to learn what the phone read", func() error {
		if _, err := laptop.Receive(ctx, conv); err != nil {
			return err
		}
		if n := laptop.Unread(conv); n != 0 {
			return fmt.Errorf("%d unread", n)
		}
		return nil
	})

	// The laptop answers: bob reads it as alice's, the phone as its own.
	if err := laptop.Send(ctx, "bob", "from the laptop"); err != nil {
		t.Fatal(err)
	}
	lk := bns.PublicKeyOf(laptopID.SigningKey())
	laptopHex := hex.EncodeToString(lk[:])
	if m := receiveUntil(t, bob, "alice", "from the laptop"); m.From != "alice" || m.Device != laptopHex {
		t.Errorf("bob shows %+v: want it from alice's laptop", m)
	}
	if m := receiveUntil(t, phone, "bob", "from the laptop"); m.From != "alice" || m.Conv != client.ContactConv("bob") || m.Device != laptopHex {
		t.Errorf("the phone shows %+v: want it as alice's own, to bob, from the laptop", m)
	}

	// A file the laptop shares: bob and the phone fetch it from the
	// laptop's own bucket.
	src := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(src, []byte("the laptop's notes"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := laptop.SendFile(ctx, conv, src, "my notes", nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		c    *client.Client
		with string
	}{{bob, "alice"}, {phone, "bob"}} {
		m := receiveUntil(t, d.c, d.with, "my notes")
		dest := filepath.Join(t.TempDir(), "got.txt")
		if err := d.c.GetFile(ctx, client.ContactConv(d.with), m.ID(), dest, nil); err != nil {
			t.Fatalf("%s fetches the laptop's file: %v", d.c.Name, err)
		}
		if b, err := os.ReadFile(dest); err != nil || string(b) != "the laptop's notes" {
			t.Fatalf("%s's copy of the laptop's file: %q, %v", d.c.Name, b, err)
		}
	}

	// What one device deletes of what it sent is gone on the other too.
	for _, d := range []struct{ on, other *client.Client }{{phone, laptop}, {laptop, phone}} {
		text := "oops, wrong chat, from " + hex.EncodeToString([]byte(d.on.Address()))[:8]
		m, err := d.on.SendEvent(ctx, conv, &wire.Event{Kind: wire.KindText, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		receiveUntil(t, d.other, "bob", text)
		if err := d.on.Delete(ctx, conv, m.Seq); err != nil {
			t.Fatal(err)
		}
		await.NoError(t, 2*time.Minute, "the other device to delete "+text, func() error {
			if _, err := d.other.Receive(ctx, conv); err != nil {
				return err
			}
			for _, m := range d.other.Conversation(conv) {
				if m.Text == text {
					return fmt.Errorf("it still shows %+v", m)
				}
			}
			return nil
		})
	}

	// The phone removes the laptop.
	dir := w.directory()
	if _, err := dir.RemoveDevice(ctx, phoneID.SigningKey(), "alice", bns.PublicKeyOf(laptopID.SigningKey())); err != nil {
		t.Fatal(err)
	}
	w.awaitDevices("alice", func(r *bns.Record) bool { return len(r.AllDevices()) == 1 })
	if err := bob.Send(ctx, "alice", "only the phone now"); err != nil {
		t.Fatal(err)
	}
	receiveUntil(t, phone, "bob", "only the phone now")
	if err := laptop.Send(ctx, "bob", "still here"); err != nil {
		t.Logf("the removed laptop's send: %v", err)
	}
	// Bob reads alice until the phone's next message, which comes after
	// the laptop's: nothing of the removed laptop's shows.
	if err := phone.Send(ctx, "bob", "the phone again"); err != nil {
		t.Fatal(err)
	}
	receiveUntil(t, bob, "alice", "the phone again")
	if h := historyTexts(bob.Conversation(client.ContactConv("alice"))); slices.Contains(h, "still here") {
		t.Errorf("bob shows what the removed laptop sent: %q", h)
	}
	ms, err := laptop.Receive(ctx, client.ContactConv("bob"))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(texts(ms), "only the phone now") || slices.Contains(historyTexts(laptop.Conversation(client.ContactConv("bob"))), "only the phone now") {
		t.Errorf("the removed laptop reads what bob sent after: %q", texts(ms))
	}
}

// receiveUntil receives c's conversation with name until its history
// holds text, and returns that message.
func receiveUntil(t *testing.T, c *client.Client, name, text string) client.Message {
	t.Helper()
	conv := client.ContactConv(name)
	return await.Value(t, 2*time.Minute, c.Name+" reads "+text, func() (client.Message, error) {
		if _, err := c.Receive(context.Background(), conv); err != nil {
			return client.Message{}, err
		}
		for _, m := range c.Conversation(conv) {
			if m.Text == text {
				return m, nil
			}
		}
		return client.Message{}, lookup.ErrNotFound
	})
}

// TestWatchOnTwoDevices: a running watch on each of alice's devices shows,
// as it happens, what bob sends her and what her other device sends bob.
func TestWatchOnTwoDevices(t *testing.T) {
	w, phone, phoneID, bob := aliceAndBob(t)
	ctx := context.Background()
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	laptop, _ := w.linkDevice("alice", "laptop", phoneID, w.hubs[0])
	if err := laptop.AddFromOtherDevice(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	onPhone, onLaptop := watchTexts(t, phone), watchTexts(t, laptop)
	if err := bob.Send(ctx, "alice", "hello, both of you"); err != nil {
		t.Fatal(err)
	}
	onPhone("hello, both of you")
	onLaptop("hello, both of you")
	if err := laptop.Send(ctx, "bob", "from the laptop"); err != nil {
		t.Fatal(err)
	}
	onPhone("from the laptop")
}

// TestHubServesOneDevicesMessageToAnother: bob's hub answers alice's
// laptop, asking for bob's next message to it, with the blob bob wrote
// for alice's phone. The laptop refuses it (it does not open in its
// session: wire.ErrHeader) and shows nothing; the phone reads it.
func TestHubServesOneDevicesMessageToAnother(t *testing.T) {
	w, phone, phoneID, bob := aliceAndBob(t)
	ctx := context.Background()
	laptop, _ := w.linkDevice("alice", "laptop", phoneID, w.hubs[0])
	if err := laptop.AddFromOtherDevice(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Send(ctx, "alice", "first"); err != nil {
		t.Fatal(err)
	}
	receiveUntil(t, phone, "bob", "first")
	receiveUntil(t, laptop, "bob", "first")
	bobKey := mustLookup(t, w, "bob").Profile.SigningKey
	phonePath, err := client.Peek(phone, ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	laptopPath, ok := client.PeekDevice(laptop, "bob", bobKey)
	if !ok {
		t.Fatal("the laptop has no session with bob's device")
	}
	if err := bob.Send(ctx, "alice", "second"); err != nil {
		t.Fatal(err)
	}
	// Bob's hub serves the phone's blob at the laptop's path.
	_, body, err := w.drivers[1].Get(ctx, bob.Address(), phonePath)
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := io.ReadAll(body)
	body.Close()
	if _, err := w.drivers[1].Put(ctx, bob.Address(), laptopPath, bytes.NewReader(blob), hub.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := laptop.Receive(ctx, client.ContactConv("bob")); !errors.Is(err, wire.ErrHeader) {
		t.Fatalf("the laptop reads the phone's blob: %v, want wire.ErrHeader", err)
	}
	if h := historyTexts(laptop.Conversation(client.ContactConv("bob"))); slices.Contains(h, "second") {
		t.Fatalf("the laptop shows the phone's message: %q", h)
	}
	receiveUntil(t, phone, "bob", "second")
}

// TestRequestWhileAnotherWaits: alice, on two devices, asks dave, whose
// hub is down, so that request waits; she then asks carol. Carol's
// request goes out and says nothing of dave's: telling alice's laptop of
// the new contact flushes everything that waits, and the failure of
// dave's stream is not carol's (before: carol's Request returned dave's
// queued request, and carol was not asked until a later flush).
func TestRequestWhileAnotherWaits(t *testing.T) {
	w, phone, phoneID, _ := aliceAndBob(t)
	ctx := context.Background()
	w.linkDevice("alice", "laptop", phoneID, w.hubs[0])
	daveHub := startRestartableHub(t)
	w.user("dave", "http://"+daveHub.addr)
	carol := w.user("carol", w.hubs[1])
	w.settle("alice", "dave", "carol")
	daveHub.stop()
	if err := phone.Request(ctx, "dave", "hi dave"); !errors.Is(err, client.ErrQueued) {
		t.Fatalf("asking dave, whose hub is down: %v", err)
	}
	if err := phone.Request(ctx, "carol", "hi carol"); err != nil {
		t.Fatalf("asking carol while dave's request waits: %v", err)
	}
	p, bad, err := carol.Requests(ctx)
	if err != nil || len(bad) != 0 || len(p) != 1 || p[0].From != "alice" {
		t.Fatalf("carol's requests: %+v %v %v", p, bad, err)
	}
}
