package main

import (
	"strings"
	"testing"
)

// TestGroupMembersWhoDeclinedEachOther: carol declined bob's contact
// request; alice makes a group of the three. All three read each other's
// group messages, and still do after carol and bob later become contacts.
// The group's notices (made, joined, renamed, removed, left) are in every
// member's history.
func TestGroupMembersWhoDeclinedEachOther(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	homes := users(t, rpc, hubs[0], "alice", "bob", "carol", "dave")
	alice, bob, carol, dave := homes["alice"], homes["bob"], homes["carol"], homes["dave"]
	befriend(t, homes, "alice", "bob")
	befriend(t, homes, "alice", "carol")
	befriend(t, homes, "alice", "dave")
	parley(t, "--home", bob, "contacts", "add", "carol", "--message", "hi carol, bob here")
	parley(t, "--home", carol, "contacts", "decline", "bob")

	parley(t, "--home", alice, "group", "create", "crew", "bob", "carol")
	members := []string{alice, bob, carol}
	for _, n := range []string{"alice", "bob", "carol"} {
		groupUntil(t, n+" is in the group", "crew", members, func() bool { return reads(t, homes[n], "crew") })
		parley(t, "--home", homes[n], "group", "send", "crew", "hello from "+n)
	}
	everyoneReads := func(what string) {
		t.Helper()
		groupUntil(t, "everyone reads "+what, "crew", members, func() bool {
			for _, n := range []string{"alice", "bob", "carol"} {
				for _, m := range []string{"alice", "bob", "carol"} {
					if !reads(t, homes[n], "crew", m+": "+what+" from "+m) {
						return false
					}
				}
			}
			return true
		})
	}
	everyoneReads("hello")

	// They meet later: carol asks, bob accepts.
	parley(t, "--home", carol, "contacts", "add", "bob", "--message", "let's talk after all")
	parley(t, "--home", bob, "contacts", "accept", "carol")
	for _, n := range []string{"alice", "bob", "carol"} {
		parley(t, "--home", homes[n], "group", "send", "crew", "again from "+n)
	}
	everyoneReads("again")
	if out := parley(t, "--home", alice, "group", "timer", "crew", "1h"); out != "messages in the group crew now disappear 1h0m0s after they are sent (from the reader's device, 1h0m0s after they are read)\n" {
		t.Errorf("group timer says %q", out)
	}
	if out := parley(t, "--home", alice, "group", "timer", "crew", "0"); out != "disappearing messages in the group crew: off\n" {
		t.Errorf("group timer 0 says %q", out)
	}

	// The roster's changes, in every member's history.
	parley(t, "--home", alice, "group", "rename", "crew", "the crew")
	parley(t, "--home", alice, "group", "invite", "the crew", "dave")
	members = append(members, dave)
	groupUntil(t, "dave is in the group", "the crew", members, func() bool { return reads(t, dave, "the crew") })
	parley(t, "--home", alice, "group", "remove", "the crew", "dave")
	groupUntil(t, "dave is out", "the crew", members, func() bool {
		return reads(t, dave, "the crew", "alice removed you") && reads(t, carol, "the crew", "alice removed dave")
	})
	parley(t, "--home", carol, "group", "leave", "the crew")
	groupUntil(t, "carol is out", "the crew", members, func() bool {
		return reads(t, alice, "the crew", "carol left") && reads(t, bob, "the crew", "carol left")
	})
	for n, want := range map[string][]string{
		"alice": {"· alice made the group crew with bob, carol", "· alice renamed the group to the crew", "· alice added dave", "· alice removed dave", "· carol left"},
		"bob":   {"· alice added you to crew (alice, bob, carol)", "· alice renamed the group to the crew", "· alice added dave", "· alice removed dave", "· carol left"},
		"carol": {"· alice added you to crew (alice, bob, carol)", "· alice renamed the group to the crew", "· alice added dave", "· alice removed dave", "· carol left"},
		"dave":  {"· alice added you to the crew (alice, bob, carol, dave)", "· alice removed you"},
	} {
		out := parley(t, "--home", homes[n], "group", "read", "the crew")
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s's history of the group, without %q:\n%s", n, w, out)
			}
		}
	}
}

// TestGroupHelpSpeaksOfGroups: the group forms of the message commands
// speak of a group, never of a contact or a conversation with NAME.
func TestGroupHelpSpeaksOfGroups(t *testing.T) {
	home := t.TempDir()
	for _, sub := range []string{"send", "read", "react", "edit", "delete", "timer", "send-file", "get-file"} {
		code, out, errs := try(home, "group", sub, "--help")
		usage := out[strings.Index(out, "Usage:"):]
		usage = usage[:strings.Index(usage, "\n\n")]
		lower := strings.ToLower(out)
		if code != 0 || !strings.Contains(usage, "parley group "+sub+" GROUP") || strings.Contains(lower, "contact") ||
			strings.Contains(lower, "conversation") || !strings.Contains(lower, "group") || strings.Contains(out, "with NAME") {
			t.Errorf("parley group %s --help: exit %d\n%s%s", sub, code, out, errs)
		}
	}
}
