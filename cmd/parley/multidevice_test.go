package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/await"
)

// TestTwoDevicesFromTheCLI: alice on her first device and on a laptop she
// links ('parley link' there, 'parley devices add' on the first), bob on
// one device, each a home run by the real command tree against a real
// chain node and hubs. Bob's message reaches both of alice's devices;
// what the laptop sends reaches bob as alice's and shows on the first
// device too; once alice removes the laptop ('parley devices remove'),
// bob's next message reaches the first device only, and what the laptop
// writes after its removal never shows at bob's.
func TestTwoDevicesFromTheCLI(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	homes := users(t, rpc, hubs[0], "alice", "bob")
	phone, bob := homes["alice"], homes["bob"]
	befriend(t, homes, "alice", "bob")

	laptop := filepath.Join(t.TempDir(), "alice-laptop")
	code, out, errb, done := startLink(t, rpc, laptop, "--label", "laptop", "--name", "alice")
	parley(t, "--home", phone, "devices", "add", code, "--yes")
	if c := <-done; c != 0 {
		t.Fatalf("link: exit %d\n%s%s", c, out.String(), errb.String())
	}
	awaitName(t, bob, "alice", "device-add")

	parley(t, "--home", bob, "send", "alice", "hello, both of you")
	for _, h := range []string{phone, laptop} {
		if got := parley(t, "--home", h, "read", "bob"); !strings.Contains(got, "bob: hello, both of you") {
			t.Fatalf("%s reads bob:\n%s", filepath.Base(h), got)
		}
	}

	parley(t, "--home", laptop, "send", "bob", "from the laptop")
	if got := parley(t, "--home", bob, "read", "alice"); !strings.Contains(got, "alice: from the laptop") {
		t.Fatalf("bob reads alice:\n%s", got)
	}
	if got := parley(t, "--home", phone, "read", "bob"); !strings.Contains(got, "from the laptop") {
		t.Fatalf("alice's first device does not show what the laptop sent:\n%s", got)
	}

	if got := parley(t, "--home", phone, "devices", "remove", "laptop"); !strings.Contains(got, "removed laptop (ed25519:") {
		t.Fatalf("devices remove:\n%s", got)
	}
	awaitName(t, bob, "alice", "device-remove")
	parley(t, "--home", bob, "send", "alice", "only the first device now")
	if got := parley(t, "--home", phone, "read", "bob"); !strings.Contains(got, "bob: only the first device now") {
		t.Fatalf("alice's first device reads bob:\n%s", got)
	}
	if _, got, errs := try(laptop, "read", "bob"); strings.Contains(got, "only the first device now") {
		t.Fatalf("the removed laptop reads what bob sent after its removal:\n%s%s", got, errs)
	}
	try(laptop, "send", "bob", "still here") // it may reach its own hub; bob's device must not show it
	parley(t, "--home", phone, "send", "bob", "the first device again")
	await.NoError(t, 2*time.Minute, "bob to read alice's first device", func() error {
		got := parley(t, "--home", bob, "read", "alice")
		if strings.Contains(got, "still here") {
			t.Fatalf("bob shows what the removed laptop sent:\n%s", got)
		}
		if !strings.Contains(got, "alice: the first device again") {
			return os.ErrNotExist
		}
		return nil
	})
}

// linkLaptop links a laptop to alice's name (home phone): 'parley link' on
// it, 'parley devices add' on the phone; it returns the laptop's home once
// other's node sees the device on alice's record.
func linkLaptop(t *testing.T, rpc, phone, other string) string {
	t.Helper()
	laptop := filepath.Join(t.TempDir(), "alice-laptop")
	code, out, errb, done := startLink(t, rpc, laptop, "--label", "laptop", "--name", "alice")
	parley(t, "--home", phone, "devices", "add", code, "--yes")
	if c := <-done; c != 0 {
		t.Fatalf("link: exit %d\n%s%s", c, out.String(), errb.String())
	}
	awaitName(t, other, "alice", "device-add")
	return laptop
}

