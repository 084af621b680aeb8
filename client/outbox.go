package client

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/parley-im/parley/client/group"
	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/outbox"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
)

// ownHub is one of the user's hubs as the outbox writes to it.
type ownHub struct {
	h    *hubclient.Client
	addr string
}

var _ outbox.Hub = ownHub{}

func (o ownHub) Put(ctx context.Context, path string, blob []byte, ifNoneMatch bool, expires time.Time) error {
	_, err := o.h.Put(ctx, path, blob, "application/octet-stream", hubclient.Cond{IfNoneMatch: ifNoneMatch, Expires: expires})
	return err
}

func (o ownHub) ETag(ctx context.Context, path string) (string, error) {
	_, etag, err := o.h.Get(ctx, o.addr, path)
	return etag, err
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
	var hubMu sync.Mutex // a contact's sessions are flushed side by side
	hub := func(url string) (*hubclient.Client, error) {
		hubMu.Lock()
		defer hubMu.Unlock()
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
		st        *outbox.Stream
		indexPath string
		indexKey  [32]byte
		contact   string       // whose keys must be checked before anything goes out
		group     *group.Group // or whose members' keys
		session   *devSession  // a device-pair session: its introduction goes first
		// batch: the jobs of one batch (a contact's name session and
		// device-pair sessions, or the self sessions: what one send fans
		// out to) are flushed side by side; batches one after another.
		batch int
		glink bool // a group device link (groupdevices.go)
	}
	var (
		jobs     []job
		requests []*Contact
	)
	c.mu.Lock()
	own := slices.Clone(c.ownHubs())
	for _, ct := range c.conversations() {
		label := "to " + ct.Name
		if ct.link {
			label = "to group member " + ct.Name
		}
		batch := len(jobs) + 1
		if ct.ratchet != nil {
			jobs = append(jobs, job{label, &ct.out, wire.IndexPath(ct.keys.SendKey), ct.keys.Header, ct.Name, nil, nil, batch, false})
		}
		for _, s := range ct.devs {
			jobs = append(jobs, job{label + "'s device " + hex.EncodeToString(s.peer.Device[:4]), &s.out, wire.IndexPath(s.keys.SendKey), s.keys.Header, ct.Name, nil, s, batch, false})
		}
		if ct.request != nil || len(ct.requestCopies) > 0 {
			requests = append(requests, ct)
		}
	}
	for _, g := range c.book.Groups {
		if g.Mine() != nil {
			jobs = append(jobs, job{label: "to group " + g.Name, st: c.gstream(g.ID), group: g, batch: len(jobs) + 1})
		}
	}
	selfBatch := len(jobs) + 1
	for _, s := range c.self {
		jobs = append(jobs, job{label: "to your device " + hex.EncodeToString(s.peer.Device[:4]), st: &s.out, indexPath: wire.IndexPath(s.keys.SendKey), indexKey: s.keys.Header, session: s, batch: selfBatch})
	}
	glinkBatch := len(jobs) + 1
	for _, s := range c.glinks { // group events: checked as the records listed the devices when sealed
		jobs = append(jobs, job{label: "to group member " + s.peer.Name + "'s device " + hex.EncodeToString(s.peer.Device[:4]), st: &s.out, indexPath: wire.IndexPath(s.keys.SendKey), indexKey: s.keys.Header, session: s, batch: glinkBatch, glink: true})
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
	run := func(j job, checked bool) (bool, error) {
		check := func() error { return c.keysChecked(ctx, j.contact, j.st) }
		switch {
		case j.glink:
			// Sealed for a device its member's record listed when it was
			// looked up (at the latest verified height); still listed is
			// checked below.
			check = func() error { return nil }
		case j.contact == "" && j.group == nil:
			// A self session: the user's own devices, looked up now.
			check = func() error {
				if !j.st.Unsent() {
					return nil
				}
				return c.checkMine(ctx)
			}
		case checked:
			// Checked for the whole batch.
			check = func() error { return nil }
		case j.group != nil:
			check = func() error { return c.membersChecked(ctx, j.group, j.st) }
		}
		if err := check(); err != nil {
			return false, fmt.Errorf("client: send %s: %w", j.label, err)
		}
		if j.group != nil {
			// The check may have made the user's key new: the index moves
			// with it.
			c.mu.Lock()
			k := j.group.Mine()
			c.mu.Unlock()
			if k == nil {
				return false, nil
			}
			j.indexPath, j.indexKey = wire.GroupIndexPath(k.Seed), wire.GroupIndexKey(k.Seed)
		}
		if j.session != nil {
			if j.glink && !c.glinkListed(j.session) || !j.glink && !c.stillListed(j.contact, j.session) {
				return false, nil // removed: what was sealed for it never leaves
			}
			if err := c.putIntro(ctx, j.session); err != nil {
				return false, fmt.Errorf("client: send %s: %w", j.label, err)
			}
		}
		return c.flushStream(ctx, hub, own, j.label, j.st, j.indexPath, j.indexKey)
	}
	for start := 0; start < len(jobs); {
		end := start + 1
		for end < len(jobs) && jobs[end].batch == jobs[start].batch {
			end++
		}
		chs, errs := make([]bool, end-start), make([]error, end-start)
		if end-start == 1 {
			chs[0], errs[0] = run(jobs[start], false)
		} else {
			// A contact's sessions: their keys are checked once for all
			// (if anything of theirs is still to leave), then the streams
			// flush side by side.
			var checkErr error
			if j := jobs[start]; j.contact != "" && slices.ContainsFunc(jobs[start:end], func(j job) bool { return j.st.Unsent() }) {
				if err := c.CheckKeys(ctx, j.contact); err != nil {
					checkErr = fmt.Errorf("client: send to %s: %w", j.contact, err)
				}
			}
			var wg sync.WaitGroup
			for i, j := range jobs[start:end] {
				if checkErr != nil {
					errs[i] = checkErr
					continue
				}
				wg.Go(func() { chs[i], errs[i] = run(j, true) })
			}
			wg.Wait()
		}
		for i := range chs {
			changed, firstErr = changed || chs[i], cmp.Or(firstErr, errs[i])
		}
		start = end
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
// name's keys are found as confirmed in the chain's state as it is now
// (checkName: a lookup made at the latest verified height serves; one
// made earlier in the run does not, however long the run). With the chain
// down, the error wraps ErrOffline.
func (c *Client) keysChecked(ctx context.Context, name string, st *outbox.Stream) error {
	if !st.Unsent() {
		return nil
	}
	return c.CheckKeys(ctx, name)
}

// membersChecked is keysChecked for a group's stream st: every other
// member is looked up now. A member whose keys changed makes the user's
// key new (keysChangedInGroups), and what waits sealed under the old one,
// which the name's old holder has, never goes out. It fails only when a
// member cannot be looked up (the chain does not answer): then nothing
// goes out.
func (c *Client) membersChecked(ctx context.Context, g *group.Group, st *outbox.Stream) error {
	if !st.Unsent() {
		return nil
	}
	_, err := c.checkMembers(ctx, g)
	return err
}

// flushStream is Flush for one stream, on the hubs urls, and says
// whether it changed the stream (package outbox). No lock of the
// client's is held while it runs.
func (c *Client) flushStream(ctx context.Context, hub func(url string) (*hubclient.Client, error), urls []string, label string, st *outbox.Stream, indexPath string, indexKey [32]byte) (bool, error) {
	c.mu.Lock()
	own := slices.Clone(c.ownHubs())
	c.mu.Unlock()
	changed, failed, err := st.Flush(ctx, outbox.FlushOptions{
		URLs: urls,
		Dial: func(url string) (outbox.Hub, error) {
			h, err := hub(url)
			if err != nil {
				return nil, err
			}
			return ownHub{h, c.Address()}, nil
		},
		Own:       own,
		IndexPath: indexPath,
		IndexKey:  indexKey,
		Now:       c.now(),
		Saved:     c.writeAll, // what goes out is on disk first, whoever sealed it
	})
	if err != nil {
		return changed, fmt.Errorf("client: send %s: save first: %w", label, err)
	}
	var firstErr error
	for _, f := range failed {
		if errors.Is(f.Err, outbox.ErrOccupied) {
			if werr := c.writable(ctx, true); werr != nil {
				f.Err = werr // the other device wrote it
			}
		}
		firstErr = cmp.Or(firstErr, fmt.Errorf("client: send %s: %w", label, &HubError{URL: f.URL, Err: f.Err}))
	}
	return changed, firstErr
}

// removeEverywhere deletes path from every hub of the user; a hub that
// does not have it counts as done. The caller must not hold c.mu.
func (c *Client) removeEverywhere(ctx context.Context, path string) error {
	if err := c.writable(ctx, false); err != nil {
		return err
	}
	var firstErr error
	for _, url := range c.ownHubs() {
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
	own := c.ownHubs()
	for _, url := range own {
		h, err := c.dial(ctx, url)
		if err == nil {
			_, err = h.Put(ctx, path, blob, "application/octet-stream", hubclient.Cond{})
		}
		if err != nil {
			errs = append(errs, &HubError{URL: url, Err: err})
		}
	}
	if len(errs) == len(own) {
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
		if ct.request != nil || len(ct.requestCopies) > 0 {
			return true
		}
	}
	return len(c.doomedPaths) > 0 || slices.ContainsFunc(c.streams(), (*outbox.Stream).Pending)
}

// streams returns every stream the user writes: to each contact, on each
// group link, and to each group; the caller holds c.mu.
func (c *Client) streams() []*outbox.Stream {
	var out []*outbox.Stream
	for _, ct := range c.conversations() {
		out = append(out, &ct.out)
		for _, s := range ct.devs {
			out = append(out, &s.out)
		}
	}
	for _, s := range c.self {
		out = append(out, &s.out)
	}
	for _, s := range c.glinks {
		out = append(out, &s.out)
	}
	for _, g := range c.book.Groups {
		out = append(out, c.gstream(g.ID))
	}
	return out
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
