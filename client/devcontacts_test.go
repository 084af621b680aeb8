package client_test

import (
	"context"
	"testing"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/wire"
)

// TestWatchLearnsANewDevice: alice's watch runs on her phone; she links a
// laptop (the phone approves it and writes its welcome); what the laptop
// then sends bob shows in the phone's running watch, which followed the
// new device as soon as the welcome was written, not at its next hourly
// refresh.
func TestWatchLearnsANewDevice(t *testing.T) {
	w := newWorld(t)
	phone, phoneID, _ := w.userOn("alice", []string{w.hubs[0]}, "")
	bob := w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	connect(t, phone, bob, "hi bob")
	ctx := context.Background()
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	onPhone := watchTexts(t, phone)
	if err := bob.Send(ctx, "alice", "the watch runs"); err != nil {
		t.Fatal(err)
	}
	onPhone("the watch runs") // its streams are up

	id, err := keystore.New()
	if err != nil {
		t.Fatal(err)
	}
	p, err := id.Profile([]string{w.hubs[0]})
	if err != nil {
		t.Fatal(err)
	}
	dev := bns.Device{SigningKey: p.SigningKey, EncKeys: p.EncKeys, Label: "laptop"}
	dir := w.directory()
	code, _, err := dir.OfferDevice(ctx, id.SigningKey(), dev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddDevice(ctx, phoneID.SigningKey(), "alice", code); err != nil {
		t.Fatal(err)
	}
	w.awaitDevices("alice", func(r *bns.Record) bool { _, ok := r.Device(p.SigningKey); return ok })
	if err := phone.WriteWelcome(ctx, wire.LinkCode(code), dev, false); err != nil {
		t.Fatal(err)
	}
	laptop, err := client.Open(ctx, "alice", id, dir, w.hubs[0], "", append([]client.Option{client.WithBackupKDF(testKDF())}, w.opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	w.dirs = append(w.dirs, dir)
	if err := laptop.AddFromOtherDevice(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := laptop.Send(ctx, "bob", "from the new laptop"); err != nil {
		t.Fatal(err)
	}
	onPhone("from the new laptop")
}