// TestLinkedDeviceMakesAContact: alice, on the laptop she linked, asks
// carol, whom she never talked to; carol sees the request with its
// greeting, from alice's device "laptop", and accepts; carol's reply
// reaches both of alice's devices; alice's first device lists carol as a
// contact and what it sends reaches carol.
func TestLinkedDeviceMakesAContact(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	homes := users(t, rpc, hubs[0], "alice", "carol")
	phone, carol := homes["alice"], homes["carol"]
	laptop := linkLaptop(t, rpc, phone, carol)

	if got := parley(t, "--home", laptop, "contacts", "add", "carol", "--message", "hi, it's alice on my laptop"); !strings.Contains(got, "request sent to carol") {
		t.Fatalf("contacts add on the laptop:\n%s", got)
	}
	want := "alice\t(from their device \"laptop\"; signature verified against the chain): hi, it's alice on my laptop"
	if got := parley(t, "--home", carol, "requests"); !strings.Contains(got, want) {
		t.Fatalf("carol's requests:\n%s\nwant a line %q", got, want)
	}
	parley(t, "--home", carol, "contacts", "accept", "alice")
	if got := parley(t, "--home", carol, "read", "alice"); !strings.Contains(got, "alice: hi, it's alice on my laptop") {
		t.Fatalf("carol reads alice:\n%s", got)
	}
	parley(t, "--home", carol, "send", "alice", "hello alice, carol here")
	for _, h := range []string{laptop, phone} {
		if got := parley(t, "--home", h, "read", "carol"); !strings.Contains(got, "carol: hello alice, carol here") {
			t.Fatalf("%s reads carol:\n%s", filepath.Base(h), got)
		}
	}
	if got := parley(t, "--home", phone, "contacts"); !strings.Contains(got, "carol") {
		t.Fatalf("alice's first device does not list carol:\n%s", got)
	}
	parley(t, "--home", phone, "send", "carol", "and from my first device")
	if got := parley(t, "--home", carol, "read", "alice"); !strings.Contains(got, "alice: and from my first device") {
		t.Fatalf("carol reads alice's first device:\n%s", got)
	}
	if got := parley(t, "--home", laptop, "read", "carol"); !strings.Contains(got, "and from my first device") {
		t.Fatalf("the laptop does not show what the first device sent carol:\n%s", got)
	}
}

// TestReadOnAnyDevice: bob's message to alice, read on her laptop only,
// shows as read at bob's: the laptop writes a receipt in its device-pair
// session with bob's device, and bob takes the greatest of what alice's
// devices say. What the laptop sends bob shows there as read once bob
// read it.
func TestReadOnAnyDevice(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	homes := users(t, rpc, hubs[0], "alice", "bob")
	phone, bob := homes["alice"], homes["bob"]
	befriend(t, homes, "alice", "bob")
	laptop := linkLaptop(t, rpc, phone, bob)

	parley(t, "--home", bob, "send", "alice", "read me anywhere")
	if got := parley(t, "--home", bob, "read", "alice"); !strings.Contains(got, "bob: read me anywhere [sent]") {
		t.Fatalf("bob's message before alice read it:\n%s", got)
	}
	if got := parley(t, "--home", laptop, "read", "bob"); !strings.Contains(got, "bob: read me anywhere") {
		t.Fatalf("the laptop reads bob:\n%s", got)
	}
	if got := parley(t, "--home", bob, "read", "alice"); !strings.Contains(got, "bob: read me anywhere [read]") {
		t.Fatalf("bob's message, read on alice's laptop:\n%s", got)
	}

	// And the other way: what the laptop sends, read by bob, is read.
	parley(t, "--home", laptop, "send", "bob", "sent from the laptop")
	if got := parley(t, "--home", bob, "read", "alice"); !strings.Contains(got, "alice: sent from the laptop") {
		t.Fatalf("bob reads the laptop:\n%s", got)
	}
	if got := parley(t, "--home", laptop, "read", "bob"); !strings.Contains(got, "alice: sent from the laptop [read]") {
		t.Fatalf("the laptop's message, read by bob:\n%s", got)
	}
}

