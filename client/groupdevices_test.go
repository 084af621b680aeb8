package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/internal/await"
)

// device is one of a person's devices in a test.
type device struct {
	label string
	c     *client.Client
}

// groupReadsAll syncs every device until each shows every one of want
// (From ":" Text) in the group named name.
func groupReadsAll(t *testing.T, name string, devs []device, want ...string) {
	t.Helper()
	ctx := context.Background()
	await.NoError(t, 3*time.Minute, "every device reads "+strings.Join(want, ", "), func() error {
		var errs []error
		for _, d := range devs {
			d.c.SyncGroups(ctx)
		}
		for _, d := range devs {
			id, err := d.c.FindGroup(name)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", d.label, err))
				continue
			}
			var got []string
			for _, m := range d.c.Conversation(client.GroupConv(id)) {
				got = append(got, m.From+":"+m.Text)
			}
			for _, w := range want {
				if !slices.Contains(got, w) {
					errs = append(errs, fmt.Errorf("%s lacks %q: %q", d.label, w, got))
				}
			}
		}
		return errors.Join(errs...)
	})
}

// TestGroupOnTwoDevicesEach: alice and bob have two devices each, carol
// one. Alice's first device makes a group of the three: every device of
// every member gets the roster; what each device writes shows on every
// other, as its member's (the user's own, on the user's other device);
// what alice reads on one device is read on the other.
func TestGroupOnTwoDevicesEach(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	alice, aliceID, _ := w.userOn("alice", []string{w.hubs[0]}, "")
	bob, bobID, _ := w.userOn("bob", []string{w.hubs[1]}, "")
	carol := w.user("carol", w.hubs[0])
	w.settle("alice", "bob", "carol")
	connect(t, alice, bob, "hi bob")
	connect(t, alice, carol, "hi carol")
	aliceLaptop, _ := w.linkDevice("alice", "laptop", aliceID, w.hubs[0])
	bobLaptop, bobLaptopID := w.linkDevice("bob", "laptop", bobID, w.hubs[1])
	if err := bobLaptop.AddFromOtherDevice(ctx, "alice"); err != nil { // as its welcome would
		t.Fatal(err)
	}
	if _, err := alice.CreateGroup(ctx, "crew", []string{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	devs := []device{{"alice's phone", alice}, {"alice's laptop", aliceLaptop}, {"bob's phone", bob}, {"bob's laptop", bobLaptop}, {"carol", carol}}
	await.NoError(t, 3*time.Minute, "every device in the group", func() error {
		var errs []error
		for _, d := range devs {
			if _, err := d.c.SyncGroups(ctx); err != nil {
				t.Logf("%s syncs: %v", d.label, err)
			}
			if _, err := d.c.FindGroup("crew"); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", d.label, err))
			}
		}
		return errors.Join(errs...)
	})
	var want []string
	for _, d := range devs {
		id, _ := d.c.FindGroup("crew")
		text := "hello from " + d.label
		if _, err := d.c.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: text}); err != nil {
			t.Fatalf("%s writes: %v", d.label, err)
		}
		want = append(want, d.c.Name+":"+text)
	}
	groupReadsAll(t, "crew", devs, want...)

	// Each device is a sender of its own: no two hold one sender key.
	id, _ := alice.FindGroup("crew")
	if a, l := client.GroupVerifier(alice, id, "alice"), client.GroupVerifier(aliceLaptop, id, client.GroupSender("alice", aliceLaptop)); len(a) != 32 || len(l) != 32 || string(a) == string(l) {
		t.Fatalf("alice's phone signs with %x, her laptop with %x", a, l)
	}

	// Read on the phone, read on the laptop.
	g := client.GroupConv(id)
	if n := aliceLaptop.Unread(g); n != 3 {
		t.Fatalf("alice's laptop has %d unread, want 3 (bob's two devices, carol)", n)
	}
	if err := alice.MarkRead(ctx, g); err != nil {
		t.Fatal(err)
	}
	await.NoError(t, 2*time.Minute, "alice's laptop to learn what her phone read", func() error {
		aliceLaptop.SyncGroups(ctx)
		if n := aliceLaptop.Unread(g); n != 0 {
			return fmt.Errorf("%d unread", n)
		}
		return nil
	})

	// A change of the group reaches every device.
	if err := alice.RenameGroup(ctx, id, "the crew"); err != nil {
		t.Fatal(err)
	}
	groupReadsAll(t, "the crew", devs)
	if _, err := aliceLaptop.CreateGroup(ctx, "mine", []string{"bob"}); !errors.Is(err, client.ErrGroupOnLinkedDevice) {
		t.Fatalf("a group made on a linked device: %v, want ErrGroupOnLinkedDevice", err)
	}

	// Bob removes his laptop: it reads nothing written after, and nothing
	// it writes after is shown.
	dir := w.directory()
	if _, err := dir.RemoveDevice(ctx, bobID.SigningKey(), "bob", bns.PublicKeyOf(bobLaptopID.SigningKey())); err != nil {
		t.Fatal(err)
	}
	w.awaitDevices("bob", func(r *bns.Record) bool { return len(r.AllDevices()) == 1 })
	for _, d := range devs {
		if d.c == bobLaptop {
			continue
		}
		if _, err := d.c.SendEvent(ctx, g, &wire.Event{Kind: wire.KindText, Text: "after the removal, " + d.label}); err != nil {
			t.Fatalf("%s writes: %v", d.label, err)
		}
	}
	bobLaptop.SendEvent(ctx, g, &wire.Event{Kind: wire.KindText, Text: "the removed laptop"}) // its own hubs may take it
	left := slices.DeleteFunc(slices.Clone(devs), func(d device) bool { return d.c == bobLaptop })
	var after []string
	for _, d := range left {
		after = append(after, d.c.Name+":after the removal, "+d.label)
	}
	groupReadsAll(t, "the crew", left, after...)
	for i := 0; i < 2; i++ {
		bobLaptop.SyncGroups(ctx)
	}
	for _, m := range bobLaptop.Conversation(g) {
		if strings.HasPrefix(m.Text, "after the removal") {
			t.Errorf("bob's removed laptop reads %s: %q", m.From, m.Text)
		}
	}
	for _, d := range left {
		for _, m := range d.c.Conversation(g) {
			if m.Text == "the removed laptop" {
				t.Errorf("%s shows what bob's laptop wrote after its removal", d.label)
			}
		}
	}
}

