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
	w, phone, phoneID, bob := aliceAndBob(t)
	ctx := context.Background()
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	onPhone := watchTexts(t, phone)
	if err := bob.Send(ctx, "alice", "the watch runs"); err != nil {
		t.Fatal(err)
	}
	onPhone("the watch runs") // its streams are up

	laptop := approve(t, w, phone, phoneID, "laptop")
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
	w, _, phoneID, bob := aliceAndBob(t)
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

// TestRacingDeviceIntroductions: alice's laptop and bob's phone each send
// the other a message at the same moment, so each writes a device
// introduction for the same pair of devices. Both sessions are read, so
// nothing is lost; once each has read the other's, both send on the one
// session whose writer sorts first; two more rounds, one of them again
// at the same moment, arrive whole and in order on each side.
func TestRacingDeviceIntroductions(t *testing.T) {
	w, _, phoneID, bob := aliceAndBob(t)
	ctx := context.Background()
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	if err := bob.Send(ctx, "alice", "hi alice"); err != nil {
		t.Fatal(err)
	}
	laptop, _ := w.linkDevice("alice", "laptop", phoneID, w.hubs[0])
	if err := laptop.AddFromOtherDevice(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := bob.CheckKeys(ctx, "alice"); err != nil { // bob's client sees the laptop on alice's record
		t.Fatal(err)
	}
	atOnce := func(l, b string) {
		t.Helper()
		errs := make(chan error, 2)
		go func() { errs <- laptop.Send(ctx, "bob", l) }()
		go func() { errs <- bob.Send(ctx, "alice", b) }()
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	atOnce("l1", "b1")
	if _, n, _ := client.SendingKey(laptop, "bob", 0); n != 1 {
		t.Fatalf("the laptop holds %d sessions with bob's phone before reading, want its own only", n)
	}
	var onBob, onLaptop []string
	read := func() {
		t.Helper()
		got, err := receive(t, bob, "alice")
		if err != nil {
			t.Fatal(err)
		}
		onBob = append(onBob, got...)
		got, err = receive(t, laptop, "bob")
		if err != nil {
			t.Fatal(err)
		}
		onLaptop = append(onLaptop, got...)
	}
	read()
	lk, ln, err := client.SendingKey(laptop, "bob", 0)
	if err != nil {
		t.Fatal(err)
	}
	bk, bn, err := client.SendingKey(bob, "alice", 1)
	if err != nil {
		t.Fatal(err)
	}
	if ln != 2 || bn != 2 || lk != bk {
		t.Fatalf("after reading: the laptop holds %d sessions, bob %d; they send on the same one: %v; want 2, 2, true", ln, bn, lk == bk)
	}
	atOnce("l2", "b2")
	read()
	if err := laptop.Send(ctx, "bob", "l3"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Send(ctx, "alice", "b3"); err != nil {
		t.Fatal(err)
	}
	read()
	if got := strings.Join(onBob, "|"); got != "l1|l2|l3" {
		t.Fatalf("bob read from the laptop %q, want l1|l2|l3", got)
	}
	if got := strings.Join(onLaptop, "|"); got != "b1|b2|b3" {
		t.Fatalf("the laptop read from bob %q, want b1|b2|b3", got)
	}
}

// TestApproverReadsTheNewDevice: the phone, alone on alice's record until
// it approves a laptop and writes its welcome, reads the laptop's copies
// at its next Receive (the welcome made it look its record up), without
// having sent anything since.
func TestApproverReadsTheNewDevice(t *testing.T) {
	w, phone, phoneID, bob := aliceAndBob(t)
	ctx := context.Background()
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	laptop := approve(t, w, phone, phoneID, "laptop")
	if err := laptop.AddFromOtherDevice(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := laptop.Send(ctx, "bob", "from the new laptop"); err != nil {
		t.Fatal(err)
	}
	got, err := receive(t, phone, "bob")
	if err != nil || strings.Join(got, "|") != "from the new laptop" {
		t.Fatalf("the phone reads %q, %v; want the laptop's copy", got, err)
	}
}

// approve links a new device to approver's name: its offer on the chain,
// approved by approver's key, and approver's welcome for it; it returns
// the new device's client once every directory sees it.
func approve(t *testing.T, w *world, approver *client.Client, approverID *keystore.Identity, label string) *client.Client {
	t.Helper()
	ctx := context.Background()
	id, err := keystore.New()
	if err != nil {
		t.Fatal(err)
	}
	p, err := id.Profile(approver.Hubs())
	if err != nil {
		t.Fatal(err)
	}
	dev := bns.Device{SigningKey: p.SigningKey, EncKeys: p.EncKeys, Label: label}
	dir := w.directory()
	code, _, err := dir.OfferDevice(ctx, id.SigningKey(), dev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AddDevice(ctx, approverID.SigningKey(), approver.Name, code); err != nil {
		t.Fatal(err)
	}
	w.awaitDevices(approver.Name, func(r *bns.Record) bool { _, ok := r.Device(p.SigningKey); return ok })
	if err := approver.WriteWelcome(ctx, wire.LinkCode(code), dev, false); err != nil {
		t.Fatal(err)
	}
	c, err := client.Open(ctx, approver.Name, id, dir, approver.Hubs()[0], "", append([]client.Option{client.WithBackupKDF(testKDF())}, w.opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	w.dirs = append(w.dirs, dir)
	return c
}
