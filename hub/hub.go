// Package hub holds what every part of the storage hub shares: the object
// keys clients may use, the Driver interface that stores objects, and the
// errors that cross those boundaries. It never imports the chain or the
// client, and it picks no implementation: cmd/hubd does.
//
// # Keys
//
// An object lives at (address, path). Addresses and paths are validated
// once, by [ValidateAddress] and [ValidatePath], before they reach a
// driver; drivers may rely on them. Internal objects (inboxes, revocation
// timestamps) use addresses that start with '_', which no client address
// can.
package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors. Wrap them with context; match them with errors.Is.
// Each crosses HTTP as its own error class (package hub/hubapi), so a
// client gets the same sentinel the hub had.
var (
	ErrNotFound     = errors.New("not found")
	ErrPrecondition = errors.New("precondition failed") // If-Match / If-None-Match
	ErrInvalid      = errors.New("invalid")             // a bad address or path
	ErrBadRequest   = errors.New("bad request")         // a malformed request: JSON, header, page token, cursor
	ErrUnauthorized = errors.New("unauthorized")
	// ErrRevoked is a token issued before the bucket's revoke-all; it is
	// also ErrUnauthorized.
	ErrRevoked        = fmt.Errorf("%w: token issued before the bucket's revoke-all", ErrUnauthorized)
	ErrNotEnoughProof = errors.New("not enough social proofs") // Gaia's proofsRequired
	ErrTooLarge       = errors.New("too large")
	ErrTimeout        = errors.New("request body too slow")
	ErrQuota          = errors.New("quota exceeded")
	ErrRateLimited    = errors.New("rate limited")
	ErrInboxFull      = errors.New("inbox full")
	ErrBusy           = errors.New("hub busy") // every watch stream taken
)

// Limits on keys, as the Gaia hub has them.
const (
	MaxAddressLen = 64
	MaxPathLen    = 4096
	MaxPathDepth  = 100
	// MaxSegmentLen bounds one path segment (between slashes), so that
	// every driver can store it as one file name (escaped, at most three
	// bytes per byte, within the 255 of common file systems).
	MaxSegmentLen = 80
)

// ValidateAddress accepts 1 to MaxAddressLen characters from [A-Za-z0-9].
func ValidateAddress(a string) error {
	if a == "" || len(a) > MaxAddressLen {
		return fmt.Errorf("%w: address must have 1 to %d characters", ErrInvalid, MaxAddressLen)
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return fmt.Errorf("%w: address %q has character %q (allowed: A-Z, a-z, 0-9)", ErrInvalid, a, c)
		}
	}
	return nil
}

// ValidatePath accepts a bucket-relative path: valid UTF-8 without control
// characters or backslashes, at most MaxPathLen bytes and MaxPathDepth
// segments, no empty segment, no segment longer than MaxSegmentLen, and no
// ".." anywhere (the Gaia rule: even "a..b" is refused) or "." segment.
func ValidatePath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%w: empty path", ErrInvalid)
	case len(p) > MaxPathLen:
		return fmt.Errorf("%w: path of %d bytes, at most %d", ErrInvalid, len(p), MaxPathLen)
	case !utf8.ValidString(p):
		return fmt.Errorf("%w: path is not valid UTF-8", ErrInvalid)
	case strings.Contains(p, ".."):
		return fmt.Errorf("%w: path %q contains \"..\"", ErrInvalid, p)
	case strings.ContainsRune(p, '\\'):
		return fmt.Errorf("%w: path %q contains a backslash", ErrInvalid, p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: path %q contains a control character", ErrInvalid, p)
		}
	}
	segs := strings.Split(p, "/")
	if len(segs) > MaxPathDepth {
		return fmt.Errorf("%w: path has %d levels, at most %d", ErrInvalid, len(segs), MaxPathDepth)
	}
	for _, s := range segs {
		switch {
		case s == "":
			return fmt.Errorf("%w: path %q has an empty segment (leading, trailing or double '/')", ErrInvalid, p)
		case s == ".":
			return fmt.Errorf("%w: path %q has a \".\" segment", ErrInvalid, p)
		case len(s) > MaxSegmentLen:
			return fmt.Errorf("%w: path segment of %d bytes, at most %d", ErrInvalid, len(s), MaxSegmentLen)
		}
	}
	return nil
}

