package client

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/parley-im/parley/client/wire"
)

// Blocking name: their contact requests are refused unseen (removed from
// the inbox), their hubs are no longer read or watched, nothing can be
// sent to them, the receipt that told them what was read is deleted and
// its path secret rotated (the next one is theirs only once they are
// unblocked, in a ratcheted message), and the user's profile moves under
// a new key that they are not given. Messages they send while blocked are
// never shown, even after Unblock.

func (c *Client) isBlocked(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blocked[name]
}

// unblocked returns the contacts the user does not block, sorted.
func (c *Client) unblocked() []string {
	var out []string
	for _, n := range c.Contacts() {
		if !c.isBlocked(n) {
			out = append(out, n)
		}
	}
	return out
}

// Blocked returns the names the user blocks.
func (c *Client) Blocked() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for n := range c.blocked {
		out = append(out, n)
	}
	return out
}

// Block blocks name, a contact or not, on this device and on the user's
// other devices (a setting event in the self sessions).
func (c *Client) Block(ctx context.Context, name string) error {
	err := c.block(ctx, name)
	return cmp.Or(err, c.syncSetting(ctx, &wire.Event{Set: wire.SetBlock, Conv: name, On: true}))
}

// block is Block on this device only.
func (c *Client) block(ctx context.Context, name string) error {
	c.mu.Lock()
	c.blocked[name] = true
	ct := c.contacts[name]
	var oldReceipt string
	if ct != nil {
		oldReceipt = ct.receiptPath()
		ct.receiptKey = make([]byte, 32)
		rand.Read(ct.receiptKey)
	}
	profile := c.profile
	err := c.saveUnlock()
	if err != nil || ct == nil {
		return err
	}
	if err := c.removeEverywhere(ctx, oldReceipt); err != nil {
		return err
	}
	if profile.Key == nil {
		return nil
	}
	key := make([]byte, 32)
	rand.Read(key)
	return c.publishProfile(ctx, profile.Profile, key)
}

// Unblock lets name reach the user again. What name sent while blocked is
// skipped: the next Receive reads it and drops it. Name is sent the
// receipt's new path key, and the receipt is written there: from then on
// they see what is read again. (If that message cannot be sent now, it
// goes out before the next one.)
//
// The user's other devices unblock name too (a setting event in the self
// sessions).
func (c *Client) Unblock(ctx context.Context, name string) error {
	err := c.unblock(ctx, name, nil)
	return cmp.Or(err, c.syncSetting(ctx, &wire.Event{Set: wire.SetBlock, Conv: name}))
}

// unblock is Unblock on this device only. Quiet, for an unblock made on
// another device ([from, to) in Unix ms), says what name sent while
// blocked by their clock: their index's count now would also cover what
// they sent after the unblock was made.
func (c *Client) unblock(ctx context.Context, name string, quiet *[2]int64) error {
	c.mu.Lock()
	ct := c.contacts[name]
	c.mu.Unlock()
	var upTo uint64
	if ct != nil && quiet == nil {
		_, addr := c.whereIs(ct)
		upTo = c.readIndex(ctx, ct, addr).Count
	}
	c.mu.Lock()
	delete(c.blocked, name)
	var key []byte
	if ct != nil && quiet != nil {
		ct.quiet = *quiet
	}
	if ct != nil {
		if upTo > max(ct.nextRecv, ct.dropBelow) {
			// What they sent while blocked: fetched, never shown, and
			// never claimed delivered or read in the receipt.
			from := max(ct.nextRecv, ct.dropBelow)
			ct.skipped = append(ct.skipped, wire.Span{From: from, To: upTo})
			if len(ct.skipped) > wire.MaxSkipped {
				ct.skipped = ct.skipped[len(ct.skipped)-wire.MaxSkipped:]
			}
		}
		ct.dropBelow = max(ct.dropBelow, upTo)
		if !bytes.Equal(ct.sentReceiptKey, ct.receiptKey) {
			key = ct.receiptKey
		}
	}
	err := c.saveUnlock()
	if err != nil || key == nil {
		return err
	}
	_, err = c.SendEvent(ctx, ContactConv(name), &wire.Event{Kind: wire.KindReceipts, Key: key})
	switch {
	case errors.Is(err, ErrQueued), errors.Is(err, ErrKeysChanged), errors.Is(err, errCannotSendYet):
		// It goes out with the next message.
	case err != nil:
		return fmt.Errorf("client: %s is unblocked, but the new receipt key did not go out (it goes with the next message): %w", name, err)
	}
	return c.writeReceipt(ctx, ct)
}