// TestHubServesOneDevicesGroupMessageToAnother: bob has a phone and a
// laptop in a group with alice; bob's hub answers alice, asking for the
// laptop's next group message, with the blob bob's phone wrote. Alice
// refuses it (signed by another device's key: wire.ErrForged) and shows
// nothing of it as the laptop's; the phone's message is read as the
// phone's.
func TestHubServesOneDevicesGroupMessageToAnother(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	alice := w.user("alice", w.hubs[0])
	bob, bobID, _ := w.userOn("bob", []string{w.hubs[1]}, "")
	w.settle("alice", "bob")
	connect(t, alice, bob, "hi bob")
	laptop, _ := w.linkDevice("bob", "laptop", bobID, w.hubs[1])
	if err := laptop.AddFromOtherDevice(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	id, err := alice.CreateGroup(ctx, "pair", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	devs := []device{{"alice", alice}, {"bob's phone", bob}, {"bob's laptop", laptop}}
	await.NoError(t, 3*time.Minute, "every device in the group", func() error {
		var errs []error
		for _, d := range devs {
			d.c.SyncGroups(ctx)
			if _, err := d.c.FindGroup("pair"); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", d.label, err))
			}
		}
		return errors.Join(errs...)
	})
	g := client.GroupConv(id)
	for _, d := range devs[1:] {
		if _, err := d.c.SendEvent(ctx, g, &wire.Event{Kind: wire.KindText, Text: "first from " + d.label}); err != nil {
			t.Fatal(err)
		}
	}
	groupReadsAll(t, "pair", devs, "bob:first from bob's phone", "bob:first from bob's laptop")
	laptopSender := client.GroupSender("bob", laptop)
	phonePath, ok1 := client.GroupNextPath(alice, id, "bob")
	laptopPath, ok2 := client.GroupNextPath(alice, id, laptopSender)
	if !ok1 || !ok2 {
		t.Fatalf("alice expects nothing more from bob's phone (%v) or laptop (%v)", ok1, ok2)
	}
	if _, err := bob.SendEvent(ctx, g, &wire.Event{Kind: wire.KindText, Text: "second from the phone"}); err != nil {
		t.Fatal(err)
	}
	_, body, err := w.drivers[1].Get(ctx, bob.Address(), phonePath)
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := io.ReadAll(body)
	body.Close()
	if _, err := w.drivers[1].Put(ctx, laptop.Address(), laptopPath, bytes.NewReader(blob), hub.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Receive(ctx, g); !errors.Is(err, wire.ErrForged) {
		t.Fatalf("alice reads the phone's blob as the laptop's: %v, want wire.ErrForged", err)
	}
	n := 0
	for _, m := range alice.Conversation(g) {
		if m.Text == "second from the phone" {
			n++
			if m.Device != "" {
				t.Errorf("the phone's message shows from device %q", m.Device)
			}
		}
	}
	if n != 1 {
		t.Fatalf("alice shows the phone's message %d times, want once (from the phone)", n)
	}
}

// TestGroupWatchOnTwoDevices: alice has a phone and a laptop in a group
// with bob, who has a phone and a laptop too; the running watch on
// alice's laptop shows what bob's laptop and alice's phone write to the
// group as they write it, and the watch on bob's phone shows what alice's
// laptop writes.
func TestGroupWatchOnTwoDevices(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	alice, aliceID, _ := w.userOn("alice", []string{w.hubs[0]}, "")
	bob, bobID, _ := w.userOn("bob", []string{w.hubs[1]}, "")
	w.settle("alice", "bob")
	connect(t, alice, bob, "hi bob")
	aliceLaptop, _ := w.linkDevice("alice", "laptop", aliceID, w.hubs[0])
	bobLaptop, _ := w.linkDevice("bob", "laptop", bobID, w.hubs[1])
	for _, x := range []struct {
		c    *client.Client
		name string
	}{{aliceLaptop, "bob"}, {bobLaptop, "alice"}} {
		if err := x.c.AddFromOtherDevice(ctx, x.name); err != nil {
			t.Fatal(err)
		}
	}
	id, err := alice.CreateGroup(ctx, "pair", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	devs := []device{{"alice's phone", alice}, {"alice's laptop", aliceLaptop}, {"bob's phone", bob}, {"bob's laptop", bobLaptop}}
	g := client.GroupConv(id)
	await.NoError(t, 3*time.Minute, "every device in the group", func() error {
		var errs []error
		for _, d := range devs {
			d.c.SyncGroups(ctx)
			if _, err := d.c.FindGroup("pair"); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", d.label, err))
			}
		}
		return errors.Join(errs...)
	})
	var want []string
	for _, d := range devs {
		if _, err := d.c.SendEvent(ctx, g, &wire.Event{Kind: wire.KindText, Text: "keys from " + d.label}); err != nil {
			t.Fatal(err)
		}
		want = append(want, d.c.Name+":keys from "+d.label)
	}
	groupReadsAll(t, "pair", devs, want...) // every device holds every device's key
	onAliceLaptop, onBob := watchTexts(t, aliceLaptop), watchTexts(t, bob)
	if _, err := bobLaptop.SendEvent(ctx, g, &wire.Event{Kind: wire.KindText, Text: "from bob's laptop"}); err != nil {
		t.Fatal(err)
	}
	onAliceLaptop("from bob's laptop")
	onBob("from bob's laptop")
	if _, err := alice.SendEvent(ctx, g, &wire.Event{Kind: wire.KindText, Text: "from alice's phone"}); err != nil {
		t.Fatal(err)
	}
	onAliceLaptop("from alice's phone")
	onBob("from alice's phone")
	if _, err := aliceLaptop.SendEvent(ctx, g, &wire.Event{Kind: wire.KindText, Text: "from alice's laptop"}); err != nil {
		t.Fatal(err)
	}
	onBob("from alice's laptop")
}
