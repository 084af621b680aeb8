package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// linkCodeRE is a link code as 'parley link' prints it.
var linkCodeRE = regexp.MustCompile(`link code: ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z])\n`)

// startLink runs 'parley link' in home with args in the background and
// returns the code it prints, its output, and a channel giving its exit
// code.
func startLink(t *testing.T, rpc, home string, args ...string) (string, *syncBuffer, *syncBuffer, chan int) {
	t.Helper()
	out, errb := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- runWith(context.Background(), testRun(), append([]string{"--home", home, "link", "--node", rpc}, args...), nil, out, errb)
	}()
	awaitOutput(t, "the link code of "+home, out, "waiting for it")
	m := linkCodeRE.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("link printed no code:\n%s%s", out.String(), errb.String())
	}
	return m[1], out, errb, done
}

// TestLinkDevice: alice links a laptop. On the laptop 'parley link'
// prints a code and waits; on her first device 'devices add CODE'
// approves it; the laptop opens the welcome and becomes a device of
// alice with her contacts. 'devices' lists both on each side, bob's
// whois shows the device added and by whom, and bob's conversation with
// alice has a quiet notice (no key-change warning: he writes on). Then
// alice removes the laptop: whois says so, and the removed laptop can
// no longer approve a device.
func TestLinkDevice(t *testing.T) {
	rpc, hubs := startWorldWith(t, longOffers)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	homes := users(t, rpc, hubs[0], "alice", "bob")
	befriend(t, homes, "alice", "bob")
	laptop := filepath.Join(t.TempDir(), "alice-laptop")

	code, out, errb, done := startLink(t, rpc, laptop, "--label", "laptop", "--name", "alice")
	added := parley(t, "--home", homes["alice"], "devices", "add", strings.ToLower(strings.ReplaceAll(code, "-", "")), "--yes", "--history")
	if !strings.Contains(added, `device "laptop", key ed25519:`) || !strings.Contains(added, "added laptop to alice at height ") {
		t.Fatalf("devices add:\n%s", added)
	}
	if c := <-done; c != 0 {
		t.Fatalf("link: exit %d\n%s%s", c, out.String(), errb.String())
	}
	if !regexp.MustCompile(`this device is alice's laptop now \(approved by first\): 1 contacts, 0 groups, [1-9]\d* messages\n`).MatchString(out.String()) {
		t.Fatalf("link:\n%s", out.String())
	}
	// The history came with the welcome (--history): the laptop shows it.
	if _, got, _ := try(laptop, "read", "bob"); !strings.Contains(got, "bob: hi alice") {
		t.Errorf("the laptop's conversation with bob:\n%s", got)
	}

	for home, this := range map[string]string{homes["alice"]: "first", laptop: "laptop"} {
		got := parley(t, "--home", home, "devices")
		if !regexp.MustCompile(`\n  first +ed25519:[0-9a-f]{16}…  first device`).MatchString(got) ||
			!regexp.MustCompile(`\n  laptop +ed25519:[0-9a-f]{16}…  added at height \d+`).MatchString(got) ||
			!regexp.MustCompile(`\n  `+this+` .*\(this device\)\n`).MatchString(got) || strings.Count(got, "(this device)") != 1 {
			t.Errorf("devices on %s's device:\n%s", this, got)
		}
	}
	if got := parley(t, "--home", laptop, "status"); !strings.Contains(got, "keys:     the chain holds this device's keys") {
		t.Errorf("the laptop's status:\n%s", got)
	}
	if c, out, errs := try(laptop, "name", "renew"); c != 0 || !strings.Contains(out, "renewed alice at height ") {
		t.Errorf("the laptop renews alice (a listed device may): exit %d\n%s%s", c, out, errs) // history entry 3
	}
	if got := parley(t, "--home", laptop, "contacts"); !strings.Contains(got, "bob") {
		t.Errorf("the laptop's contacts:\n%s", got)
	}
	who := awaitName(t, homes["bob"], "alice", "device-add")
	if !regexp.MustCompile(`\n +2  height \d+ +device-add laptop ed25519:[0-9a-f]{16}… \(by first\)\n`).MatchString(who) {
		t.Fatalf("bob's whois alice:\n%s", who)
	}
	// Bob goes on writing: a device added is no key change.
	parley(t, "--home", homes["bob"], "send", "alice", "after your new laptop")
	if got := parley(t, "--home", homes["bob"], "read", "alice"); !strings.Contains(got, "· alice added a device: laptop (ed25519:") || strings.Contains(got, "keys changed") {
		t.Fatalf("bob's conversation with alice:\n%s", got)
	}
	if got := parley(t, "--home", homes["alice"], "read", "bob"); !strings.Contains(got, "bob: after your new laptop") {
		t.Fatalf("alice reads:\n%s", got)
	}

	removed := parley(t, "--home", homes["alice"], "devices", "remove", "laptop")
	if !strings.Contains(removed, "removed laptop (ed25519:") {
		t.Fatalf("devices remove:\n%s", removed)
	}
	who = awaitName(t, homes["bob"], "alice", "device-remove")
	if !regexp.MustCompile(`\n +4  height \d+ +device-remove laptop ed25519:[0-9a-f]{16}… \(by first\)\n`).MatchString(who) {
		t.Fatalf("bob's whois alice after the removal:\n%s", who)
	}
	if got := parley(t, "--home", homes["bob"], "read", "alice"); !strings.Contains(got, "· alice removed a device: laptop (ed25519:") {
		t.Fatalf("bob's conversation with alice after the removal:\n%s", got)
	}

	if got := parley(t, "--home", laptop, "status"); !strings.Contains(got, "keys:     WARNING: ") || !strings.Contains(got, "this device was linked to it and has been removed") {
		t.Errorf("the removed laptop's status:\n%s", got)
	}
	// The removed laptop approves a device of a thief's: refused.
	thief := filepath.Join(t.TempDir(), "thief")
	code, _, _, tdone := startLink(t, rpc, thief, "--label", "phone", "--wait", "1m")
	c, _, errs := try(laptop, "devices", "add", code, "--yes")
	if c != 1 || !strings.Contains(errs, "parley: this device is no longer a device of alice") {
		t.Fatalf("the removed laptop approves a device: exit %d\n%s", c, errs)
	}
	if got := parley(t, "--home", homes["alice"], "devices"); strings.Contains(got, "phone") || strings.Contains(got, "laptop") {
		t.Fatalf("alice's devices after the attempt:\n%s", got)
	}
	<-tdone
}

