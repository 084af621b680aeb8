// Package disk is the default hub.Driver: one file per object under a root
// directory.
//
// # Layout
//
// Object (address, "a/b.json") is the file root/address/a/b%2Ejson.o: every
// path segment is escaped (bytes other than A-Z, a-z, 0-9, '_' and '-'
// become %XX), directories keep the escaped segment, files add ".o". So no
// path can name anything outside its address's directory, an object "a"
// and an object "a/b" do not collide, and no object file starts with '.'.
//
// A file holds the content followed by a trailer: the content type, the
// expiry (u64 Unix seconds, 0 for none), the content type's length (u16),
// the MD5 of the content (16 bytes) and the magic "PHB2". Files written
// before expiry existed end with the same trailer without the expiry, and
// the magic "PHB1"; both are read.
//
// # Expiry
//
// An object written with an expiry is also named in the expiry index: an
// empty file root/.expiry/<bucket>/<address>/<escaped path>.o, where the
// bucket is hub.ExpiryBucket of the expiry (one per minute). The marker is
// written and synced before the object, so no expiring object lacks one.
// Sweep reads only buckets whose minute has begun: it deletes each named
// object that has expired (under the key's lock, checking again), drops
// markers whose object is gone or was overwritten with another expiry,
// keeps those of objects expiring later that minute, and removes empty
// directories. The ".expiry" name cannot be an address (keyenc escapes
// '.').
//
// # Durability
//
// A write goes to a temporary file (".tmp-*") in the object's directory, is
// fsynced, and is renamed over the object under the key's lock, then the
// directory is fsynced: a reader sees the old object or the new one, never
// a part, and an acknowledged write survives a crash. Temporary files left
// by a crash are removed when the driver opens the root.
//
// It owns the files under its root; it must not re-validate keys (the core
// does) or write an object in place (temporary file, fsync, rename).
package disk

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/internal/keyenc"
	"github.com/parley-im/parley/hub/internal/keylock"
)

const (
	magicV1   = "PHB1"
	magic     = "PHB2"
	trailerV1 = 2 + md5.Size + len(magicV1)
	trailerV2 = 8 + 2 + md5.Size + len(magic)
	tmpPrefix = ".tmp-"
	expiryDir = ".expiry"
)

// Driver stores objects under a root directory.
type Driver struct {
	root  string
	locks keylock.Locks
	now   func() time.Time
}

var _ hub.Driver = (*Driver)(nil)

// Option adjusts a Driver.
type Option func(*Driver)

// WithClock sets the clock that expiry is measured by (default time.Now).
func WithClock(now func() time.Time) Option { return func(d *Driver) { d.now = now } }

