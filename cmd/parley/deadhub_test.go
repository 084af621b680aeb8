package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestDeadHubReplaced: alice has one hub, and it dies for good with a
// message bob had not fetched on it and one queued. 'parley name hubs NEW'
// succeeds: it says that nothing could be copied from the dead hub, writes
// anew what her device holds (the queued message, the index, her receipt
// and profile) and says what is lost. Bob then reads her queued message
// and her new ones, with no wait for the lost one, and her profile.
func TestDeadHubReplaced(t *testing.T) {
	rpc, _ := startWorld(t)
	dead, other, fresh := startStoppableHub(t), startStoppableHub(t), startStoppableHub(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	alice, bob := filepath.Join(t.TempDir(), "alice"), filepath.Join(t.TempDir(), "bob")
	initHome(t, rpc, alice)
	initHome(t, rpc, bob)
	parley(t, "--home", alice, "register", "alice", "--hub", dead.URL)
	parley(t, "--home", bob, "register", "bob", "--hub", other.URL)
	awaitName(t, alice, "bob")
	awaitName(t, bob, "alice")
	parley(t, "--home", alice, "profile", "set", "--name", "Alice A.")
	parley(t, "--home", alice, "contacts", "add", "bob", "--message", "hello bob")
	parley(t, "--home", bob, "contacts", "accept", "alice")
	parley(t, "--home", bob, "read", "alice")
	parley(t, "--home", bob, "send", "alice", "hello alice")
	parley(t, "--home", alice, "read", "bob")
	parley(t, "--home", alice, "send", "bob", "only on the dead hub")

	dead.stop() // for good
	if out, errs := fails(t, 0, "--home", alice, "send", "bob", "queued while the hub is dead"); !strings.HasPrefix(out, "queued (alice/") {
		t.Fatalf("send with the hub dead:\n%s%s", out, errs)
	}

	out := parley(t, "--home", alice, "name", "hubs", fresh.URL)
	t.Logf("name hubs:\n%s", out)
	for _, want := range []string{
		"copied 0 objects to " + fresh.URL + " (0 were there already), republished ",
		"could not copy: hub " + dead.URL + " does not answer (connection refused)",
		"lost: 1 of your messages to bob that they had not fetched (only hubs that did not answer held them)",
		"alice's hubs are now " + fresh.URL,
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("name hubs with the only hub dead, without %q:\n%s", want, out)
		}
	}

	awaitName(t, bob, "alice", "hubs:     "+fresh.URL+"\n")
	parley(t, "--home", alice, "send", "bob", "after the move")
	out = parley(t, "--home", bob, "read", "alice")
	for _, want := range []string{"alice: hello bob", "alice: queued while the hub is dead", "alice: after the move", "bob: hello alice [read]"} {
		if !strings.Contains(out, want) {
			t.Fatalf("bob reads after alice replaced her dead hub, without %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "only on the dead hub") {
		t.Fatalf("bob reads a message only the dead hub held:\n%s", out)
	}
	if out := parley(t, "--home", bob, "profile", "alice"); !strings.Contains(out, "name:   Alice A.") {
		t.Fatalf("alice's profile after the move:\n%s", out)
	}
	if out := parley(t, "--home", alice, "read", "bob"); !strings.Contains(out, "alice: queued while the hub is dead [read]") {
		t.Fatalf("alice reads after bob did:\n%s", out)
	}
}
