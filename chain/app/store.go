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
type overlay struct {
	parent reader
	writes map[string][]byte
}

func newOverlay(parent reader) *overlay {
	return &overlay{parent: parent, writes: make(map[string][]byte)}
}

// get returns the value under key, or nil if there is none. A read error
// of the local database is a broken invariant, not bad input: it panics.
func (o *overlay) get(key []byte) []byte {
	if v, ok := o.writes[string(key)]; ok {
		return v
	}
	v, err := o.parent.Get(key)
	if err != nil {
		panic("app: state read: " + err.Error())
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
