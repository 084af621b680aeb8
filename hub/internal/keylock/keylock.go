// Package keylock serializes operations on the same key with a fixed set of
// striped mutexes: operations on different keys rarely wait for each other,
// and memory does not grow with the number of keys.
//
// It owns only its mutexes; it must not be held across a caller's network
// call.
package keylock

import (
	"hash/maphash"
	"sync"
)

const stripes = 1024

// Locks is a set of striped mutexes. The zero value is ready to use.
type Locks struct {
	once sync.Once
	seed maphash.Seed
	mu   [stripes]sync.Mutex
}

// Lock locks key and returns the function that unlocks it.
func (l *Locks) Lock(address, path string) func() {
	l.once.Do(func() { l.seed = maphash.MakeSeed() })
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(address)
	h.WriteByte(0)
	h.WriteString(path)
	m := &l.mu[h.Sum64()%stripes]
	m.Lock()
	return m.Unlock
}
