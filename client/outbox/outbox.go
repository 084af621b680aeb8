// Package outbox is what a Parley user has written and their hubs do not
// all hold yet: the streams the user writes (to a contact, on a group
// link, to a group), and flushing them to the user's hubs over a narrow
// [Hub] interface.
//
// A [Stream] numbers the user's messages from 0. Each is sealed (by the
// caller) into the stream's outbox before it is uploaded; each of the
// user's hubs gets the stream's messages strictly in order, then the
// stream's index (how many messages the hub holds, which the user deleted,
// which expire when); a message leaves the outbox once every hub holds
// it. Deletions are kept as the index lists them; messages written with a
// hub expiry are tracked until they expire (docs/protocol.md, "Streams
// and indexes").
//
// It owns the streams' numbers, their queued messages, deletions, expiries
// and what each hub's index says. It must not seal or open anything, know
// who reads a stream, ask the chain, or touch the disk: the caller seals,
// decides whether a stream may go out, and persists a stream through
// [State]. Before anything of a stream leaves, [Stream.Flush] asks the
// caller (FlushOptions.Saved) to have written to disk whatever the stream
// holds, so that a message is never on a hub and lost from the device.
//
// # Concurrency
//
// A Stream has its own lock, held only while its fields are read or
// changed: never across a hub call or the Saved hook. Its methods may be
// called from many goroutines; one Flush of a stream runs at a time (a
// second waits), so each hub receives a stream in order. A caller may
// hold its own lock around the other methods (the lock order is the
// caller's, then the stream's), never around Flush.
package outbox

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
)

// Hub is one of the user's hubs, as the outbox writes to it.
type Hub interface {
	// Put writes blob at path in the user's bucket. With ifNoneMatch it
	// writes only if nothing is at path, and wraps hub.ErrPrecondition
	// otherwise; a non-zero expires asks the hub to delete it then.
	Put(ctx context.Context, path string, blob []byte, ifNoneMatch bool, expires time.Time) error
	// ETag returns the ETag (the hex MD5) of what is at path in the
	// user's bucket, wrapping hub.ErrNotFound if nothing is.
	ETag(ctx context.Context, path string) (string, error)
}

// ErrOccupied: a message's place on a hub holds another blob (another
// device of the user's wrote there). The caller finds out which device
// owns the identity now.
var ErrOccupied = errors.New("outbox: another blob occupies the message's place")

// Entry is a message in an outbox: sealed, not yet on every hub.
type Entry struct {
	Seq     uint64
	Path    string
	Blob    []byte
	Done    []string  // hubs that acknowledged it
	Expires time.Time // when its hubs delete it (disappearing messages)
}

// Mark is what an index written to a hub said.
type Mark struct {
	Count   uint64
	Deleted int
}

// State is a stream as the caller persists it.
type State struct {
	Next     uint64
	Outbox   []Entry
	Deleted  []uint64        // sorted
	Indexed  map[string]Mark // by hub URL
	Expiring []wire.Expiry   // sorted by Seq
	Awaiting []uint64        // sorted
	Withheld []uint64        // sorted
}

// A Stream is one direction the user writes. Its zero value is an empty
// stream; a Stream must not be copied once used.
type Stream struct {
	fmu sync.Mutex // one Flush at a time

	mu      sync.Mutex // guards the fields below
	next    uint64
	outbox  []Entry         // sealed, not yet acknowledged by every hub
	deleted []uint64        // deleted by the user (sorted): the index lists them
	indexed map[string]Mark // per hub: what its index says
	// expiring are the messages written with a hub expiry and not deleted
	// (sorted): the index lists them, so a reader tells one the hubs
	// deleted on time from one they withhold.
	expiring []wire.Expiry
	// awaiting are expiring messages the user's device no longer shows
	// (their timer ran out): deleted once the reader's receipt says it has
	// them, else at their hub expiry (sorted; 1:1 conversations).
	awaiting []uint64
	// withheld are messages taken out of the outbox before any hub had
	// them, never to go out (Withhold; sorted); deleted lists them too.
	withheld []uint64
}

// Load replaces the stream's contents with st (copied).
func (s *Stream) Load(st State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = st.Next
	s.outbox = cloneEntries(st.Outbox)
	s.deleted = slices.Clone(st.Deleted)
	s.indexed = cloneMarks(st.Indexed)
	s.expiring = slices.Clone(st.Expiring)
	s.awaiting = slices.Clone(st.Awaiting)
	s.withheld = slices.Clone(st.Withheld)
}

// State returns a copy of the stream's contents, to persist.
func (s *Stream) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return State{Next: s.next, Outbox: cloneEntries(s.outbox), Deleted: slices.Clone(s.deleted),
		Indexed: cloneMarks(s.indexed), Expiring: slices.Clone(s.expiring), Awaiting: slices.Clone(s.awaiting),
		Withheld: slices.Clone(s.withheld)}
}

func cloneEntries(es []Entry) []Entry {
	out := slices.Clone(es)
	for i := range out {
		out[i].Done = slices.Clone(out[i].Done)
	}
	return out
}

