package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/outbox"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
)

// Hubs returns the user's hubs: where everything the user writes goes.
func (c *Client) Hubs() []string { return slices.Clone(c.ownHubs()) }

// SetHubs makes hubs (the first asked first) the user's, as the record
// with sequence number seq lists them: for the user who just changed them
// on the chain, so that this and later runs write there even while a
// chain node still answers with the record from before. Safe while the
// client is in use (a Watch takes the new hubs at its next maintenance).
func (c *Client) SetHubs(hubs []string, seq uint64) error {
	if len(hubs) == 0 {
		return errors.New("client: no hubs")
	}
	own := slices.Clone(hubs)
	c.mu.Lock()
	c.own.Store(&own)
	c.ownKnown, c.ownSeq = true, seq
	return c.saveUnlock()
}

// CopyReport is what CopyTo did, and what it could not do.
type CopyReport struct {
	Copied      int      // objects copied from another of the user's hubs
	Had         int      // objects the hub held already, as they are
	Republished int      // objects written anew from what this device holds
	Down        []error  // the user's hubs that did not answer: nothing was copied from them
	Lost        []string // what no hub that answered and nothing on this device holds, in words
}

// CopyTo copies the user's bucket to the hub at url, for a user adding a
// hub or moving to one before the chain lists it, even from a hub that
// died: every object on any of the user's other hubs that answers (read
// from the first that lists it) that url does not hold with the same ETag;
// then, from what this device holds, whatever url still lacks: each
// conversation's messages waiting to go out and its index, the user's
// receipts, profile and (at the next Backup) backup. A message that no
// hub that answered holds and this device no longer has (it went out to
// the hubs that are down) is listed in the index as deleted, so contacts
// skip it rather than wait for it; it is counted in the report's Lost,
// with files whose chunks are gone. progress, if not nil, is called after
// each copy. Only url itself not answering is an error.
func (c *Client) CopyTo(ctx context.Context, url string, progress func(done, total int)) (CopyReport, error) {
	var rep CopyReport
	if err := c.writable(ctx, false); err != nil {
		return rep, err
	}
	to, err := c.dialOwn(ctx, url)
	if err != nil {
		return rep, err
	}
	there, err := to.List(ctx)
	if err != nil {
		return rep, fmt.Errorf("client: listing %s: %w", url, err)
	}
	have := map[string]bool{} // what url holds, or will once copied
	etags := map[string]string{}
	for _, e := range there {
		etags[e.Name], have[e.Name] = e.ETag, true
	}
	type object struct {
		from    string
		h       *hubclient.Client
		path    string
		ctype   string
		expires int64
	}
	var todo []object
	origin := map[string]string{} // the hub each path is copied from (or matches, if url has it)
	for _, u := range c.ownHubs() {
		if u == url {
			continue
		}
		h, err := c.dialOwn(ctx, u)
		var entries []hubclient.Entry
		if err == nil {
			entries, err = h.List(ctx)
		}
		if err != nil {
			rep.Down = append(rep.Down, fmt.Errorf("%s: %w", u, err))
			continue
		}
		for _, e := range entries {
			if origin[e.Name] != "" {
				continue
			}
			origin[e.Name] = u
			if tag := etags[e.Name]; tag != "" && tag == e.ETag {
				rep.Had++
			} else {
				todo = append(todo, object{u, h, e.Name, e.ContentType, e.Expires})
			}
		}
	}
	dead := map[string]bool{}
	for i, o := range todo {
		if dead[o.from] {
			continue
		}
		data, _, err := o.h.Get(ctx, c.Address(), o.path)
		switch {
		case errors.Is(err, hub.ErrNotFound):
			continue // deleted since it was listed (a message expired, say)
		case IsOffline(err): // it died meanwhile: what is left may be republished
			dead[o.from] = true
			rep.Down = append(rep.Down, fmt.Errorf("%s: %w", o.from, err))
			continue
		case err != nil:
			return rep, fmt.Errorf("client: reading %s: %w", o.path, err)
		}
		var cond hubclient.Cond
		if o.expires != 0 { // it keeps its expiry; one about to go is not copied
			if cond.Expires = time.Unix(o.expires, 0); !cond.Expires.After(c.now().Add(time.Minute)) {
				continue
			}
		}
		if _, err := to.Put(ctx, o.path, data, o.ctype, cond); err != nil {
			return rep, fmt.Errorf("client: writing %s to %s: %w", o.path, url, err)
		}
		rep.Copied++
		have[o.path] = true
		if progress != nil {
			progress(i+1, len(todo))
		}
	}
	for path := range origin {
		if !have[path] {
			delete(origin, path)
		}
	}
	return rep, c.republish(ctx, url, to, have, origin, &rep)
}