// TestRequestOnTheLinkedDevice: dave asks alice while only her laptop (a
// linked device) runs its watch: the request reaches the laptop's own
// inbox and its watch shows it; alice accepts there; dave's greeting and
// the laptop's answer go both ways; her first device, started later,
// takes the conversation on from the laptop's word and its own copy of
// the request, shows the greeting, and what it sends reaches dave.
func TestRequestOnTheLinkedDevice(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	homes := users(t, rpc, hubs[0], "alice", "dave")
	phone, dave := homes["alice"], homes["dave"]
	laptop := linkLaptop(t, rpc, phone, dave)

	wctx, stopWatch := context.WithCancel(context.Background())
	var wout syncBuffer
	watchDone := make(chan int)
	go func() { watchDone <- run(wctx, []string{"--home", laptop, "watch"}, nil, &wout, &wout) }()
	defer func() { stopWatch(); <-watchDone }()
	parley(t, "--home", dave, "contacts", "add", "alice", "--message", "hi alice, dave here")
	awaitOutput(t, "the laptop's watch to show dave's request", &wout, "dave wants to become a contact (signature checked against the chain): hi alice, dave here")

	parley(t, "--home", laptop, "contacts", "accept", "dave")
	if got := parley(t, "--home", laptop, "read", "dave"); !strings.Contains(got, "dave: hi alice, dave here") {
		t.Fatalf("the laptop reads dave:\n%s", got)
	}
	parley(t, "--home", laptop, "send", "dave", "hi dave, from my laptop")
	if got := parley(t, "--home", dave, "read", "alice"); !strings.Contains(got, "alice: hi dave, from my laptop") {
		t.Fatalf("dave reads alice:\n%s", got)
	}

	if got := parley(t, "--home", phone, "contacts"); !strings.Contains(got, "dave") {
		t.Fatalf("alice's first device does not list dave:\n%s", got)
	}
	if got := parley(t, "--home", phone, "read", "dave"); !strings.Contains(got, "dave: hi alice, dave here") || !strings.Contains(got, "alice: hi dave, from my laptop") {
		t.Fatalf("alice's first device reads dave:\n%s", got)
	}
	parley(t, "--home", phone, "send", "dave", "and from my phone")
	if got := parley(t, "--home", dave, "read", "alice"); !strings.Contains(got, "alice: and from my phone") {
		t.Fatalf("dave reads alice's first device:\n%s", got)
	}
	if got := parley(t, "--home", phone, "requests"); strings.Contains(got, "dave") {
		t.Fatalf("dave's request still waits on the first device:\n%s", got)
	}
}

