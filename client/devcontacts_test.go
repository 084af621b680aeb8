package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
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

// TestHubWithholdsADeviceMessage: alice's laptop (a linked device) sends
// bob four messages on its device-pair session with him; alice's hub
// withholds the third. Bob's Receive shows the first two and reports the
// withheld one (*client.WithheldError, as for the name session), asked
// again too; the hub serving it again, bob reads the rest.
func TestHubWithholdsADeviceMessage(t *testing.T) {
	w := newWorld(t)
	phone, phoneID, _ := w.userOn("alice", []string{w.hubs[0]}, "")
	bob := w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	connect(t, phone, bob, "hi bob")
	ctx := context.Background()
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	laptop, _ := w.linkDevice("alice", "laptop", phoneID, w.hubs[0])
	w.awaitDevices("alice", func(r *bns.Record) bool { return len(r.Devices) == 1 })
	if err := laptop.AddFromOtherDevice(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"m0", "m1", "m2", "m3"} {
		if err := laptop.Send(ctx, "bob", m); err != nil {
			t.Fatal(err)
		}
	}
	paths := client.SessionPaths(laptop, "bob", 2)
	if len(paths) != 1 {
		t.Fatalf("the laptop's sessions with bob: %v, want one", paths)
	}
	addr := laptop.Address()
	real := blob(t, w, 0, addr, paths[0])
	w.drivers[0].Delete(ctx, addr, paths[0], hub.DeleteOptions{})

	got, err := receive(t, bob, "alice")
	var wh *client.WithheldError
	if !errors.As(err, &wh) || wh.Name != "alice" || wh.Seq != 2 || wh.Count != 4 || strings.Join(got, "|") != "m0|m1" {
		t.Fatalf("a withheld message of the laptop's: %q, %v; want m0|m1 and a *WithheldError for message 2 of 4", got, err)
	}
	if got, err := receive(t, bob, "alice"); !errors.As(err, &wh) || len(got) != 0 {
		t.Fatalf("asked again: %q, %v", got, err)
	}
	setBlob(w, 0, addr, paths[0], real)
	if got, err := receive(t, bob, "alice"); err != nil || strings.Join(got, "|") != "m2|m3" {
		t.Fatalf("served again: %q, %v; want m2|m3", got, err)
	}
}
