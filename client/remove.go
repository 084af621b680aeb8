package client

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"

	"github.com/parley-im/parley/client/wire"
)

// RemoveContact ends the conversation with name, on this device and on
// the user's hubs: what the user wrote for name (messages, files, the
// conversation's index and receipt) is deleted from the user's hubs (by
// Flush, which retries until every hub has done it), the history and keys
// from this device, and the profile moves under a new key name is not
// given. What name wrote stays on name's hubs, unread. Name can ask again
// with a new contact request. Groups shared with name go on: their keys
// travel over the group link (link.go), not the conversation.
func (c *Client) RemoveContact(ctx context.Context, name string) error {
	c.mu.Lock()
	ct := c.contacts[name]
	if ct == nil {
		c.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNotContact, name)
	}
	var doomed []string
	for seq := range ct.out.Next() {
		doomed = append(doomed, wire.MessagePath(ct.keys.SendKey, seq))
	}
	doomed = append(doomed, wire.IndexPath(ct.keys.SendKey), ct.receiptPath())
	for _, m := range c.history {
		if m.From == c.Name && m.Conv == ContactConv(name) && m.File != nil {
			for i := range m.File.Chunks {
				doomed = append(doomed, wire.ChunkPath(m.File.Key, i))
			}
		}
	}
	for k, u := range c.uploads {
		if u.key.conv == ContactConv(name) { // a file being sent to them: its chunks go too
			for i := range wire.ChunkCount(u.Size) {
				doomed = append(doomed, wire.ChunkPath(u.Key, i))
			}
			delete(c.uploads, k)
		}
	}
	c.setHistory(slices.DeleteFunc(c.history, func(m Message) bool {
		return m.Conv == ContactConv(name)
	}))
	delete(c.contacts, name)
	c.doomedPaths = append(c.doomedPaths, doomed...)
	profile := c.profile
	err := c.saveUnlock()
	if err != nil {
		return err
	}
	if err := c.Flush(ctx); err != nil {
		return fmt.Errorf("client: %s is removed; deleting from your hubs goes on with the next send: %w", name, err)
	}
	if profile.Key == nil {
		return nil
	}
	key := make([]byte, 32)
	rand.Read(key)
	return c.publishProfile(ctx, profile.Profile, key)
}
