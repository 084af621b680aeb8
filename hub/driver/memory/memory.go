// Package memory is a hub.Driver that keeps objects in memory, for tests.
// Nothing survives the process. Expired objects are hidden at once and
// freed by Sweep (a scan of every object).
//
// It owns its map of objects; it must not re-validate keys (the core does)
// or be used for data that must survive.
package memory

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/parley-im/parley/hub"
)

// Driver stores objects in a map. The zero value is not usable: use New.
type Driver struct {
	mu      sync.RWMutex
	buckets map[string]map[string]entry
	now     func() time.Time
}

type entry struct {
	obj  hub.Object
	data []byte
}

var _ hub.Driver = (*Driver)(nil)

// Option adjusts a Driver.
type Option func(*Driver)

// WithClock sets the clock that expiry is measured by (default time.Now).
func WithClock(now func() time.Time) Option { return func(d *Driver) { d.now = now } }

// New returns an empty driver.
func New(opts ...Option) *Driver {
	d := &Driver{buckets: make(map[string]map[string]entry), now: time.Now}
	for _, o := range opts {
		o(d)
	}
	return d
}

// live returns the object at (address, path) unless it is missing or
// expired; the caller holds d.mu.
func (d *Driver) live(address, path string) (entry, bool) {
	e, ok := d.buckets[address][path]
	if !ok || e.obj.Expired(d.now()) {
		return entry{}, false
	}
	return e, true
}

// Put implements hub.Driver.
func (d *Driver) Put(ctx context.Context, address, path string, r io.Reader, opt hub.PutOptions) (*hub.Object, error) {
	data, err := io.ReadAll(r) // read before locking: a slow client holds no lock
	if err != nil {
		return nil, fmt.Errorf("memory: put %s/%s: %w", address, path, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.buckets[address]
	var cur *hub.Object
	if e, ok := d.live(address, path); ok {
		cur = &e.obj
	}
	if err := hub.CheckPut(cur, opt); err != nil {
		return nil, fmt.Errorf("memory: put %s/%s: %w", address, path, err)
	}
	sum := md5.Sum(data)
	obj := hub.Object{Path: path, Size: int64(len(data)), ETag: hex.EncodeToString(sum[:]), ContentType: opt.ContentType, Modified: d.now().UTC().Truncate(time.Second)}
	if !opt.Expires.IsZero() {
		obj.Expires = time.Unix(opt.Expires.Unix(), 0).UTC()
	}
	if b == nil {
		b = make(map[string]entry)
		d.buckets[address] = b
	}
	b[path] = entry{obj: obj, data: data}
	return &obj, nil
}

// Get implements hub.Driver.
func (d *Driver) Get(_ context.Context, address, path string) (*hub.Object, io.ReadCloser, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	e, ok := d.live(address, path)
	if !ok {
		return nil, nil, fmt.Errorf("memory: get %s/%s: %w", address, path, hub.ErrNotFound)
	}
	obj := e.obj
	return &obj, io.NopCloser(bytes.NewReader(e.data)), nil
}

// Stat implements hub.Driver.
func (d *Driver) Stat(_ context.Context, address, path string) (*hub.Object, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	e, ok := d.live(address, path)
	if !ok {
		return nil, fmt.Errorf("memory: stat %s/%s: %w", address, path, hub.ErrNotFound)
	}
	obj := e.obj
	return &obj, nil
}

// Delete implements hub.Driver.
func (d *Driver) Delete(_ context.Context, address, path string, opt hub.DeleteOptions) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var cur *hub.Object
	if e, ok := d.live(address, path); ok {
		cur = &e.obj
	}
	if err := hub.CheckDelete(cur, opt); err != nil {
		return fmt.Errorf("memory: delete %s/%s: %w", address, path, err)
	}
	delete(d.buckets[address], path)
	return nil
}

// List implements hub.Driver.
func (d *Driver) List(_ context.Context, address, prefix, after string, limit int) ([]hub.Object, bool, error) {
	d.mu.RLock()
	now := d.now()
	var paths []string
	for p, e := range d.buckets[address] {
		if strings.HasPrefix(p, prefix) && p > after && !e.obj.Expired(now) {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	more := len(paths) > limit
	paths = paths[:min(limit, len(paths))]
	out := make([]hub.Object, 0, len(paths))
	for _, p := range paths {
		out = append(out, d.buckets[address][p].obj)
	}
	d.mu.RUnlock()
	return slices.Clip(out), more, nil
}

// Sweep implements hub.Driver.
func (d *Driver) Sweep(_ context.Context, gone func(address string, obj hub.Object)) error {
	type swept struct {
		address string
		obj     hub.Object
	}
	var out []swept
	d.mu.Lock()
	now := d.now()
	for address, b := range d.buckets {
		for p, e := range b {
			if e.obj.Expired(now) {
				delete(b, p)
				out = append(out, swept{address, e.obj})
			}
		}
	}
	d.mu.Unlock()
	for _, s := range out {
		gone(s.address, s.obj)
	}
	return nil
}
