// Package s3 is a hub.Driver over S3-compatible object storage, for
// operators who outgrow one disk. It uses the maintained minio-go client
// and works with AWS S3 and compatible servers.
//
// # Layout
//
// Object (address, path) is the S3 key "<address>/<escaped path>.o" in the
// configured bucket, escaped as the disk driver escapes file names (package
// keyenc), so servers that map keys to files (versitygw's posix backend,
// for one) store "a" and "a/b" side by side. The MD5 of the content is
// kept in the object's metadata (x-amz-meta-parley-md5) and is the hub's
// ETag, whatever the server's own ETag scheme.
//
// An expiring object carries its expiry in its metadata
// (x-amz-meta-parley-expires, Unix seconds), so every hub process serving
// the bucket stops serving it at that time. It is also named in the
// expiry index: an empty object ".expiry/<bucket>/<key>", the bucket being
// hub.ExpiryBucket of the expiry (keys sort by time; no address can start
// with '.'). The marker is written before the object, under the key's
// lock. Sweep lists the index up to the current minute and deletes each
// expired object it names (rechecking its metadata under the key's lock),
// then the marker. The delete is conditional (If-Match: the S3 ETag of
// the expired object it checked), so a process sweeping never removes an
// object that another process has just rewritten at that path; several
// processes may sweep one bucket at once (one deletes, the others find it
// gone). On a server that ignores conditional deletes, that moment
// between check and delete remains: run the sweeper in one process there.
//
// # Conditional writes
//
// Conditions are checked and the write applied under a per-key lock in the
// hub process, and, for a conditional write or delete, S3's own
// conditional request makes it atomic across processes: the driver reads
// the object's metadata, checks the hub's condition against it, then
// writes with If-Match: <the S3 ETag it read> (If-None-Match: * when there
// was none) or deletes with If-Match; a server that answers 412 (or 404 to
// an If-Match) saw another process change the object in between, and the
// hub's answer is hub.ErrPrecondition. Unconditional writes are last
// writer wins. Servers that enforce these headers: AWS S3 (PUT since
// 2024, DELETE since 2025), MinIO, versitygw from v1.0.18 (tested here
// with v1.8.0; v1.0.14 ignores them, measured). Config.Shared makes New
// check that the server refuses a second If-None-Match: * write, and fail
// if it does not: hubd sets it for instances sharing a bucket (--nats).
//
// Reads start under the same per-key lock, because some servers do not
// replace objects atomically for readers.
//
// # Costs
//
// A write spools the body to a temporary file to learn its size and MD5,
// then uploads it in one PUT. List reads every key of the address (one
// ListObjectsV2 walk) to return paths in order: O(objects) per call.
//
// It owns the mapping of objects to S3 keys; it must not re-validate keys
// (the core does) or emulate a condition by a read then a write: S3's
// conditional requests apply them.
package s3

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/internal/keyenc"
	"github.com/parley-im/parley/hub/internal/keylock"
)

// Config locates the bucket.
type Config struct {
	Endpoint  string // host:port, without scheme
	AccessKey string
	SecretKey string
	Bucket    string
	Region    string
	UseTLS    bool
	// TempDir spools uploads (default: os.TempDir()).
	TempDir string
	// Now is the clock that expiry is measured by (default time.Now).
	Now func() time.Time
	// Shared: other processes serve the same bucket. New then checks
	// that the server enforces conditional writes, and fails if not.
	Shared bool
}

// Driver stores objects in an S3 bucket.
type Driver struct {
	c      *minio.Client
	bucket string
	tmp    string
	locks  keylock.Locks
	now    func() time.Time
}

var _ hub.Driver = (*Driver)(nil)

const (
	md5Meta     = "Parley-Md5"
	expiresMeta = "Parley-Expires"
	expiryIndex = ".expiry/"
	probePrefix = ".probe/"
)

