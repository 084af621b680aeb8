package client

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
)

// outboxEntry is a message in an outbox: sealed, not yet on every hub.
type outboxEntry struct {
	Seq     uint64
	Path    string
	Blob    []byte
	Done    []string  // hubs that acknowledged it
	Expires time.Time // when its hubs delete it (disappearing messages)
}

// A stream is one direction the user writes: a conversation's, or the
// user's in a group. Messages are numbered from 0; each is sealed into the
// outbox before it is uploaded; the index on each hub says how many the
// hub holds and which the user deleted.
type stream struct {
	next    uint64
	outbox  []outboxEntry        // sealed, not yet acknowledged by every hub
	deleted []uint64             // deleted by the user (sorted): the index lists them
	indexed map[string]indexMark // per hub: what its index says
	// expiring are the messages written with a hub expiry and not deleted
	// (sorted): the index lists them, so a reader tells one the hubs
	// deleted on time from one they withhold.
	expiring []wire.Expiry
	// awaiting are expiring messages the user's device no longer shows
	// (their timer ran out): deleted once the contact's receipt says it
	// has them, else at their hub expiry (sorted; 1:1 conversations).
	awaiting []uint64
}

// indexMark is what an index written to a hub said.
type indexMark struct {
	Count   uint64
	Deleted int
}

// add puts message seq (the next one) in the outbox; if expires is not
// zero, its hubs delete it then.
func (st *stream) add(seq uint64, path string, blob []byte, expires time.Time) {
	st.next = seq + 1
	st.outbox = append(st.outbox, outboxEntry{Seq: seq, Path: path, Blob: blob, Expires: expires})
	if !expires.IsZero() {
		st.expiring = append(st.expiring, wire.Expiry{Seq: seq, At: expires})
	}
}

// forget lists seq as deleted; it reports whether it was new.
func (st *stream) forget(seq uint64) bool {
	st.expiring = slices.DeleteFunc(st.expiring, func(x wire.Expiry) bool { return x.Seq == seq })
	st.awaiting = slices.DeleteFunc(st.awaiting, func(s uint64) bool { return s == seq })
	i, found := slices.BinarySearch(st.deleted, seq)
	if !found {
		st.deleted = slices.Insert(st.deleted, i, seq)
	}
	return !found
}

// hubExpiry returns when the hubs delete message seq (zero if never).
func (st *stream) hubExpiry(seq uint64) time.Time {
	for _, x := range st.expiring {
		if x.Seq == seq {
			return x.At
		}
	}
	return time.Time{}
}

// await marks the expiring message seq as no longer shown.
func (st *stream) await(seq uint64) {
	if i, found := slices.BinarySearch(st.awaiting, seq); !found {
		st.awaiting = slices.Insert(st.awaiting, i, seq)
	}
}

// Flush brings the user's hubs up to date with every stream: it uploads
// each message still in an outbox to each hub that does not have it yet,
// strictly in order per hub (a hub that fails is skipped until the next
// Flush), then rewrites the stream's index on each hub whose count or
// deletions changed, and only once every index is written removes deleted
// messages' blobs and files' chunks (so a reader never takes a deletion
// for a withheld message). An upload that finds the same blob already
// there (a retry after a crash) counts as done. A message leaves the
// outbox once every hub has it. Flush reports the first failure, after
// trying every hub. One Flush runs at a time, and it holds the client's
// lock only between network calls, so reading and watching go on while a
// slow hub is written to.
func (c *Client) Flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	// A hub is dialed only when something is to go to it: with nothing
	// queued, Flush asks no hub anything and writes nothing.
	hubs, tried, dialErr := map[string]*hubclient.Client{}, map[string]bool{}, map[string]error{}
	hub := func(url string) (*hubclient.Client, error) {
		if !tried[url] {
			tried[url] = true
			if dialErr[url] = c.writable(ctx, false); dialErr[url] == nil {
				hubs[url], dialErr[url] = c.dial(ctx, url)
			}
		}
		return hubs[url], dialErr[url]
	}
	type job struct {
		label     string
		st        *stream
		indexPath string
		indexKey  [32]byte
		contact   string // whose keys must be checked before anything goes out ("": a group's)
	}
	var (
		jobs     []job
		requests []*Contact
	)
	c.mu.Lock()
	for _, ct := range c.conversations() {
		label := "to " + ct.Name
		if ct.link {
			label = "to group member " + ct.Name
		}
		jobs = append(jobs, job{label, &ct.out, wire.IndexPath(ct.keys.SendKey), ct.keys.Header, ct.Name})
		if ct.request != nil {
			requests = append(requests, ct)
		}
	}
	for _, g := range c.book.Groups {
		if k := g.Mine(); k != nil {
			jobs = append(jobs, job{"to group " + g.Name, c.gstream(g.ID), wire.GroupIndexPath(k.Seed), wire.GroupIndexKey(k.Seed), ""})
		}
	}
	c.mu.Unlock()
	var (
		firstErr error
		changed  bool
	)
	for _, ct := range requests { // contact requests (and introductions) that did not go out
		if c.deliverRequest(ctx, ct) {
			changed = true
		} else if q := c.requestQueued(ct); q != nil {
			firstErr = cmp.Or(firstErr, error(q))
		}
	}
	for _, j := range jobs {
		if j.contact != "" {
			if err := c.keysChecked(ctx, j.contact, j.st); err != nil {
				firstErr = cmp.Or(firstErr, fmt.Errorf("client: send %s: %w", j.label, err))
				continue
			}
		}
		ch, err := c.flushStream(ctx, hub, c.own, j.label, j.st, j.indexPath, j.indexKey)
		changed, firstErr = changed || ch, cmp.Or(firstErr, err)
	}
	if firstErr == nil {
		c.mu.Lock()
		doomed := slices.Clone(c.doomedPaths)
		c.mu.Unlock()
		var gone []string
		for _, p := range doomed {
			if c.removeEverywhere(ctx, p) == nil {
				gone = append(gone, p)
			}
		}
		c.mu.Lock()
		c.doomedPaths = slices.DeleteFunc(c.doomedPaths, func(p string) bool { return slices.Contains(gone, p) })
		c.mu.Unlock()
		changed = changed || len(gone) > 0
	}
	if !changed {
		return firstErr
	}
	c.mu.Lock()
	err := c.saveUnlock()
	return cmp.Or(err, firstErr)
}

