// Package memory is a hub.Driver that keeps objects in memory, for tests.
// Nothing survives the process.
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

// New returns an empty driver.
func New() *Driver { return &Driver{buckets: make(map[string]map[string]entry), now: time.Now} }

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
	if e, ok := b[path]; ok {
		cur = &e.obj
	}
	if err := hub.CheckPut(cur, opt); err != nil {
		return nil, fmt.Errorf("memory: put %s/%s: %w", address, path, err)
	}
	sum := md5.Sum(data)
	obj := hub.Object{Path: path, Size: int64(len(data)), ETag: hex.EncodeToString(sum[:]), ContentType: opt.ContentType, Modified: d.now().UTC().Truncate(time.Second)}
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
	e, ok := d.buckets[address][path]
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
	e, ok := d.buckets[address][path]
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
	if e, ok := d.buckets[address][path]; ok {
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
	var paths []string
	for p := range d.buckets[address] {
		if strings.HasPrefix(p, prefix) && p > after {
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