// New connects and creates the bucket if it does not exist.
func New(ctx context.Context, cfg Config) (*Driver, error) {
	tr, err := minio.DefaultTransport(cfg.UseTLS)
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.UseTLS,
		Region:    cfg.Region,
		Transport: condTransport{tr},
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3: bucket %s: %w", cfg.Bucket, err)
	}
	if !ok {
		if err := c.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
			return nil, fmt.Errorf("s3: create bucket %s: %w", cfg.Bucket, err)
		}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	d := &Driver{c: c, bucket: cfg.Bucket, tmp: cfg.TempDir, now: now}
	if cfg.Shared {
		if err := d.checkConditional(ctx); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// ErrNoConditionalWrites is returned by New for a shared bucket on a
// server that ignores If-None-Match.
var ErrNoConditionalWrites = errors.New("the S3 server ignores conditional writes (If-None-Match: *)")

// checkConditional writes a probe object twice with If-None-Match: *; a
// server that takes the second write does not enforce conditions.
func (d *Driver) checkConditional(ctx context.Context) error {
	r := make([]byte, 8)
	rand.Read(r)
	k := probePrefix + hex.EncodeToString(r)
	defer d.c.RemoveObject(context.WithoutCancel(ctx), d.bucket, k, minio.RemoveObjectOptions{})
	for i := range 2 {
		var po minio.PutObjectOptions
		po.SetMatchETagExcept("*")
		_, err := d.c.PutObject(ctx, d.bucket, k, strings.NewReader("probe"), 5, po)
		switch {
		case i == 0 && err != nil:
			return fmt.Errorf("s3: probe conditional writes: %w", err)
		case i == 1 && err == nil:
			return fmt.Errorf("s3: bucket %s is shared by several hub processes, but %w: they could overwrite each other's conditional writes; use a server that enforces them (AWS S3, MinIO, versitygw v1.0.18 or later)", d.bucket, ErrNoConditionalWrites)
		case i == 1 && !preconditionFailed(err):
			return fmt.Errorf("s3: probe conditional writes: %w", err)
		}
	}
	return nil
}

// condKey carries the If-Match of a delete to condTransport (minio-go
// sends no conditions with a delete).
type condKey struct{}

// condTransport adds the If-Match a delete's context carries.
type condTransport struct{ rt http.RoundTripper }

func (t condTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if v, ok := r.Context().Value(condKey{}).(string); ok && r.Method == http.MethodDelete {
		r = r.Clone(r.Context())
		r.Header.Set("If-Match", `"`+v+`"`)
	}
	return t.rt.RoundTrip(r)
}

// preconditionFailed reports whether S3 refused a conditional request:
// 412, or 404 for an If-Match on an object that is gone.
func preconditionFailed(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.StatusCode == http.StatusPreconditionFailed || r.Code == "PreconditionFailed" || notFound(err)
}

func key(address, path string) string { return keyenc.Segment(address) + "/" + keyenc.Path(path) }

func notFound(err error) bool {
	code := minio.ToErrorResponse(err).Code
	return code == "NoSuchKey" || code == "NotFound" || minio.ToErrorResponse(err).StatusCode == 404
}

func meta(info minio.ObjectInfo, name string) string {
	if v := info.UserMetadata[name]; v != "" {
		return v
	}
	return info.Metadata.Get("X-Amz-Meta-" + name)
}

func objectOf(path string, info minio.ObjectInfo) *hub.Object {
	etag := meta(info, md5Meta)
	if etag == "" {
		etag = strings.Trim(info.ETag, `"`)
	}
	obj := &hub.Object{Path: path, Size: info.Size, ETag: etag, ContentType: info.ContentType, Modified: info.LastModified.UTC().Truncate(time.Second)}
	if v := meta(info, expiresMeta); v != "" {
		if sec, err := strconv.ParseInt(v, 10, 64); err == nil && sec > 0 {
			obj.Expires = time.Unix(sec, 0).UTC()
		} else {
			obj.Expires = time.Unix(1, 0).UTC() // unreadable: treat as expired, never serve it forever
		}
	}
	return obj
}

// stat reads an object's metadata, expired or not.
func (d *Driver) stat(ctx context.Context, address, path string) (*hub.Object, error) {
	obj, _, err := d.statS3(ctx, address, path)
	return obj, err
}

// statS3 is stat, also returning the server's own ETag of the object
// (for conditional requests).
func (d *Driver) statS3(ctx context.Context, address, path string) (*hub.Object, string, error) {
	info, err := d.c.StatObject(ctx, d.bucket, key(address, path), minio.StatObjectOptions{})
	if err != nil {
		if notFound(err) {
			return nil, "", hub.ErrNotFound
		}
		return nil, "", err
	}
	return objectOf(path, info), strings.Trim(info.ETag, `"`), nil
}

// statLive is stat, with an expired object not found.
func (d *Driver) statLive(ctx context.Context, address, path string) (*hub.Object, error) {
	obj, err := d.stat(ctx, address, path)
	if err == nil && obj.Expired(d.now()) {
		return nil, hub.ErrNotFound
	}
	return obj, err
}

// Put implements hub.Driver.
func (d *Driver) Put(ctx context.Context, address, path string, r io.Reader, opt hub.PutOptions) (*hub.Object, error) {
	spool, err := os.CreateTemp(d.tmp, "hub-s3-*")
	if err != nil {
		return nil, fmt.Errorf("s3: put %s/%s: %w", address, path, err)
	}
	defer func() { spool.Close(); os.Remove(spool.Name()) }()
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(spool, h), r)
	if err != nil {
		return nil, fmt.Errorf("s3: put %s/%s: %w", address, path, err)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	sum := hex.EncodeToString(h.Sum(nil))

	unlock := d.locks.Lock(address, path)
	defer unlock()
	conditional := opt.IfNoneMatch || (opt.IfMatch != "" && opt.IfMatch != "*")
	var cur *hub.Object
	var s3etag string
	if conditional {
		cur, s3etag, err = d.statS3(ctx, address, path)
		if err != nil && !errors.Is(err, hub.ErrNotFound) {
			return nil, fmt.Errorf("s3: put %s/%s: %w", address, path, err)
		}
		live := cur
		if cur != nil && cur.Expired(d.now()) {
			live = nil
		}
		if err := hub.CheckPut(live, opt); err != nil {
			return nil, fmt.Errorf("s3: put %s/%s: %w", address, path, err)
		}
	}
	po := minio.PutObjectOptions{
		ContentType:  opt.ContentType,
		UserMetadata: map[string]string{md5Meta: sum},
		PartSize:     5 << 30, // one PUT: the hub bounds objects far below 5 GiB
	}
	if po.ContentType == "" {
		po.ContentType = "application/octet-stream"
	}
	var expires time.Time
	if !opt.Expires.IsZero() {
		expires = time.Unix(opt.Expires.Unix(), 0).UTC()
		po.UserMetadata[expiresMeta] = strconv.FormatInt(expires.Unix(), 10)
		if _, err := d.c.PutObject(ctx, d.bucket, markerKey(expires, address, path), strings.NewReader(""), 0, minio.PutObjectOptions{}); err != nil {
			return nil, fmt.Errorf("s3: put %s/%s: expiry index: %w", address, path, err)
		}
	}
	if conditional { // what was checked must still be there (another process may have written)
		if cur == nil {
			po.SetMatchETagExcept("*")
		} else {
			po.SetMatchETag(s3etag)
		}
	}
	if _, err := d.c.PutObject(ctx, d.bucket, key(address, path), spool, n, po); err != nil {
		if conditional && preconditionFailed(err) {
			return nil, fmt.Errorf("s3: put %s/%s: %w: another process changed it", address, path, hub.ErrPrecondition)
		}
		return nil, fmt.Errorf("s3: put %s/%s: %w", address, path, err)
	}
	return &hub.Object{Path: path, Size: n, ETag: sum, ContentType: opt.ContentType, Modified: time.Now().UTC().Truncate(time.Second), Expires: expires}, nil
}

// markerKey is the expiry index's key for (address, path) expiring at t.
func markerKey(t time.Time, address, path string) string {
	return expiryIndex + hub.ExpiryBucket(t) + "/" + key(address, path)
}

// Get implements hub.Driver. The request is started under the key's lock:
// some S3 servers (versitygw's posix backend) do not replace an object
// atomically for readers, and a read that starts during a replacement can
// find nothing.
func (d *Driver) Get(ctx context.Context, address, path string) (*hub.Object, io.ReadCloser, error) {
	unlock := d.locks.Lock(address, path)
	defer unlock()
	o, err := d.c.GetObject(ctx, d.bucket, key(address, path), minio.GetObjectOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("s3: get %s/%s: %w", address, path, err)
	}
	info, err := o.Stat()
	if err != nil {
		o.Close()
		if notFound(err) {
			return nil, nil, fmt.Errorf("s3: get %s/%s: %w", address, path, hub.ErrNotFound)
		}
		return nil, nil, fmt.Errorf("s3: get %s/%s: %w", address, path, err)
	}
	obj := objectOf(path, info)
	if obj.Expired(d.now()) {
		o.Close()
		return nil, nil, fmt.Errorf("s3: get %s/%s: %w", address, path, hub.ErrNotFound)
	}
	return obj, o, nil
}

// Stat implements hub.Driver (under the key's lock, as Get).
func (d *Driver) Stat(ctx context.Context, address, path string) (*hub.Object, error) {
	unlock := d.locks.Lock(address, path)
	defer unlock()
	obj, err := d.statLive(ctx, address, path)
	if err != nil {
		return nil, fmt.Errorf("s3: stat %s/%s: %w", address, path, err)
	}
	return obj, nil
}

// Delete implements hub.Driver.
func (d *Driver) Delete(ctx context.Context, address, path string, opt hub.DeleteOptions) error {
	unlock := d.locks.Lock(address, path)
	defer unlock()
	cur, s3etag, err := d.statS3(ctx, address, path)
	if err != nil && !errors.Is(err, hub.ErrNotFound) {
		return fmt.Errorf("s3: delete %s/%s: %w", address, path, err)
	}
	if cur != nil && cur.Expired(d.now()) {
		cur = nil
	}
	if err := hub.CheckDelete(cur, opt); err != nil {
		return fmt.Errorf("s3: delete %s/%s: %w", address, path, err)
	}
	dctx := ctx
	if opt.IfMatch != "" && opt.IfMatch != "*" {
		dctx = context.WithValue(ctx, condKey{}, s3etag) // what was checked must still be there
	}
	if err := d.c.RemoveObject(dctx, d.bucket, key(address, path), minio.RemoveObjectOptions{}); err != nil {
		if dctx != ctx && preconditionFailed(err) {
			return fmt.Errorf("s3: delete %s/%s: %w: another process changed it", address, path, hub.ErrPrecondition)
		}
		return fmt.Errorf("s3: delete %s/%s: %w", address, path, err)
	}
	return nil
}

// List implements hub.Driver. Stat mode costs nothing extra: the walk
// fetches each key's metadata.
func (d *Driver) List(ctx context.Context, address, prefix, after string, limit int) ([]hub.Object, bool, error) {
	base := keyenc.Segment(address) + "/"
	var objs []hub.Object
	for info := range d.c.ListObjects(ctx, d.bucket, minio.ListObjectsOptions{Prefix: base, Recursive: true, WithMetadata: true}) {
		if info.Err != nil {
			return nil, false, fmt.Errorf("s3: list %s: %w", address, info.Err)
		}
		name, ok := keyenc.Unpath(strings.TrimPrefix(info.Key, base))
		if !ok || !strings.HasPrefix(name, prefix) || name <= after {
			continue
		}
		objs = append(objs, hub.Object{Path: name})
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Path < objs[j].Path })
	var out []hub.Object
	for _, o := range objs {
		if len(out) == limit {
			return out, true, nil // the rest may all have expired: the next page says
		}
		full, err := d.statLive(ctx, address, o.Path)
		if errors.Is(err, hub.ErrNotFound) {
			continue // deleted while listing, or expired
		}
		if err != nil {
			return nil, false, fmt.Errorf("s3: list %s: %w", address, err)
		}
		out = append(out, *full)
	}
	return out, false, nil
}

