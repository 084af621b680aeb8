package app

import (
	"bytes"
	"sort"
)

// reader is the part of an IAVL tree (mutable or immutable) the overlay reads.
type reader interface {
	Get(key []byte) ([]byte, error)
}

// emptyState is the state before the first commit.
type emptyState struct{}

func (emptyState) Get([]byte) ([]byte, error) { return nil, nil }

// overlay stages writes over a tree. A nil value in writes is a delete.
//
// It also remembers what it read from the parent (at most maxOverlayReads
// keys), since the parent does not change under it: a transaction reads
// its account, its record and its preorder in validation and again in
// application, and CheckTx, then FinalizeBlock, do both.
type overlay struct {
	parent reader
	writes map[string][]byte
	reads  map[string][]byte // the parent's values; nil: absent
	// parentReads counts the reads that reached the parent (tests and
	// benchmarks).
	parentReads int
}

// maxOverlayReads bounds the parent's values an overlay keeps: a block's
// or a mempool's worth of transactions reads about three keys each.
const maxOverlayReads = 1 << 16

func newOverlay(parent reader) *overlay {
	return &overlay{parent: parent, writes: make(map[string][]byte), reads: make(map[string][]byte)}
}

// get returns the value under key, or nil if there is none. A read error
// of the local database is a broken invariant, not bad input: it panics.
// The value is shared: the caller must not modify it.
func (o *overlay) get(key []byte) []byte {
	if v, ok := o.writes[string(key)]; ok {
		return v
	}
	if v, ok := o.reads[string(key)]; ok {
		return v
	}
	v, err := o.parent.Get(key)
	if err != nil {
		panic("app: state read: " + err.Error())
	}
	o.parentReads++
	if len(o.reads) < maxOverlayReads {
		o.reads[string(key)] = v
	}
	return v
}

func (o *overlay) set(key, value []byte) {
	if value == nil {
		value = []byte{}
	}
	o.writes[string(key)] = value
}

func (o *overlay) delete(key []byte) { o.writes[string(key)] = nil }

// writer is the part of a mutable IAVL tree that flush writes into.
type writer interface {
	Set(key, value []byte) (bool, error)
	Remove(key []byte) ([]byte, bool, error)
}

// flush writes the staged changes into w in sorted key order (an AVL tree's
// shape, and so its hash, depends on the order of insertion) and clears
// the overlay.
func (o *overlay) flush(w writer) error {
	keys := make([]string, 0, len(o.writes))
	for k := range o.writes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := o.writes[k]
		var err error
		if v == nil {
			_, _, err = w.Remove([]byte(k))
		} else {
			_, err = w.Set([]byte(k), v)
		}
		if err != nil {
			return err
		}
	}
	o.writes = make(map[string][]byte)
	o.reads = make(map[string][]byte) // the parent has changed
	return nil
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
