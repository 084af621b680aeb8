package client

import (
	"testing"

	"github.com/parley-im/parley/client/store"
)

// TestStoredConv: the store keeps a message's To as the history always
// had it (the contact written to, the user, or "#" and a group's ID), and
// each reads back into the conversation it belongs to.
func TestStoredConv(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name   string
		m      Message
		wantTo string
	}{
		{"sent to a contact", Message{From: "alice", Conv: ContactConv("bob")}, "bob"},
		{"from a contact", Message{From: "bob", Conv: ContactConv("bob")}, "alice"},
		{"sent to a group", Message{From: "alice", Conv: GroupConv(id)}, "#" + id},
		{"from a member", Message{From: "carol", Conv: GroupConv(id)}, "#" + id},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := storedMessage("alice", tc.m)
			if s.To != tc.wantTo {
				t.Fatalf("stored To = %q, want %q", s.To, tc.wantTo)
			}
			if got := messageFrom("alice", s); got.Conv != tc.m.Conv {
				t.Fatalf("read back in %v, want %v", got.Conv, tc.m.Conv)
			}
		})
	}
	if got := messageFrom("alice", store.Message{From: "bob", To: "alice"}).Conv; got != ContactConv("bob") {
		t.Fatalf("a message from bob read back in %v", got)
	}
}