// Sweep implements hub.Driver.
func (d *Driver) Sweep(ctx context.Context, gone func(address string, obj hub.Object)) error {
	now := d.now()
	current := hub.ExpiryBucket(now)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for info := range d.c.ListObjects(lctx, d.bucket, minio.ListObjectsOptions{Prefix: expiryIndex, Recursive: true}) {
		if info.Err != nil {
			return fmt.Errorf("s3: sweep: %w", info.Err)
		}
		bucket, k, _ := strings.Cut(strings.TrimPrefix(info.Key, expiryIndex), "/")
		if bucket > current {
			return nil // keys sort by bucket: the rest are later
		}
		addrSeg, rest, _ := strings.Cut(k, "/")
		address, err := keyenc.Unsegment(addrSeg)
		path, ok := keyenc.Unpath(rest)
		if err != nil || !ok {
			continue
		}
		if err := d.sweepOne(ctx, info.Key, address, path, bucket, now, gone); err != nil {
			return fmt.Errorf("s3: sweep %s/%s: %w", address, path, err)
		}
	}
	return ctx.Err()
}

// sweepOne deletes (address, path) if it has expired, and removes its
// marker unless the object expires later in the bucket's minute, under
// the key's lock.
func (d *Driver) sweepOne(ctx context.Context, marker, address, path, bucket string, now time.Time, gone func(string, hub.Object)) error {
	unlock := d.locks.Lock(address, path)
	defer unlock()
	obj, s3etag, err := d.statS3(ctx, address, path)
	switch {
	case errors.Is(err, hub.ErrNotFound):
	case err != nil:
		return err
	case obj.Expires.IsZero() || hub.ExpiryBucket(obj.Expires) != bucket:
		// overwritten: its own marker, if any, is elsewhere
	case !obj.Expired(now):
		return nil
	default:
		// Only the expired object checked: another process may have
		// written a new one at the path since (If-Match).
		err := d.c.RemoveObject(context.WithValue(ctx, condKey{}, s3etag), d.bucket, key(address, path), minio.RemoveObjectOptions{})
		if preconditionFailed(err) {
			return nil // rewritten meanwhile; the next sweep looks again
		}
		if err != nil {
			return err
		}
		defer gone(address, *obj)
	}
	return d.c.RemoveObject(ctx, d.bucket, marker, minio.RemoveObjectOptions{})
}