func cloneMarks(ms map[string]Mark) map[string]Mark {
	if ms == nil {
		return nil
	}
	out := make(map[string]Mark, len(ms))
	for k, v := range ms {
		out[k] = v
	}
	return out
}

// Next returns the number the next message written takes.
func (s *Stream) Next() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// Add puts message seq (the next one: the caller sealed it for Next's
// number, holding its own lock from Next to Add) in the outbox; if
// expires is not zero, its hubs delete it then.
func (s *Stream) Add(seq uint64, path string, blob []byte, expires time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = seq + 1
	s.outbox = append(s.outbox, Entry{Seq: seq, Path: path, Blob: blob, Expires: expires})
	if !expires.IsZero() {
		s.expiring = append(s.expiring, wire.Expiry{Seq: seq, At: expires})
	}
}

// Forget lists seq as deleted (the next index says so); it reports
// whether it was new.
func (s *Stream) Forget(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forget(seq)
}

func (s *Stream) forget(seq uint64) bool {
	s.expiring = slices.DeleteFunc(s.expiring, func(x wire.Expiry) bool { return x.Seq == seq })
	s.awaiting = slices.DeleteFunc(s.awaiting, func(n uint64) bool { return n == seq })
	i, found := slices.BinarySearch(s.deleted, seq)
	if !found {
		s.deleted = slices.Insert(s.deleted, i, seq)
	}
	return !found
}

// HubExpiry returns when the hubs delete message seq (zero if never).
func (s *Stream) HubExpiry(seq uint64) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.expiring {
		if x.Seq == seq {
			return x.At
		}
	}
	return time.Time{}
}

// Expiring returns the messages written with a hub expiry and not
// deleted, by number.
func (s *Stream) Expiring() []wire.Expiry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.expiring)
}

// Await marks the expiring message seq as no longer shown.
func (s *Stream) Await(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, found := slices.BinarySearch(s.awaiting, seq); !found {
		s.awaiting = slices.Insert(s.awaiting, i, seq)
	}
}

// Awaiting returns the messages Await marked and not yet deleted.
func (s *Stream) Awaiting() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.awaiting)
}

// Queued reports whether message seq is in the outbox with no hub
// holding it yet.
func (s *Stream) Queued(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.outbox {
		if e.Seq == seq {
			return len(e.Done) == 0
		}
	}
	return false
}

// InOutbox reports whether message seq is in the outbox (some hub may
// hold it already).
func (s *Stream) InOutbox(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.outbox, func(e Entry) bool { return e.Seq == seq })
}

// Withhold takes every message no hub holds yet out of the outbox: it
// never goes out (it was sealed with a key someone who must not read what
// the user writes now holds). Each is listed as deleted, so readers skip
// it, and remembered as withheld. It returns their numbers.
func (s *Stream) Withhold() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []uint64
	s.outbox = slices.DeleteFunc(s.outbox, func(e Entry) bool {
		if len(e.Done) > 0 {
			return false // on a hub already: copying it tells nobody anything new
		}
		s.forget(e.Seq)
		if i, found := slices.BinarySearch(s.withheld, e.Seq); !found {
			s.withheld = slices.Insert(s.withheld, i, e.Seq)
		}
		out = append(out, e.Seq)
		return true
	})
	return out
}

// Withheld reports whether message seq was withheld (Withhold).
func (s *Stream) Withheld(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, found := slices.BinarySearch(s.withheld, seq)
	return found
}

// Unsent reports whether a message waits that no hub holds yet.
func (s *Stream) Unsent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.outbox, func(e Entry) bool { return len(e.Done) == 0 })
}

// Pending reports whether the outbox holds anything.
func (s *Stream) Pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.outbox) > 0
}

// Waiting counts the messages the hub at url does not hold yet.
func (s *Stream) Waiting(url string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.outbox {
		if !slices.Contains(e.Done, url) {
			n++
		}
	}
	return n
}

// Written counts what the hub at url holds of the stream as Flush wrote
// it: its messages still in the outbox, and its index.
func (s *Stream) Written(url string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.outbox {
		if slices.Contains(e.Done, url) {
			n++
		}
	}
	if _, ok := s.indexed[url]; ok {
		n++
	}
	return n
}

// Rekeyed forgets what every hub's index says: the index moves with the
// stream's key (a group's new epoch), and the next Flush writes it anew.
func (s *Stream) Rekeyed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.indexed = nil
}

// CopyIndexed takes what the index on the hub at from says as what the
// index on the hub at to says (the index was copied from one to the
// other); it does nothing if no index was written to from.
func (s *Stream) CopyIndexed(from, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mark, ok := s.indexed[from]
	if !ok {
		return
	}
	if s.indexed == nil {
		s.indexed = map[string]Mark{}
	}
	s.indexed[to] = mark
}

