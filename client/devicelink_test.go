package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/internal/await"
)

// TestWelcomeInjected: alice adds a new device. Before her welcome is
// there, the operator of her hub puts a forged one in her bucket (sealed
// to the new device, for her name and the code, signed by a key her
// record does not list), and bob, a contact, writes one in his own
// bucket: the new device refuses the first (wire.ErrNotADevice) and never
// reads the second. Alice's own welcome then opens, and the device that
// starts from it has her contact bob, and none of her sessions' secrets.
func TestWelcomeInjected(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	alice, aliceID, dir := w.userWithState("alice", w.hubs[0], "")
	bob := w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	connect(t, alice, bob, "hi alice")

	dev, err := keystore.New()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := dev.Profile(nil)
	offer := bns.Device{SigningKey: p.SigningKey, EncKeys: p.EncKeys, Label: "laptop"}
	code, _, err := dir.OfferDevice(ctx, dev.SigningKey(), offer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddDevice(ctx, aliceID.SigningKey(), "alice", code); err != nil {
		t.Fatal(err)
	}
	lcode := wire.LinkCode(code)
	await.NoError(t, 2*time.Minute, "the record listing the laptop", func() error {
		rec, err := dir.Lookup(ctx, "alice")
		if err == nil && len(rec.Devices) != 1 {
			err = errors.New("not yet")
		}
		return err
	})

	// The hub's operator forges one in alice's bucket.
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	forged, err := wire.SealWelcome(stranger, &wire.Welcome{Name: "alice", Code: lcode, Device: offer.SigningKey,
		Approver: bns.PublicKeyOf(stranger), Time: time.Now(), Payload: []byte(`{"contacts":[],"history":[]}`)}, offer.EncKeys[len(offer.EncKeys)-1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.drivers[0].Put(ctx, alice.Address(), wire.WelcomePath(lcode), bytes.NewReader(forged), hub.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ReadWelcome(ctx, "alice", lcode, dev, dir); !errors.Is(err, wire.ErrNotADevice) {
		t.Fatalf("a welcome the hub forged: %v, want ErrNotADevice", err)
	}
	// A contact writes one in his own bucket: not alice's device, never read.
	if err := w.drivers[0].Delete(ctx, alice.Address(), wire.WelcomePath(lcode), hub.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := bob.WriteWelcome(ctx, lcode, offer, true); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ReadWelcome(ctx, "alice", lcode, dev, dir); !errors.Is(err, client.ErrNoWelcome) {
		t.Fatalf("a welcome in a contact's bucket: %v, want ErrNoWelcome", err)
	}

	if err := alice.WriteWelcome(ctx, lcode, offer, true); err != nil {
		t.Fatal(err)
	}
	wel, err := client.ReadWelcome(ctx, "alice", lcode, dev, dir)
	if err != nil {
		t.Fatal(err)
	}
	if wel.Approver != bns.PublicKeyOf(aliceID.SigningKey()) {
		t.Fatalf("approver %s", wel.Approver)
	}
	if bytes.Contains(wel.Payload, []byte(`"backup"`)) {
		t.Fatal("the welcome carries the backup's configuration")
	}
	c, err := client.Linked(ctx, "alice", dev, dir, "", wel)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Contacts(); len(got) != 1 || got[0] != "bob" {
		t.Fatalf("the laptop's contacts: %v", got)
	}
}
