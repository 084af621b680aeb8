package client

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/parley-im/parley/chain/bns"
)

// Verifying a contact in person: the user compares the pair's safety
// number (SafetyNumber of the record the user confirmed: one number that
// both devices show, `parley contacts verify` and `parley whois`) with the
// contact, face to face or over another channel they trust, and records
// that it matched. The comparison is constant-time. The mark
// belongs to those keys: once the contact's keys change and the user
// confirms the new ones, the contact is no longer verified.

// ErrSafetyMismatch is returned by Verify when the number the user
// compared is not the contact's.
var ErrSafetyMismatch = errors.New("client: the safety number does not match")

// Verify marks name as verified in person if number (digits; spaces and
// other separators are ignored) is the safety number of name's confirmed
// keys, and those are still name's keys on the chain.
func (c *Client) Verify(ctx context.Context, name, number string) error {
	ct, err := c.contact(name)
	if err != nil {
		return err
	}
	if err := c.CheckKeys(ctx, name); err != nil {
		return err
	}
	c.mu.Lock()
	want := c.SafetyNumber(ct.Record)
	if subtle.ConstantTimeCompare([]byte(digits(number)), []byte(digits(want))) != 1 {
		c.mu.Unlock()
		return fmt.Errorf("%w: %s's confirmed keys have another safety number; do not mark them verified, and compare again", ErrSafetyMismatch, name)
	}
	ct.verified = want
	return c.saveUnlock()
}

// ContactRecord returns name's record as the user confirmed it.
func (c *Client) ContactRecord(name string) (*bns.Record, error) {
	ct, err := c.contact(name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return ct.Record, nil
}

// Unverify takes the mark back.
func (c *Client) Unverify(name string) error {
	ct, err := c.contact(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	ct.verified = ""
	return c.saveUnlock()
}

// Verified reports whether name is marked verified in person for the keys
// the user confirmed.
func (c *Client) Verified(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct := c.contacts[name]
	return ct != nil && ct.verified != "" // ConfirmKeys clears it when the keys change
}

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