// keysChecked says whether what waits in st may go out to name (nil),
// or why not: it may if no message waits that no hub holds yet (copying
// one to another of the user's hubs tells nobody anything new), or if
// name's keys were found as confirmed in this run (checking them now if
// not). With the chain down, the error wraps ErrOffline.
func (c *Client) keysChecked(ctx context.Context, name string, st *stream) error {
	c.mu.Lock()
	ok := c.checked[name] || !slices.ContainsFunc(st.outbox, func(e outboxEntry) bool { return len(e.Done) == 0 })
	c.mu.Unlock()
	if ok {
		return nil
	}
	return c.CheckKeys(ctx, name)
}

// flushStream is Flush for one stream, on the hubs urls, and says
// whether it changed the stream. It takes c.mu only to read and update
// the stream.
func (c *Client) flushStream(ctx context.Context, hub func(url string) (*hubclient.Client, error), urls []string, label string, st *stream, indexPath string, indexKey [32]byte) (changed bool, _ error) {
	var firstErr error
	fail := func(url string, err error) {
		firstErr = cmp.Or(firstErr, fmt.Errorf("client: send %s: %w", label, &HubError{URL: url, Err: err}))
	}
	for _, url := range urls {
		c.mu.Lock()
		count := st.next // what this hub holds, once the uploads below succeed
		var todo []outboxEntry
		for _, e := range st.outbox {
			if !slices.Contains(e.Done, url) {
				todo = append(todo, e)
			}
		}
		deleted := slices.Clone(st.deleted)
		expiring := slices.Clone(st.expiring)
		old, indexed := st.indexed[url]
		c.mu.Unlock()
		if len(todo) > 0 {
			// What goes out is on disk first, whoever sealed it.
			if err := c.writeAll(); err != nil {
				return changed, fmt.Errorf("client: send %s: save first: %w", label, err)
			}
		}
		if len(todo) == 0 && indexed && old == (indexMark{Count: count, Deleted: len(deleted)}) {
			continue // this hub is up to date
		}
		h, err := hub(url)
		if err != nil {
			if len(todo) > 0 || !indexed {
				fail(url, err)
			}
			continue
		}
		for _, e := range todo {
			if err := c.upload(ctx, h, e); err != nil {
				fail(url, err)
				count = e.Seq
				break
			}
			c.mu.Lock()
			for i := range st.outbox {
				if st.outbox[i].Seq == e.Seq {
					st.outbox[i].Done = append(st.outbox[i].Done, url)
				}
			}
			c.mu.Unlock()
			changed = true
		}
		mark := indexMark{Count: count, Deleted: len(deleted)}
		if indexed && old == mark {
			continue
		}
		if err := putIndex(ctx, h, indexPath, indexKey, deleted, expiring, count); err != nil {
			fail(url, err)
			continue
		}
		c.mu.Lock()
		if st.indexed == nil {
			st.indexed = map[string]indexMark{}
		}
		st.indexed[url] = mark
		c.mu.Unlock()
		changed = true
	}
	c.mu.Lock()
	n := len(st.outbox)
	st.outbox = slices.DeleteFunc(st.outbox, func(e outboxEntry) bool {
		return !slices.ContainsFunc(c.own, func(u string) bool { return !slices.Contains(e.Done, u) }) // on every hub
	})
	changed = changed || len(st.outbox) != n
	c.mu.Unlock()
	return changed, firstErr
}