// New opens (creating it if needed) the root directory and removes
// temporary files that a crash left behind.
func New(root string, opts ...Option) (*Driver, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !de.IsDir() && strings.HasPrefix(de.Name(), tmpPrefix) {
			return os.Remove(p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("disk: clean %s: %w", root, err)
	}
	d := &Driver{root: root, now: time.Now}
	for _, o := range opts {
		o(d)
	}
	return d, nil
}

// file returns the object file of (address, path).
func (d *Driver) file(address, path string) string {
	return filepath.Join(d.root, keyenc.Segment(address), filepath.FromSlash(keyenc.Path(path)))
}

// Put implements hub.Driver.
func (d *Driver) Put(ctx context.Context, address, path string, r io.Reader, opt hub.PutOptions) (*hub.Object, error) {
	if len(opt.ContentType) > 1024 {
		return nil, fmt.Errorf("disk: put %s/%s: %w: content type longer than 1024 bytes", address, path, hub.ErrInvalid)
	}
	name := d.file(address, path)
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("disk: put %s/%s: %w", address, path, err)
	}
	tmp, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("disk: put %s/%s: %w", address, path, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err != nil {
		return nil, fmt.Errorf("disk: put %s/%s: %w", address, path, err)
	}
	sum := h.Sum(nil)
	var expires int64
	if !opt.Expires.IsZero() {
		expires = opt.Expires.Unix()
	}
	if _, err := tmp.Write(trailer(opt.ContentType, expires, sum)); err != nil {
		return nil, fmt.Errorf("disk: put %s/%s: %w", address, path, err)
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("disk: put %s/%s: %w", address, path, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("disk: put %s/%s: %w", address, path, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	unlock := d.locks.Lock(address, path)
	defer unlock()
	cur, err := d.statLive(name, path)
	if err != nil && !errors.Is(err, hub.ErrNotFound) {
		return nil, fmt.Errorf("disk: put %s/%s: %w", address, path, err)
	}
	if err := hub.CheckPut(cur, opt); err != nil {
		return nil, fmt.Errorf("disk: put %s/%s: %w", address, path, err)
	}
	if expires != 0 { // under the lock, which a sweep takes to drop a marker
		if err := d.mark(address, path, opt.Expires); err != nil {
			return nil, fmt.Errorf("disk: put %s/%s: expiry index: %w", address, path, err)
		}
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return nil, fmt.Errorf("disk: put %s/%s: %w", address, path, err)
	}
	done = true
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("disk: put %s/%s: %w", address, path, err)
	}
	return &hub.Object{Path: path, Size: n, ETag: hex.EncodeToString(sum), ContentType: opt.ContentType, Modified: time.Now().UTC().Truncate(time.Second),
		Expires: unixOrZero(expires)}, nil
}

func unixOrZero(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

func trailer(contentType string, expires int64, sum []byte) []byte {
	t := make([]byte, 0, len(contentType)+trailerV2)
	t = append(t, contentType...)
	t = binary.BigEndian.AppendUint64(t, uint64(expires))
	t = binary.BigEndian.AppendUint16(t, uint16(len(contentType)))
	t = append(t, sum...)
	return append(t, magic...)
}

// marker is the expiry index's file for (address, path) expiring at t.
func (d *Driver) marker(address, path string, t time.Time) string {
	return filepath.Join(d.root, expiryDir, hub.ExpiryBucket(t), keyenc.Segment(address), filepath.FromSlash(keyenc.Path(path)))
}

// mark writes and syncs the expiry index's marker of (address, path). A
// sweep may remove its directory meanwhile: it tries again.
func (d *Driver) mark(address, path string, t time.Time) error {
	name := d.marker(address, path, t)
	var err error
	for range 3 {
		if err = os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
			continue
		}
		var f *os.File
		if f, err = os.OpenFile(name, os.O_CREATE|os.O_WRONLY, 0o600); err != nil {
			continue
		}
		err = f.Sync()
		f.Close()
		if err == nil {
			return syncDir(filepath.Dir(name))
		}
	}
	return err
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// readMeta reads the trailer of an open object file.
func readMeta(f *os.File, path string) (*hub.Object, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size < int64(len(magic)) {
		return nil, fmt.Errorf("object file %s is truncated", f.Name())
	}
	m := make([]byte, len(magic))
	if _, err := f.ReadAt(m, size-int64(len(m))); err != nil {
		return nil, err
	}
	fixed := trailerV2
	switch string(m) {
	case magic:
	case magicV1:
		fixed = trailerV1
	default:
		return nil, fmt.Errorf("object file %s has no trailer", f.Name())
	}
	if size < int64(fixed) {
		return nil, fmt.Errorf("object file %s is truncated", f.Name())
	}
	tail := make([]byte, fixed)
	if _, err := f.ReadAt(tail, size-int64(fixed)); err != nil {
		return nil, err
	}
	var expires int64
	if fixed == trailerV2 {
		expires = int64(binary.BigEndian.Uint64(tail))
		tail = tail[8:]
	}
	ctLen := int64(binary.BigEndian.Uint16(tail[:2]))
	body := size - int64(fixed) - ctLen
	if body < 0 || expires < 0 {
		return nil, fmt.Errorf("object file %s has a bad trailer", f.Name())
	}
	ct := make([]byte, ctLen)
	if _, err := f.ReadAt(ct, body); err != nil {
		return nil, err
	}
	return &hub.Object{
		Path: path, Size: body, ETag: hex.EncodeToString(tail[2 : 2+md5.Size]),
		ContentType: string(ct), Modified: st.ModTime().UTC().Truncate(time.Second), Expires: unixOrZero(expires),
	}, nil
}

// stat reads the metadata of the object file name, expired or not.
func (d *Driver) stat(name, path string) (*hub.Object, error) {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, hub.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readMeta(f, path)
}

// statLive is stat, with an expired object not found.
func (d *Driver) statLive(name, path string) (*hub.Object, error) {
	obj, err := d.stat(name, path)
	if err == nil && obj.Expired(d.now()) {
		return nil, hub.ErrNotFound
	}
	return obj, err
}

// Stat implements hub.Driver.
func (d *Driver) Stat(_ context.Context, address, path string) (*hub.Object, error) {
	obj, err := d.statLive(d.file(address, path), path)
	if err != nil {
		return nil, fmt.Errorf("disk: stat %s/%s: %w", address, path, err)
	}
	return obj, nil
}

// Get implements hub.Driver.
func (d *Driver) Get(_ context.Context, address, path string) (*hub.Object, io.ReadCloser, error) {
	f, err := os.Open(d.file(address, path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("disk: get %s/%s: %w", address, path, hub.ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("disk: get %s/%s: %w", address, path, err)
	}
	obj, err := readMeta(f, path)
	if err == nil && obj.Expired(d.now()) {
		err = hub.ErrNotFound
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("disk: get %s/%s: %w", address, path, err)
	}
	return obj, struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, 0, obj.Size), f}, nil
}

// Delete implements hub.Driver.
func (d *Driver) Delete(_ context.Context, address, path string, opt hub.DeleteOptions) error {
	name := d.file(address, path)
	unlock := d.locks.Lock(address, path)
	defer unlock()
	cur, err := d.statLive(name, path)
	if err != nil && !errors.Is(err, hub.ErrNotFound) {
		return fmt.Errorf("disk: delete %s/%s: %w", address, path, err)
	}
	if err := hub.CheckDelete(cur, opt); err != nil {
		return fmt.Errorf("disk: delete %s/%s: %w", address, path, err)
	}
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("disk: delete %s/%s: %w", address, path, err)
	}
	return syncDir(filepath.Dir(name))
}

// List implements hub.Driver. It walks the address's directory: O(objects)
// per call.
func (d *Driver) List(_ context.Context, address, prefix, after string, limit int) ([]hub.Object, bool, error) {
	base := filepath.Join(d.root, keyenc.Segment(address))
	var paths []string
	err := filepath.WalkDir(base, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == base {
				return filepath.SkipAll
			}
			return err
		}
		if de.IsDir() || strings.HasPrefix(de.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		name, ok := keyenc.Unpath(filepath.ToSlash(rel))
		if ok && strings.HasPrefix(name, prefix) && name > after {
			paths = append(paths, name)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("disk: list %s: %w", address, err)
	}
	sort.Strings(paths)
	var out []hub.Object
	for _, p := range paths {
		if len(out) == limit {
			return out, true, nil // paths[i:] may all have expired: the next page says
		}
		obj, err := d.statLive(d.file(address, p), p)
		if errors.Is(err, hub.ErrNotFound) {
			continue // deleted while listing, or expired
		}
		if err != nil {
			return nil, false, fmt.Errorf("disk: list %s: %w", address, err)
		}
		out = append(out, *obj)
	}
	return out, false, nil
}

// Sweep implements hub.Driver.
func (d *Driver) Sweep(ctx context.Context, gone func(address string, obj hub.Object)) error {
	now := d.now()
	base := filepath.Join(d.root, expiryDir)
	buckets, err := os.ReadDir(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("disk: sweep: %w", err)
	}
	current := hub.ExpiryBucket(now)
	for _, b := range buckets {
		if b.Name() > current {
			break // ReadDir sorts by name: the rest are later
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := d.sweepBucket(filepath.Join(base, b.Name()), b.Name(), now, gone); err != nil {
			return fmt.Errorf("disk: sweep %s: %w", b.Name(), err)
		}
	}
	return nil
}

// sweepBucket handles the markers in one bucket of the expiry index.
func (d *Driver) sweepBucket(dir, bucket string, now time.Time, gone func(string, hub.Object)) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		addrSeg, rest, _ := strings.Cut(filepath.ToSlash(rel), "/")
		address, err1 := keyenc.Unsegment(addrSeg)
		path, ok := keyenc.Unpath(rest)
		if err1 != nil || !ok {
			return os.Remove(p) // not a marker
		}
		return d.sweepOne(p, address, path, bucket, now, gone)
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i]) // only if empty: a write may be adding a marker
	}
	return nil
}

// sweepOne deletes (address, path) if it has expired, and removes its
// marker in bucket unless the object expires later in the bucket's
// minute. It holds the key's lock throughout, as Put does while it writes
// a marker and the object.
func (d *Driver) sweepOne(marker, address, path, bucket string, now time.Time, gone func(string, hub.Object)) error {
	name := d.file(address, path)
	unlock := d.locks.Lock(address, path)
	defer unlock()
	obj, err := d.stat(name, path)
	switch {
	case errors.Is(err, hub.ErrNotFound):
	case err != nil:
		return err
	case obj.Expires.IsZero() || hub.ExpiryBucket(obj.Expires) != bucket:
		// overwritten: its own marker, if any, is elsewhere
	case !obj.Expired(now):
		return nil
	default:
		if err := os.Remove(name); err != nil {
			return err
		}
		if err := syncDir(filepath.Dir(name)); err != nil {
			return err
		}
		defer gone(address, *obj)
	}
	return os.Remove(marker)
}