// TestLinkCodeOfAnotherName: mallory sees the code alice's new device
// shows and adds that device to his own name first. Told it joins alice
// (--name), the device's offer is bound to alice on the chain: mallory is
// refused and alice then adds it. Without --name, the offer is anyone's:
// mallory takes it, the new device asks whose name that is, and the
// person says no.
func TestLinkCodeOfAnotherName(t *testing.T) {
	rpc, hubs := startWorldWith(t, longOffers)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	homes := users(t, rpc, hubs[0], "alice", "mallory")
	tablet := filepath.Join(t.TempDir(), "alice-tablet")
	code, out, errb, done := startLink(t, rpc, tablet, "--label", "tablet", "--name", "alice")
	// Mallory, who saw the code (over a shoulder, a QR code on a screen),
	// adds it to his name first: the offer names alice, and the chain
	// takes it for no other name.
	c, mout, errs := try(homes["mallory"], "devices", "add", code, "--yes")
	if c != 1 || !strings.Contains(errs, "parley: the device with code "+code+" offers itself to alice only, not to mallory") {
		t.Fatalf("mallory takes alice's tablet's code first: exit %d\n%s%s", c, mout, errs)
	}
	// Alice, after him, adds her tablet.
	parley(t, "--home", homes["alice"], "devices", "add", code, "--yes")
	if c := <-done; c != 0 || !strings.Contains(out.String(), "this device is alice's tablet now") {
		t.Fatalf("the tablet, added by alice after mallory tried: exit %d\n%s%s", c, out.String(), errb.String())
	}
	if got := parley(t, "--home", homes["mallory"], "devices"); strings.Contains(got, "tablet") {
		t.Fatalf("mallory's devices:\n%s", got)
	}

	// Without --name the device asks, and a "no" takes nothing.
	phone := filepath.Join(t.TempDir(), "alice-phone")
	pout, perr := &syncBuffer{}, &syncBuffer{}
	pdone := make(chan int, 1)
	asked := make(chan string, 1)
	ask := func(prompt string) ([]byte, error) {
		if strings.Contains(prompt, "passphrase") {
			return []byte("a test passphrase"), nil
		}
		asked <- prompt
		return []byte("n\n"), nil
	}
	go func() {
		pdone <- runWith(context.Background(), testRunAsking(ask), []string{"--home", phone, "link", "--node", rpc, "--label", "phone"}, nil, pout, perr)
	}()
	awaitOutput(t, "the phone's link code", pout, "waiting for it")
	m := linkCodeRE.FindStringSubmatch(pout.String())
	parley(t, "--home", homes["mallory"], "devices", "add", m[1], "--yes")
	if q := <-asked; !strings.Contains(q, `added to "mallory": is that your name? [y/N]`) {
		t.Fatalf("the phone asked %q", q)
	}
	if c := <-pdone; c != 1 || !strings.Contains(perr.String(), "parley: not approved; nothing was changed") {
		t.Fatalf("the phone, answered no: exit %d\n%s%s", c, pout.String(), perr.String())
	}
}
