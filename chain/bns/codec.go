package bns

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed")

// encoder appends canonical fields to a buffer.
type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) i64(v int64)  { e.u64(uint64(v)) }
func (e *encoder) raw(p []byte) { e.b = append(e.b, p...) }

// bytes16 writes a byte string with a 16-bit length prefix. Callers validate
// lengths before encoding; an over-long field is a programming error.
func (e *encoder) bytes16(p []byte) {
	if len(p) > 0xffff {
		panic("bns: field longer than 65535 bytes")
	}
	e.u16(uint16(len(p)))
	e.raw(p)
}

func (e *encoder) str(s string) { e.bytes16([]byte(s)) }

func (e *encoder) boolean(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

// decoder reads canonical fields; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.fail("%s: need %d bytes, have %d", what, n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) u8(what string) uint8 {
	p := d.take(1, what)
	if p == nil {
		return 0
	}
	return p[0]
}

func (d *decoder) u16(what string) uint16 {
	p := d.take(2, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint16(p)
}

func (d *decoder) u64(what string) uint64 {
	p := d.take(8, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

// i64 reads a non-negative integer: a u64 below 2^62 (docs/protocol.md,
// Encoding), so that sums of two fields never overflow an int64.
func (d *decoder) i64(what string) int64 {
	v := d.u64(what)
	if v >= 1<<62 {
		d.fail("%s: %d out of range", what, v)
		return 0
	}
	return int64(v)
}

// bytes16 reads a length-prefixed byte string of at most max bytes and
// returns a copy.
func (d *decoder) bytes16(what string, max int) []byte {
	n := int(d.u16(what + " length"))
	if d.err != nil {
		return nil
	}
	if n > max {
		d.fail("%s: %d bytes, at most %d allowed", what, n, max)
		return nil
	}
	p := d.take(n, what)
	if p == nil {
		return nil
	}
	return append([]byte(nil), p...)
}

func (d *decoder) str(what string, max int) string { return string(d.bytes16(what, max)) }

func (d *decoder) fixed(dst []byte, what string) {
	if p := d.take(len(dst), what); p != nil {
		copy(dst, p)
	}
}

func (d *decoder) boolean(what string) bool {
	switch v := d.u8(what); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("%s: boolean byte %d", what, v)
		return false
	}
}

// finish reports the sticky error or trailing bytes.
func (d *decoder) finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}
