package client_test

import (
	"errors"
	"testing"

	"github.com/parley-im/parley/client"
)

// TestConv: a conversation's name parses to the Conv it came from, a
// contact's and a group's apart; an empty one is ErrNoConv.
func TestConv(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    client.Conv
		contact string
		group   string
		err     error
	}{
		{in: "bob", want: client.ContactConv("bob"), contact: "bob"},
		{in: "#0a1b2c", want: client.GroupConv("0a1b2c"), group: "0a1b2c"},
		{in: "", err: client.ErrNoConv},
		{in: "#", err: client.ErrNoConv},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := client.ParseConv(tc.in)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("ParseConv(%q): %v, want %v", tc.in, err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("ParseConv(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
			if tc.err != nil {
				if !got.IsZero() {
					t.Fatalf("ParseConv(%q) = %#v, want the zero Conv", tc.in, got)
				}
				return
			}
			if s := got.String(); s != tc.in {
				t.Fatalf("String() = %q, want %q", s, tc.in)
			}
			name, isContact := got.Contact()
			id, isGroup := got.Group()
			if name != tc.contact || isContact != (tc.contact != "") || id != tc.group || isGroup != (tc.group != "") {
				t.Fatalf("Contact() = %q %v, Group() = %q %v", name, isContact, id, isGroup)
			}
		})
	}
	// A contact named like a group's form cannot be made by mistake: the
	// two constructors never meet.
	if client.ContactConv("x") == client.GroupConv("x") {
		t.Fatal("a contact's conversation equals a group's of the same text")
	}
}