// Object describes a stored object.
type Object struct {
	Path        string // bucket-relative
	Size        int64
	ETag        string // hex MD5 of the content, as the Gaia disk driver makes it
	ContentType string
	Modified    time.Time
	Expires     time.Time // zero: never (see Driver)
}

// Expired reports whether obj is gone at now: it has an expiry, and now
// is not before it.
func (obj *Object) Expired(now time.Time) bool {
	return !obj.Expires.IsZero() && !now.Before(obj.Expires)
}

// PutOptions are the conditions and metadata of a write.
type PutOptions struct {
	// IfMatch, if set, requires the stored object's ETag to equal it. "*"
	// is unconditional, as in Gaia.
	IfMatch string
	// IfNoneMatch requires that no object exists at the path.
	IfNoneMatch bool
	// ContentType is stored and served back on reads.
	ContentType string
	// Expires, if not zero, is when the object is gone (kept to the
	// second).
	Expires time.Time
}

// DeleteOptions are the conditions of a delete.
type DeleteOptions struct {
	IfMatch string
}

// Driver stores objects. Every method is safe for concurrent use.
// Addresses and paths are already validated.
//
// Put reads r to the end, stores the bytes under (address, path) and returns
// the new object; nothing is visible until the write is complete and
// durable, and a failed or cancelled write leaves the previous object in
// place. Conditions are checked and the write applied atomically with
// respect to every other Put and Delete of the same key: a condition that
// does not hold gives ErrPrecondition and stores nothing.
//
// Get returns the object and its content (the caller closes it), or
// ErrNotFound. Delete removes it, or returns ErrNotFound. List returns
// objects of address whose paths start with prefix, in increasing path
// order, starting after the path `after`, at most limit of them, and
// whether more follow.
//
// Expiry: an object written with PutOptions.Expires is gone once the
// driver's clock reaches that time (Object.Expired): Get, Stat and Delete
// answer ErrNotFound, List leaves it out, and conditions treat the path
// as empty, in every process that serves the same storage (the expiry is
// stored with the object). An overwrite takes the new write's expiry, or
// none. Sweep deletes every expired object from storage for good, calling
// gone (which must not call the driver) for each once it is deleted; it
// never deletes an object that is not expired, even one written while it
// runs. Sweeps may run at any time, in several processes at once.
type Driver interface {
	Put(ctx context.Context, address, path string, r io.Reader, opt PutOptions) (*Object, error)
	Get(ctx context.Context, address, path string) (*Object, io.ReadCloser, error)
	Stat(ctx context.Context, address, path string) (*Object, error)
	Delete(ctx context.Context, address, path string, opt DeleteOptions) error
	List(ctx context.Context, address, prefix, after string, limit int) (objs []Object, more bool, err error)
	Sweep(ctx context.Context, gone func(address string, obj Object)) error
}

// ExpiryBucketSeconds is the span of time one bucket of a driver's expiry
// index covers (disk and S3 keep one directory or prefix per bucket, so a
// sweep reads only the buckets whose time has come).
const ExpiryBucketSeconds = 60

// ExpiryBucket names the bucket of the expiry index that holds objects
// expiring at t: the Unix minute, 12 decimal digits, so that buckets sort
// by time.
func ExpiryBucket(t time.Time) string {
	return fmt.Sprintf("%012d", t.Unix()/ExpiryBucketSeconds)
}

// CheckPut applies PutOptions to the current object (nil if none); drivers
// call it under their per-key lock.
func CheckPut(cur *Object, opt PutOptions) error {
	if opt.IfNoneMatch && cur != nil {
		return fmt.Errorf("%w: an object exists (If-None-Match: *)", ErrPrecondition)
	}
	if opt.IfMatch != "" && opt.IfMatch != "*" {
		if cur == nil {
			return fmt.Errorf("%w: no object to match If-Match", ErrPrecondition)
		}
		if cur.ETag != opt.IfMatch {
			return fmt.Errorf("%w: ETag is %s, If-Match %s", ErrPrecondition, cur.ETag, opt.IfMatch)
		}
	}
	return nil
}

// CheckDelete applies DeleteOptions to the current object (nil if none).
func CheckDelete(cur *Object, opt DeleteOptions) error {
	if cur == nil {
		return ErrNotFound
	}
	if opt.IfMatch != "" && opt.IfMatch != "*" && cur.ETag != opt.IfMatch {
		return fmt.Errorf("%w: ETag is %s, If-Match %s", ErrPrecondition, cur.ETag, opt.IfMatch)
	}
	return nil
}
