package client

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/hub"
)

// Hubs returns the user's hubs: where everything the user writes goes.
func (c *Client) Hubs() []string { return slices.Clone(c.own) }

// SetHubs makes hubs (the first asked first) the user's, as the record
// with sequence number seq lists them: for the user who just changed them
// on the chain, so that this and later runs write there even while a
// chain node still answers with the record from before. Nothing else
// may use the client meanwhile (its hubs are read without the lock).
func (c *Client) SetHubs(hubs []string, seq uint64) error {
	if len(hubs) == 0 {
		return errors.New("client: no hubs")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.own = slices.Clone(hubs)
	c.ownKnown, c.ownSeq = true, seq
	return c.save()
}

// CopyTo copies the user's bucket to the hub at url, for a user adding a
// hub or moving to one before the chain lists it: every object on any of
// the user's other hubs (read from the first that lists it) that url does
// not hold with the same ETag. It returns how many objects it copied and
// how many url held already; progress, if not nil, is called after each
// copy. If one of the user's hubs cannot be listed nothing is copied: it
// may hold what the others lost.
func (c *Client) CopyTo(ctx context.Context, url string, progress func(done, total int)) (copied, had int, err error) {
	if err := c.writable(ctx, false); err != nil {
		return 0, 0, err
	}
	to, err := c.dialOwn(ctx, url)
	if err != nil {
		return 0, 0, err
	}
	there, err := to.List(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("client: listing %s: %w", url, err)
	}
	etags := map[string]string{}
	for _, e := range there {
		etags[e.Name] = e.ETag
	}
	type object struct {
		from *hubclient.Client
		path string
	}
	var (
		todo []object
		errs []error
	)
	seen := map[string]bool{}
	for _, u := range c.own {
		if u == url {
			continue
		}
		h, err := c.dialOwn(ctx, u)
		var entries []hubclient.Entry
		if err == nil {
			entries, err = h.List(ctx)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		for _, e := range entries {
			if seen[e.Name] {
				continue
			}
			seen[e.Name] = true
			if tag := etags[e.Name]; tag != "" && tag == e.ETag {
				had++
			} else {
				todo = append(todo, object{h, e.Name})
			}
		}
	}
	if len(errs) > 0 {
		return 0, had, fmt.Errorf("client: cannot copy the whole bucket: %w", errors.Join(errs...))
	}
	for i, o := range todo {
		data, ctype, err := o.from.Get(ctx, c.Address(), o.path)
		if errors.Is(err, hub.ErrNotFound) {
			continue // deleted since it was listed (a message expired, say)
		}
		if err != nil {
			return copied, had, fmt.Errorf("client: reading %s: %w", o.path, err)
		}
		if _, err := to.Put(ctx, o.path, data, ctype, hubclient.Cond{}); err != nil {
			return copied, had, fmt.Errorf("client: writing %s to %s: %w", o.path, url, err)
		}
		copied++
		if progress != nil {
			progress(i+1, len(todo))
		}
	}
	return copied, had, nil
}

// EmptyHub deletes every object of the user's bucket on the hub at url (a
// hub the user left) and returns how many it deleted.
func (c *Client) EmptyHub(ctx context.Context, url string) (int, error) {
	if err := c.writable(ctx, false); err != nil {
		return 0, err
	}
	h, err := c.dialOwn(ctx, url)
	if err != nil {
		return 0, err
	}
	entries, err := h.List(ctx)
	if err != nil {
		return 0, fmt.Errorf("client: listing %s: %w", url, err)
	}
	n := 0
	for _, e := range entries {
		if err := h.Delete(ctx, e.Name, ""); err != nil && !errors.Is(err, hub.ErrNotFound) {
			return n, fmt.Errorf("client: deleting %s from %s: %w", e.Name, url, err)
		}
		n++
	}
	return n, nil
}

// MoveInbox moves the contact requests waiting in the user's inbox on the
// hub at from (a hub the user leaves) into the inbox on the hub at to, as
// they are (still sealed), and returns how many it moved. Each is removed
// from from only once to holds it. Envelopes that cannot be opened
// (ErrUndecodable) are not moved: they are removed from from, and counted
// in skipped.
func (c *Client) MoveInbox(ctx context.Context, from, to string) (moved, skipped int, err error) {
	if err := c.writable(ctx, false); err != nil {
		return 0, 0, err
	}
	src, err := c.dialOwn(ctx, from)
	if err != nil {
		return 0, 0, err
	}
	dst, err := c.dialOwn(ctx, to)
	if err != nil {
		return 0, 0, err
	}
	entries, err := src.InboxList(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("client: the inbox on %s: %w", from, err)
	}
	for _, e := range entries {
		env, err := src.InboxGet(ctx, e.ID)
		if errors.Is(err, hub.ErrNotFound) {
			continue // answered meanwhile
		}
		if err != nil {
			return moved, skipped, fmt.Errorf("client: request %s on %s: %w", e.ID, from, err)
		}
		if _, err := c.openEnvelope(ctx, env); errors.Is(err, ErrUndecodable) {
			if err := src.InboxDelete(ctx, e.ID); err != nil && !errors.Is(err, hub.ErrNotFound) {
				return moved, skipped, fmt.Errorf("client: removing undecodable request %s from %s: %w", e.ID, from, err)
			}
			skipped++
			continue
		}
		if _, err := dst.InboxPost(ctx, c.Address(), env); err != nil {
			return moved, skipped, fmt.Errorf("client: moving request %s to %s: %w", e.ID, to, err)
		}
		if err := src.InboxDelete(ctx, e.ID); err != nil && !errors.Is(err, hub.ErrNotFound) {
			return moved, skipped, fmt.Errorf("client: request %s, moved, stays on %s too: %w", e.ID, from, err)
		}
		moved++
	}
	return moved, skipped, nil
}
