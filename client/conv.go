package client

import (
	"errors"
	"strings"
)

// A Conv names one of the user's conversations: with a contact (by
// name) or in a group (by ID). Methods that work on either take a Conv;
// those for a contact only take a name, those for a group only its ID.
// The zero Conv names none.
type Conv struct {
	name  string // a contact's name ("" for a group)
	group string // a group's ID ("" for a contact)
}

// ContactConv is the conversation with the contact name.
func ContactConv(name string) Conv { return Conv{name: name} }

// GroupConv is the conversation of the group id.
func GroupConv(id string) Conv { return Conv{group: id} }

// ErrNoConv: a conversation's name is empty.
var ErrNoConv = errors.New("client: no conversation named")

// ParseConv parses the form String gives: "#" and a group's ID, or a
// contact's name. It wraps ErrNoConv for "" and "#".
func ParseConv(s string) (Conv, error) {
	if id, ok := strings.CutPrefix(s, "#"); ok {
		if id == "" {
			return Conv{}, ErrNoConv
		}
		return GroupConv(id), nil
	}
	if s == "" {
		return Conv{}, ErrNoConv
	}
	return ContactConv(s), nil
}

// String returns the contact's name, or "#" and the group's ID: the form
// ParseConv takes, and the agent's API and the history use.
func (v Conv) String() string {
	if v.group != "" {
		return "#" + v.group
	}
	return v.name
}

// Contact returns the contact's name, and whether v is a contact's
// conversation.
func (v Conv) Contact() (string, bool) { return v.name, v.name != "" }

// Group returns the group's ID, and whether v is a group's conversation.
func (v Conv) Group() (string, bool) { return v.group, v.group != "" }

func (v Conv) isGroup() bool { return v.group != "" }

// IsZero reports whether v names no conversation.
func (v Conv) IsZero() bool { return v == Conv{} }

// MarshalText gives String's form, so a Conv is JSON's string.
func (v Conv) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText is ParseConv's, but takes "" as the zero Conv.
func (v *Conv) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*v = Conv{}
		return nil
	}
	x, err := ParseConv(string(b))
	if err != nil {
		return err
	}
	*v = x
	return nil
}
