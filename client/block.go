package client

import (
	"context"
	"crypto/rand"
	"errors"

	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
)

// Blocking name: their contact requests are refused unseen (removed from
// the inbox), their hubs are no longer read or watched, nothing can be
// sent to them, the receipt that told them what was read is deleted, and
// the user's profile moves under a new key that they are not given.
// Messages they send while blocked are never shown, even after Unblock.

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

// Block blocks name, a contact or not.
func (c *Client) Block(ctx context.Context, name string) error {
	c.mu.Lock()
	c.blocked[name] = true
	ct := c.contacts[name]
	err := c.save()
	profile := c.profile
	c.mu.Unlock()
	if err != nil || ct == nil {
		return err
	}
	home, err := c.home(ctx)
	if err != nil {
		return err
	}
	if err := home.Delete(ctx, wire.ReceiptPath(ct.keys.RecvKey), ""); err != nil && !errors.Is(err, hub.ErrNotFound) {
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
// skipped: the next Receive reads it and drops it.
func (c *Client) Unblock(ctx context.Context, name string) error {
	c.mu.Lock()
	ct := c.contacts[name]
	c.mu.Unlock()
	var upTo uint64
	if ct != nil {
		upTo = c.readIndex(ctx, ct, ct.address()).Count
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.blocked, name)
	if ct != nil {
		ct.dropBelow = max(ct.dropBelow, upTo)
	}
	return c.save()
}