// TestGroupOnTwoDevicesEachFromTheCLI: alice and bob each have a first
// device and a laptop they linked ('parley link', 'devices add'), carol
// one device; alice's first device makes a group of the three. Every
// device of every member shows every member's messages, those written on
// the laptops included, each as its member's (alice's laptop's message
// shows on her first device as her own); what alice reads on her laptop
// is read on her first device ('group list' counts what is unread); a
// rename, an invitation and a removal reach every device; once bob
// removes his laptop ('devices remove'), it reads nothing written after,
// and nothing it writes after is shown anywhere.
func TestGroupOnTwoDevicesEachFromTheCLI(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	homes := users(t, rpc, hubs[0], "alice", "bob", "carol", "dave")
	befriend(t, homes, "alice", "bob")
	befriend(t, homes, "alice", "carol")
	befriend(t, homes, "alice", "dave")
	laptops := map[string]string{}
	for _, n := range []string{"alice", "bob"} {
		laptops[n] = filepath.Join(t.TempDir(), n+"-laptop")
		code, out, errb, done := startLink(t, rpc, laptops[n], "--label", "laptop", "--name", n)
		parley(t, "--home", homes[n], "devices", "add", code, "--yes")
		if c := <-done; c != 0 {
			t.Fatalf("%s's link: exit %d\n%s%s", n, c, out.String(), errb.String())
		}
		awaitName(t, homes["carol"], n, "device-add")
	}
	type device struct{ label, name, home string }
	devs := []device{{"alice's phone", "alice", homes["alice"]}, {"alice's laptop", "alice", laptops["alice"]},
		{"bob's phone", "bob", homes["bob"]}, {"bob's laptop", "bob", laptops["bob"]}, {"carol", "carol", homes["carol"]}}
	all := func(ds []device) (out []string) {
		for _, d := range ds {
			out = append(out, d.home)
		}
		return out
	}
	everyDeviceReads := func(what, group string, ds []device, want ...string) {
		t.Helper()
		groupUntil(t, what, group, all(ds), func() bool {
			for _, d := range ds {
				if !reads(t, d.home, group, want...) {
					return false
				}
			}
			return true
		})
	}

	parley(t, "--home", homes["alice"], "group", "create", "crew", "bob", "carol")
	everyDeviceReads("every device in the group", "crew", devs)
	var hellos []string
	for _, d := range devs {
		parley(t, "--home", d.home, "group", "send", "crew", "hello from "+d.label)
		hellos = append(hellos, d.name+": hello from "+d.label)
	}
	everyDeviceReads("every device reads every device", "crew", devs, hellos...)

	// Read on the laptop, read on the first device.
	parley(t, "--home", homes["carol"], "group", "send", "crew", "news from carol")
	unread := func(home string) string {
		for _, line := range strings.Split(parley(t, "--home", home, "group", "list"), "\n") {
			if strings.HasPrefix(line, "crew\t") {
				return line
			}
		}
		return ""
	}
	await.NoError(t, 2*time.Minute, "alice's devices to count carol's news unread", func() error {
		for _, h := range []string{homes["alice"], laptops["alice"]} {
			if l := unread(h); !strings.HasSuffix(l, "\t1 unread") {
				return fmt.Errorf("%s: %q", filepath.Base(h), l)
			}
		}
		return nil
	})
	if !reads(t, laptops["alice"], "crew", "carol: news from carol") {
		t.Fatal("alice's laptop does not show carol's news")
	}
	await.NoError(t, 2*time.Minute, "alice's first device to learn what the laptop read", func() error {
		if l := unread(homes["alice"]); strings.Contains(l, "unread") {
			return fmt.Errorf("%q", l)
		}
		return nil
	})

	// The group's changes reach every device.
	parley(t, "--home", homes["alice"], "group", "rename", "crew", "the crew")
	parley(t, "--home", homes["alice"], "group", "invite", "the crew", "dave")
	everyDeviceReads("the rename and dave's invitation on every device", "the crew", devs, "alice renamed the group to the crew", "alice added dave")
	everyDeviceReads("dave in the group", "the crew", []device{{"dave", "dave", homes["dave"]}}, "alice added you to the crew")
	parley(t, "--home", homes["alice"], "group", "remove", "the crew", "dave")
	everyDeviceReads("dave's removal on every device", "the crew", devs, "alice removed dave")

	// Bob removes his laptop.
	if got := parley(t, "--home", homes["bob"], "devices", "remove", "laptop"); !strings.Contains(got, "removed laptop (ed25519:") {
		t.Fatalf("devices remove:\n%s", got)
	}
	for _, h := range []string{homes["alice"], laptops["alice"], homes["carol"]} {
		awaitName(t, h, "bob", "device-remove")
	}
	left := slices.DeleteFunc(slices.Clone(devs), func(d device) bool { return d.home == laptops["bob"] })
	var afters []string
	for _, d := range left {
		parley(t, "--home", d.home, "group", "send", "the crew", "after the laptop left, "+d.label)
		afters = append(afters, d.name+": after the laptop left, "+d.label)
	}
	try(laptops["bob"], "group", "send", "the crew", "from the removed laptop") // its own hubs may take it
	everyDeviceReads("every device left reads what was written after the removal", "the crew", left, afters...)
	parley(t, "--home", homes["carol"], "group", "send", "the crew", "the last word")
	everyDeviceReads("the last word", "the crew", left, "carol: the last word")
	for _, d := range left {
		if _, got, _ := try(d.home, "group", "read", "the crew"); strings.Contains(got, "from the removed laptop") {
			t.Errorf("%s shows what bob's laptop wrote after its removal:\n%s", d.label, got)
		}
	}
	if _, got, errs := try(laptops["bob"], "group", "read", "the crew"); strings.Contains(got, "after the laptop left") || strings.Contains(got, "the last word") {
		t.Errorf("bob's removed laptop reads what was written after its removal:\n%s%s", got, errs)
	}
}

