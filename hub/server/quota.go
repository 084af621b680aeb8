package server

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/parley-im/parley/hub"
)

// quotas keeps what each address stores and reserves room for writes
// before they start, so that writes running at once never store more than
// the quota together: a write reserves the bytes it may add (its
// Content-Length, or the room left for a body of unknown length) under
// the lock that checks the room, and settles the reservation with what it
// actually stored. Writes and deletes of one path are serialized (paths)
// so that the size they replace is the size they read.
type quotas struct {
	limit  int64
	driver hub.Driver
	paths  pathLocks

	mu       sync.Mutex
	used     map[string]int64 // committed bytes, once loaded
	reserved map[string]int64 // bytes of writes in flight
	inflight map[string]int   // writes in flight
	stale    map[string]bool  // used may be wrong (objects expired): list again when nothing is in flight

	// With other instances on the same storage (shared), used follows
	// their changes from the event log; two writes of one path through
	// two instances at once may each count the other's object as the one
	// they replace, so usage is listed again when it was last listed
	// quotaRecount ago.
	shared bool
	now    func() time.Time
	loaded map[string]time.Time
}

// quotaRecount is how often a shared hub lists an address's usage again.
const quotaRecount = 10 * time.Minute

func newQuotas(limit int64, d hub.Driver, shared bool, now func() time.Time) *quotas {
	return &quotas{limit: limit, driver: d, used: map[string]int64{}, reserved: map[string]int64{}, inflight: map[string]int{}, stale: map[string]bool{},
		shared: shared, now: now, loaded: map[string]time.Time{}}
}

// reservation is room held for one write.
type reservation struct {
	address string
	old     int64 // the size of the object the write replaces
	held    int64 // added to reserved
	max     int64 // the most the body may hold
}

// reserve holds room for a write of want bytes (-1: unknown, up to
// maxBody) that replaces an object of old bytes, or fails with
// hub.ErrQuota.
func (q *quotas) reserve(ctx context.Context, address string, want, old, maxBody int64) (*reservation, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	used, err := q.load(ctx, address)
	if err != nil {
		return nil, err
	}
	room := q.limit - used - q.reserved[address] + old
	need := want
	if want < 0 {
		need = min(room, maxBody)
	}
	if need > room || (want < 0 && need <= 0) {
		return nil, fmt.Errorf("%w: %s stores %d of %d bytes", hub.ErrQuota, address, used, q.limit)
	}
	r := &reservation{address: address, old: old, held: max(0, need-old), max: need}
	q.reserved[address] += r.held
	q.inflight[address]++
	return r, nil
}

// settle ends a reservation: stored is the size of the new object, or -1
// if the write failed (the old object stays).
func (q *quotas) settle(r *reservation, stored int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reserved[r.address] -= r.held
	if q.inflight[r.address]--; q.inflight[r.address] == 0 {
		delete(q.inflight, r.address)
		delete(q.reserved, r.address)
	}
	if _, ok := q.used[r.address]; ok && stored >= 0 {
		q.used[r.address] += stored - r.old
	}
	if q.inflight[r.address] == 0 && q.shared && q.now().Sub(q.loaded[r.address]) > quotaRecount {
		q.stale[r.address] = true
	}
}

// adjust records that address stores delta bytes more (a write or
// delete, here or through another instance).
func (q *quotas) adjust(address string, delta int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.used[address]; ok {
		q.used[address] += delta
	}
}

// forget marks address's usage for listing again (objects of it expired
// and were swept).
func (q *quotas) forget(address string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stale[address] = true
}

// load returns the bytes address stores, listing them on first use (and
// after forget, once no write is in flight); the caller holds q.mu.
func (q *quotas) load(ctx context.Context, address string) (int64, error) {
	if u, ok := q.used[address]; ok && !(q.stale[address] && q.inflight[address] == 0) {
		return u, nil
	}
	var total int64
	after := ""
	for {
		objs, more, err := q.driver.List(ctx, address, "", after, 1000)
		if err != nil {
			return 0, err
		}
		for _, o := range objs {
			total += o.Size
			after = o.Path
		}
		if !more || len(objs) == 0 {
			break
		}
	}
	if len(q.used) >= quotaCacheMax && q.inflight[address] == 0 {
		clear(q.used) // a cache of what the driver holds: start over (in-flight reservations are kept apart)
		clear(q.loaded)
		clear(q.stale)
	}
	q.used[address] = total
	q.loaded[address] = q.now()
	delete(q.stale, address)
	return total, nil
}

// quotaCacheMax bounds the addresses whose usage is kept in memory.
const quotaCacheMax = 1 << 16

// quotaReader fails a body that grows beyond its reservation.
type quotaReader struct {
	r   io.Reader
	max int64
	n   int64
}

func (q *quotaReader) Read(p []byte) (int, error) {
	n, err := q.r.Read(p)
	q.n += int64(n)
	if q.n > q.max {
		return n, fmt.Errorf("%w: the object does not fit in the address's quota", hub.ErrQuota)
	}
	return n, err
}

// pathLocks serializes operations on one (address, path); memory grows
// with the paths in use, not with all paths ever used, and a slow upload
// holds up only its own path.
type pathLocks struct {
	mu    sync.Mutex
	locks map[string]*pathLock
}

type pathLock struct {
	mu   sync.Mutex
	refs int
}

// lock locks (address, path) and returns the function that unlocks it.
func (l *pathLocks) lock(address, path string) func() {
	key := address + "\x00" + path
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*pathLock{}
	}
	pl := l.locks[key]
	if pl == nil {
		pl = &pathLock{}
		l.locks[key] = pl
	}
	pl.refs++
	l.mu.Unlock()
	pl.mu.Lock()
	return func() {
		pl.mu.Unlock()
		l.mu.Lock()
		if pl.refs--; pl.refs == 0 {
			delete(l.locks, key)
		}
		l.mu.Unlock()
	}
}