// republish writes to the hub to, at url, what it lacks of the user's
// bucket from what this device holds (see CopyTo); have is what it holds,
// origin the hub of the user's each object of it came from.
func (c *Client) republish(ctx context.Context, url string, to *hubclient.Client, have map[string]bool, origin map[string]string, rep *CopyReport) error {
	// What contacts fetched of the user's messages needs no copy: their
	// receipts say (as last read, if their hubs are down).
	for _, n := range c.Contacts() {
		c.ReceiptFrom(ctx, n)
	}
	type job struct {
		label, contact string
		st             *outbox.Stream
		indexPath      string
		indexKey       [32]byte
		from           uint64
		path           func(uint64) string
	}
	var (
		jobs  []job
		files = map[Conv]int{}
	)
	c.mu.Lock()
	for _, ct := range c.conversations() {
		var from uint64
		if ct.theirReceipt != nil {
			from = ct.theirReceipt.Delivered
		}
		key := ct.keys.SendKey
		jobs = append(jobs, job{"to " + ct.Name, ct.Name, &ct.out, wire.IndexPath(key), ct.keys.Header, from,
			func(i uint64) string { return wire.MessagePath(key, i) }})
	}
	for _, g := range c.book.Groups {
		if k := g.Mine(); k != nil {
			seed := k.Seed
			jobs = append(jobs, job{"to group " + g.Name, "", c.gstream(g.ID), wire.GroupIndexPath(seed), wire.GroupIndexKey(seed), k.From,
				func(i uint64) string { return wire.GroupPath(seed, i) }})
		}
	}
	for _, m := range c.history {
		if m.From == c.Name && m.File != nil && !m.Deleted && m.File.Chunks > 0 && !have[wire.ChunkPath(m.File.Key, 0)] {
			files[m.Conv]++
		}
	}
	// Messages gone with the hubs that are down: listed as deleted. An
	// index copied from another hub says what that hub's said.
	for _, j := range jobs {
		if have[j.indexPath] {
			j.st.CopyIndexed(origin[j.indexPath], url)
		}
		lost := 0
		for i := j.from; i < j.st.Next(); i++ {
			if !have[j.path(i)] && !j.st.InOutbox(i) && j.st.Forget(i) {
				lost++
			}
		}
		if lost > 0 {
			rep.Lost = append(rep.Lost, fmt.Sprintf("%d of your messages %s that they had not fetched", lost, j.label))
		}
	}
	err := c.saveUnlock()
	if err != nil {
		return err
	}
	for conv, n := range files {
		rep.Lost = append(rep.Lost, fmt.Sprintf("%d files you sent to %s", n, conv))
	}
	slices.Sort(rep.Lost)

	// Each stream's waiting messages and index, on url alone.
	hub := func(string) (*hubclient.Client, error) { return to, nil }
	var firstErr error
	for _, j := range jobs {
		if j.contact != "" {
			if err := c.keysChecked(ctx, j.contact, j.st); err != nil {
				firstErr = cmp.Or(firstErr, fmt.Errorf("client: send %s: %w", j.label, err))
				continue
			}
		}
		before := j.st.Written(url)
		_, err := c.flushStream(ctx, hub, []string{url}, j.label, j.st, j.indexPath, j.indexKey)
		firstErr = cmp.Or(firstErr, err)
		rep.Republished += j.st.Written(url) - before
	}

	// Receipts and the profile; the backup follows with the next Backup.
	type object struct {
		path string
		blob []byte
	}
	var objects []object
	c.mu.Lock()
	for _, ct := range c.conversations() {
		if path, blob := c.receiptBlob(ct); blob != nil && !have[path] {
			objects = append(objects, object{path, blob})
		}
	}
	for _, g := range c.book.Groups {
		if path, blob := c.groupReceiptBlob(g); blob != nil && !have[path] {
			objects = append(objects, object{path, blob})
		}
	}
	p := c.profile
	c.backupDue = true // the next Backup writes it to every hub, url too once it is the user's
	c.mu.Unlock()
	if p.Key != nil && !have[wire.ProfilePath(p.Key)] {
		blob, err := wire.SealProfile(p.Key, p.Profile)
		if err != nil {
			return err
		}
		objects = append(objects, object{wire.ProfilePath(p.Key), blob})
	}
	for _, o := range objects {
		if _, err := to.Put(ctx, o.path, o.blob, "application/octet-stream", hubclient.Cond{}); err != nil {
			firstErr = cmp.Or(firstErr, fmt.Errorf("client: writing %s to %s: %w", o.path, url, err))
			continue
		}
		rep.Republished++
	}
	return firstErr
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
