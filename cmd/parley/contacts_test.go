package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// world registers each name in its own home, all on hub, and waits until
// the first can find every other.
func world(t *testing.T, rpc, hub string, names ...string) map[string]string {
	t.Helper()
	homes := map[string]string{}
	for _, n := range names {
		homes[n] = filepath.Join(t.TempDir(), n)
		initHome(t, rpc, homes[n])
		parley(t, "--home", homes[n], "register", n, "--hub", hub)
	}
	for _, n := range names[1:] {
		awaitName(t, homes[names[0]], n)
	}
	return homes
}

// aliceAndBob registers alice on hub ha and bob on hub hb, each in a home
// of their own, and waits until each finds the other.
func aliceAndBob(t *testing.T, rpc, ha, hb string) (alice, bob string) {
	t.Helper()
	alice, bob = filepath.Join(t.TempDir(), "alice"), filepath.Join(t.TempDir(), "bob")
	initHome(t, rpc, alice)
	initHome(t, rpc, bob)
	parley(t, "--home", alice, "register", "alice", "--hub", ha)
	parley(t, "--home", bob, "register", "bob", "--hub", hb)
	awaitName(t, alice, "bob")
	awaitName(t, bob, "alice")
	return alice, bob
}

// inTouch makes from and to contacts: from asks (with greeting, if any
// is given), to accepts.
func inTouch(t *testing.T, from, to string, greeting ...string) {
	t.Helper()
	add := []string{"--home", from, "contacts", "add", filepath.Base(to)}
	if len(greeting) > 0 {
		add = append(add, "--message", greeting[0])
	}
	parley(t, add...)
	parley(t, "--home", to, "contacts", "accept", filepath.Base(from))
}

// TestGreetings: the first message the other side reads is each
// command's own default (add, add --known, reset), never another's.
func TestGreetings(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	h := world(t, rpc, hubs[0], "alice", "bob", "carol")

	parley(t, "--home", h["alice"], "contacts", "add", "bob")
	parley(t, "--home", h["bob"], "contacts", "accept", "alice")
	if out := parley(t, "--home", h["bob"], "read", "alice"); !strings.Contains(out, "alice: Hello! Let's talk on Parley.\n") {
		t.Fatalf("bob reads alice's request with the default greeting:\n%s", out)
	}

	parley(t, "--home", h["alice"], "contacts", "add", "carol", "--known") // alice sorts first: she writes the introduction
	parley(t, "--home", h["carol"], "contacts", "add", "alice", "--known")
	if out := parley(t, "--home", h["carol"], "read", "alice"); !strings.Contains(out, "alice: Hello! Let's talk on Parley.\n") {
		t.Fatalf("carol reads alice's --known greeting:\n%s", out)
	}
	if out := parley(t, "--home", h["alice"], "read", "carol"); !strings.Contains(out, "carol: Hello! Let's talk on Parley.\n") {
		t.Fatalf("alice reads carol's --known greeting:\n%s", out)
	}

	parley(t, "--home", h["alice"], "contacts", "reset", "bob")
	parley(t, "--home", h["bob"], "contacts", "accept", "alice")
	if out := parley(t, "--home", h["bob"], "read", "alice"); !strings.Contains(out, "alice: I restored an old backup: let's start over.\n") {
		t.Fatalf("bob reads alice's reset with its default greeting:\n%s", out)
	}
}

// TestContactListings: requests show their greeting before one accepts,
// contacts shows a request waiting for an answer, adding oneself is
// refused, and a removed contact can be added again.
func TestContactListings(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	h := world(t, rpc, hubs[0], "alice", "bob")

	for _, known := range [][]string{nil, {"--known"}} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"--home", h["alice"], "contacts", "add", "alice"}, known...), nil, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "parley: alice is your own name: add someone else's") {
			t.Fatalf("alice adds herself %v: exit %d\n%s%s", known, code, out.String(), errb.String())
		}
	}
	if out := parley(t, "--home", h["alice"], "contacts"); out != "" {
		t.Fatalf("contacts after adding herself:\n%s", out)
	}

	parley(t, "--home", h["alice"], "contacts", "add", "bob", "--message", "hi bob, alice from the climbing club")
	if out := parley(t, "--home", h["bob"], "requests"); !strings.Contains(out, "alice\t(signature verified against the chain): hi bob, alice from the climbing club\n") {
		t.Fatalf("bob's requests:\n%s", out)
	}
	if out := parley(t, "--home", h["alice"], "contacts"); out != "bob\trequest sent, waiting for bob to accept\n" {
		t.Fatalf("alice's contacts while bob has not answered:\n%q", out)
	}
	parley(t, "--home", h["bob"], "contacts", "accept", "alice")
	parley(t, "--home", h["bob"], "read", "alice")
	if out := parley(t, "--home", h["alice"], "contacts"); !strings.HasPrefix(out, "bob\tkeys as confirmed") {
		t.Fatalf("alice's contacts once bob accepted:\n%q", out)
	}

	// Removed, then added again: a new conversation both ways.
	parley(t, "--home", h["alice"], "contacts", "remove", "bob")
	parley(t, "--home", h["alice"], "contacts", "add", "bob", "--message", "sorry, I removed you by mistake")
	if out := parley(t, "--home", h["bob"], "requests"); !strings.Contains(out, "alice\t(signature verified against the chain): sorry, I removed you by mistake\n") {
		t.Fatalf("bob's requests after alice removed him and added him again:\n%s", out)
	}
	parley(t, "--home", h["bob"], "contacts", "accept", "alice")
	if out := parley(t, "--home", h["bob"], "read", "alice"); !strings.Contains(out, "alice: sorry, I removed you by mistake") {
		t.Fatalf("bob reads:\n%s", out)
	}
	parley(t, "--home", h["bob"], "send", "alice", "no harm done")
	if out := parley(t, "--home", h["alice"], "read", "bob"); !strings.Contains(out, "bob: no harm done") {
		t.Fatalf("alice reads:\n%s", out)
	}
}
