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
// A file holds the content followed by a trailer: the content type, its
// length (u16), the MD5 of the content (16 bytes) and the magic "PHB1".
//
// # Durability
//
// A write goes to a temporary file (".tmp-*") in the object's directory, is
// fsynced, and is renamed over the object under the key's lock, then the
// directory is fsynced: a reader sees the old object or the new one, never
// a part, and an acknowledged write survives a crash. Temporary files left
// by a crash are removed when the driver opens the root.
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
	magic      = "PHB1"
	trailerMin = 2 + md5.Size + len(magic)
	tmpPrefix  = ".tmp-"
)

// Driver stores objects under a root directory.
type Driver struct {
	root  string
	locks keylock.Locks
}

var _ hub.Driver = (*Driver)(nil)

// New opens (creating it if needed) the root directory and removes
// temporary files that a crash left behind.
func New(root string) (*Driver, error) {
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
	return &Driver{root: root}, nil
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
	if _, err := tmp.Write(trailer(opt.ContentType, sum)); err != nil {
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
	cur, err := d.stat(name, path)
	if err != nil && !errors.Is(err, hub.ErrNotFound) {
		return nil, fmt.Errorf("disk: put %s/%s: %w", address, path, err)
	}
	if err := hub.CheckPut(cur, opt); err != nil {
		return nil, fmt.Errorf("disk: put %s/%s: %w", address, path, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return nil, fmt.Errorf("disk: put %s/%s: %w", address, path, err)
	}
	done = true
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("disk: put %s/%s: %w", address, path, err)
	}
	return &hub.Object{Path: path, Size: n, ETag: hex.EncodeToString(sum), ContentType: opt.ContentType, Modified: time.Now().UTC().Truncate(time.Second)}, nil
}

func trailer(contentType string, sum []byte) []byte {
	t := make([]byte, 0, len(contentType)+trailerMin)
	t = append(t, contentType...)
	t = binary.BigEndian.AppendUint16(t, uint16(len(contentType)))
	t = append(t, sum...)
	return append(t, magic...)
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
	if size < int64(trailerMin) {
		return nil, fmt.Errorf("object file %s is truncated", f.Name())
	}
	tail := make([]byte, trailerMin)
	if _, err := f.ReadAt(tail, size-int64(trailerMin)); err != nil {
		return nil, err
	}
	if string(tail[len(tail)-len(magic):]) != magic {
		return nil, fmt.Errorf("object file %s has no trailer", f.Name())
	}
	ctLen := int64(binary.BigEndian.Uint16(tail[:2]))
	body := size - int64(trailerMin) - ctLen
	if body < 0 {
		return nil, fmt.Errorf("object file %s has a bad trailer", f.Name())
	}
	ct := make([]byte, ctLen)
	if _, err := f.ReadAt(ct, body); err != nil {
		return nil, err
	}
	return &hub.Object{
		Path: path, Size: body, ETag: hex.EncodeToString(tail[2 : 2+md5.Size]),
		ContentType: string(ct), Modified: st.ModTime().UTC().Truncate(time.Second),
	}, nil
}

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

// Stat implements hub.Driver.
func (d *Driver) Stat(_ context.Context, address, path string) (*hub.Object, error) {
	obj, err := d.stat(d.file(address, path), path)
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
	cur, err := d.stat(name, path)
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
	more := len(paths) > limit
	paths = paths[:min(limit, len(paths))]
	out := make([]hub.Object, 0, len(paths))
	for _, p := range paths {
		obj, err := d.stat(d.file(address, p), p)
		if errors.Is(err, hub.ErrNotFound) {
			continue // deleted while listing
		}
		if err != nil {
			return nil, false, fmt.Errorf("disk: list %s: %w", address, err)
		}
		out = append(out, *obj)
	}
	return out, more, nil
}
