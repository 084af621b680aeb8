package main

import (
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