// TestSettingsTravel: settings made on one of alice's devices hold on the
// other. She blocks bob on her phone: her laptop no longer shows what bob
// sends, nor writes to him, and lists him as blocked. She unblocks him on
// the laptop: the phone shows bob's next message (and not what he sent
// while blocked). She turns read receipts off on the phone: what she
// reads on the laptop shows to bob as not read. She changes her display
// name and status on the phone: the laptop shows them as her own.
func TestSettingsTravel(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	homes := users(t, rpc, hubs[0], "alice", "bob")
	phone, bob := homes["alice"], homes["bob"]
	befriend(t, homes, "alice", "bob")
	laptop := linkLaptop(t, rpc, phone, bob)

	parley(t, "--home", bob, "send", "alice", "before the block")
	for _, h := range []string{phone, laptop} {
		if got := parley(t, "--home", h, "read", "bob"); !strings.Contains(got, "bob: before the block") {
			t.Fatalf("%s reads bob:\n%s", filepath.Base(h), got)
		}
	}

	if got := parley(t, "--home", phone, "block", "bob"); !strings.Contains(got, "blocked bob") {
		t.Fatalf("block on the phone:\n%s", got)
	}
	parley(t, "--home", bob, "send", "alice", "while blocked")
	if got := parley(t, "--home", laptop, "read", "bob"); strings.Contains(got, "while blocked") {
		t.Fatalf("the laptop shows what bob sent after the phone blocked him:\n%s", got)
	}
	if got := parley(t, "--home", laptop, "settings"); !strings.Contains(got, "blocked: bob\n") {
		t.Fatalf("the laptop's settings after the phone blocked bob:\n%s", got)
	}
	if code, _, errs := try(laptop, "send", "bob", "to a blocked name"); code == 0 || !strings.Contains(errs, "bob is blocked") {
		t.Fatalf("the laptop writes to bob, blocked on the phone: exit %d\n%s", code, errs)
	}

	if got := parley(t, "--home", laptop, "unblock", "bob"); !strings.Contains(got, "unblocked bob") {
		t.Fatalf("unblock on the laptop:\n%s", got)
	}
	parley(t, "--home", bob, "send", "alice", "after the unblock")
	got := parley(t, "--home", phone, "read", "bob")
	if !strings.Contains(got, "bob: after the unblock") {
		t.Fatalf("the phone does not show bob's message after the laptop unblocked him:\n%s", got)
	}
	if strings.Contains(got, "while blocked") {
		t.Fatalf("the phone shows what bob sent while blocked:\n%s", got)
	}
	if got := parley(t, "--home", phone, "settings"); !strings.Contains(got, "blocked: \n") {
		t.Fatalf("the phone's settings after the laptop unblocked bob:\n%s", got)
	}

	if got := parley(t, "--home", phone, "settings", "read-receipts", "off"); !strings.Contains(got, "read-receipts: off") {
		t.Fatalf("read-receipts off on the phone:\n%s", got)
	}
	parley(t, "--home", bob, "send", "alice", "read me on the laptop")
	if got := parley(t, "--home", laptop, "read", "bob"); !strings.Contains(got, "bob: read me on the laptop") {
		t.Fatalf("the laptop reads bob:\n%s", got)
	}
	if got := parley(t, "--home", laptop, "settings"); !strings.Contains(got, "read-receipts: off") {
		t.Fatalf("the laptop's settings after the phone turned receipts off:\n%s", got)
	}
	got = parley(t, "--home", bob, "read", "alice")
	if !strings.Contains(got, "bob: read me on the laptop [") || strings.Contains(got, "bob: read me on the laptop [read]") {
		t.Fatalf("bob's message, read on alice's laptop with receipts off on her phone:\n%s", got)
	}

	// Her profile, changed on the phone, is the laptop's own once it reads.
	parley(t, "--home", phone, "profile", "set", "--name", "Alice A.", "--status", "set on the phone")
	parley(t, "--home", laptop, "read", "bob")
	if got := parley(t, "--home", laptop, "profile"); !strings.Contains(got, "name:   Alice A.\nstatus: set on the phone\n") {
		t.Fatalf("the laptop's own profile after the phone changed it:\n%s", got)
	}
}