// FlushOptions is what Flush needs of its caller.
type FlushOptions struct {
	// URLs are the hubs to write to, in order; Dial gives each (called
	// only for a hub something is to go to).
	URLs []string
	Dial func(url string) (Hub, error)
	// Own are all the user's hubs: a message leaves the outbox once every
	// one of them holds it.
	Own []string
	// IndexPath and IndexKey are where the stream's index is written and
	// the key it is sealed under.
	IndexPath string
	IndexKey  [32]byte
	// Now is the time a hub expiry is compared with: a message whose hub
	// expiry is less than a minute away is not uploaded (its hubs would
	// delete it at once; the index says it expired).
	Now time.Time
	// Saved, if not nil, is called before the first message goes out to a
	// hub: it writes to disk whatever the caller saved so far (the stream
	// included). If it fails, nothing is uploaded and Flush returns its
	// error.
	Saved func() error
}

// Failure is one hub's failure in a Flush.
type Failure struct {
	URL string
	Err error
}

// Flush brings the hubs in o.URLs up to date with the stream: it uploads
// each message still in the outbox to each hub that does not hold it
// yet, strictly in order (a hub that fails is left for the next Flush),
// then rewrites the index on each hub whose count or deletions changed.
// An upload that finds the same blob already there (a retry after a
// crash) counts as done; one that finds another blob wraps ErrOccupied.
// Messages every hub of o.Own holds leave the outbox. Flush reports
// whether it changed the stream (the caller saves it) and each hub's
// failure; a failure of o.Saved stops it (err). It holds the stream's
// lock only between hub calls.
func (s *Stream) Flush(ctx context.Context, o FlushOptions) (changed bool, failed []Failure, err error) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	saved := o.Saved == nil
	for _, url := range o.URLs {
		s.mu.Lock()
		count := s.next // what this hub holds, once the uploads below succeed
		var todo []Entry
		for _, e := range s.outbox {
			if !slices.Contains(e.Done, url) {
				todo = append(todo, e)
			}
		}
		deleted := slices.Clone(s.deleted)
		expiring := slices.Clone(s.expiring)
		old, indexed := s.indexed[url]
		s.mu.Unlock()
		if len(todo) > 0 && !saved {
			// What goes out is on disk first, whoever sealed it.
			if err := o.Saved(); err != nil {
				return changed, failed, err
			}
			saved = true
		}
		if len(todo) == 0 && indexed && old == (Mark{Count: count, Deleted: len(deleted)}) {
			continue // this hub is up to date
		}
		h, err := o.Dial(url)
		if err != nil {
			if len(todo) > 0 || !indexed {
				failed = append(failed, Failure{url, err})
			}
			continue
		}
		var upErr error
		for _, e := range todo {
			if upErr = upload(ctx, h, e, o.Now); upErr != nil {
				count = e.Seq
				break
			}
			s.mu.Lock()
			for i := range s.outbox {
				if s.outbox[i].Seq == e.Seq {
					s.outbox[i].Done = append(s.outbox[i].Done, url)
				}
			}
			s.mu.Unlock()
			changed = true
		}
		mark := Mark{Count: count, Deleted: len(deleted)}
		if indexed && old == mark {
			if upErr != nil {
				failed = append(failed, Failure{url, upErr})
			}
			continue
		}
		if err := putIndex(ctx, h, o.IndexPath, o.IndexKey, deleted, expiring, count); err != nil {
			failed = append(failed, Failure{url, cmp.Or(upErr, err)})
			continue
		}
		if upErr != nil {
			failed = append(failed, Failure{url, upErr})
		}
		s.mu.Lock()
		if s.indexed == nil {
			s.indexed = map[string]Mark{}
		}
		s.indexed[url] = mark
		s.mu.Unlock()
		changed = true
	}
	s.mu.Lock()
	n := len(s.outbox)
	s.outbox = slices.DeleteFunc(s.outbox, func(e Entry) bool {
		return !slices.ContainsFunc(o.Own, func(u string) bool { return !slices.Contains(e.Done, u) }) // on every hub
	})
	changed = changed || len(s.outbox) != n
	s.mu.Unlock()
	return changed, failed, nil
}

// putIndex writes an index on the hub h.
func putIndex(ctx context.Context, h Hub, path string, key [32]byte, deleted []uint64, expiring []wire.Expiry, count uint64) error {
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
	return h.Put(ctx, path, wire.SealIndex(key, path, x), false, time.Time{})
}

// upload puts e on the hub h. A disappearing message whose hub expiry
// has passed (or is a minute away) is not uploaded: its hubs would delete
// it at once, and the index tells readers it expired.
func upload(ctx context.Context, h Hub, e Entry, now time.Time) error {
	if !e.Expires.IsZero() && !e.Expires.After(now.Add(time.Minute)) {
		return nil
	}
	err := h.Put(ctx, e.Path, e.Blob, true, e.Expires)
	if errors.Is(err, hub.ErrPrecondition) {
		sum := md5.Sum(e.Blob)
		if etag, gerr := h.ETag(ctx, e.Path); gerr == nil && etag == hex.EncodeToString(sum[:]) {
			return nil // uploaded before a crash
		}
		return fmt.Errorf("%s: %w", e.Path, ErrOccupied)
	}
	return err
}