// putIndex writes an index on the hub h.
func putIndex(ctx context.Context, h *hubclient.Client, path string, key [32]byte, deleted []uint64, expiring []wire.Expiry, count uint64) error {
	x := wire.Index{Count: count}
	for _, d := range deleted {
		if d < count {
			x.Deleted = append(x.Deleted, d)
		}
	}
	for _, e := range expiring {
		if e.Seq < count {
			x.Expiring = append(x.Expiring, e)
		}
	}
	_, err := h.Put(ctx, path, wire.SealIndex(key, path, x), "application/octet-stream", hubclient.Cond{})
	return err
}

// removeEverywhere deletes path from every hub of the user; a hub that
// does not have it counts as done. The caller must not hold c.mu.
func (c *Client) removeEverywhere(ctx context.Context, path string) error {
	if err := c.writable(ctx, false); err != nil {
		return err
	}
	var firstErr error
	for _, url := range c.own {
		h, err := c.dial(ctx, url)
		if err == nil {
			err = h.Delete(ctx, path, "")
		}
		if err != nil && !errors.Is(err, hub.ErrNotFound) {
			firstErr = cmp.Or(firstErr, err)
		}
	}
	return firstErr
}

// putOwn writes blob at path on every hub of the user. One hub that took
// it is enough (readers try each of the user's hubs, and the next write
// reaches a hub that was down); if none did, their errors are returned.
// The caller must not hold c.mu.
func (c *Client) putOwn(ctx context.Context, path string, blob []byte) error {
	if err := c.writable(ctx, false); err != nil {
		return err
	}
	var errs []error
	for _, url := range c.own {
		h, err := c.dial(ctx, url)
		if err == nil {
			_, err = h.Put(ctx, path, blob, "application/octet-stream", hubclient.Cond{})
		}
		if err != nil {
			errs = append(errs, &HubError{URL: url, Err: err})
		}
	}
	if len(errs) == len(c.own) {
		return errors.Join(errs...)
	}
	return nil
}

// hasQueued reports whether Flush has work: messages not yet on every hub
// of the user's, or blobs still to delete.
func (c *Client) hasQueued() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ct := range c.contacts {
		if ct.request != nil {
			return true
		}
	}
	return len(c.doomedPaths) > 0 || slices.ContainsFunc(c.streams(), func(st *stream) bool { return len(st.outbox) > 0 })
}

// streams returns every stream the user writes: to each contact, on each
// group link, and to each group; the caller holds c.mu.
func (c *Client) streams() []*stream {
	var out []*stream
	for _, ct := range c.conversations() {
		out = append(out, &ct.out)
	}
	for _, g := range c.book.Groups {
		out = append(out, c.gstream(g.ID))
	}
	return out
}

// queued reports whether message seq is still in the outbox with no hub
// holding it.
func (st *stream) queued(seq uint64) bool {
	for _, e := range st.outbox {
		if e.Seq == seq {
			return len(e.Done) == 0
		}
	}
	return false
}

// upload puts e on the hub h. A disappearing message whose hub expiry
// has passed (or is a minute away) is not uploaded: its hubs would delete
// it at once, and the index tells readers it expired.
func (c *Client) upload(ctx context.Context, h *hubclient.Client, e outboxEntry) error {
	if !e.Expires.IsZero() && !e.Expires.After(c.now().Add(time.Minute)) {
		return nil
	}
	_, err := h.Put(ctx, e.Path, e.Blob, "application/octet-stream", hubclient.Cond{IfNoneMatch: true, Expires: e.Expires})
	if errors.Is(err, hub.ErrPrecondition) {
		sum := md5.Sum(e.Blob)
		_, etag, gerr := h.Get(ctx, c.Address(), e.Path)
		if gerr == nil && etag == hex.EncodeToString(sum[:]) {
			return nil // uploaded before a crash
		}
		if err := c.writable(ctx, true); err != nil {
			return err // the other device wrote it
		}
		return fmt.Errorf("another blob occupies %s", e.Path)
	}
	return err
}

// conversations returns every pairwise conversation: the contacts' and the
// group links; the caller holds c.mu.
func (c *Client) conversations() []*Contact {
	out := make([]*Contact, 0, len(c.contacts)+len(c.links))
	for _, ct := range c.contacts {
		out = append(out, ct)
	}
	for _, l := range c.links {
		out = append(out, l)
	}
	return out
}
