// Package keyenc maps object paths to storage names that cannot escape
// their address, hide, or collide: each path segment is escaped (bytes
// other than A-Z, a-z, 0-9, '_' and '-' become %XX) and the last one gets
// the suffix ".o", so an object "a" ("a.o") and an object "a/b" ("a/b.o")
// never clash, on a file system or in an object store that maps keys to
// files.
//
// It is pure: it owns the mapping and its inverse, and must not touch
// storage.
package keyenc

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// Suffix marks object names.
const Suffix = ".o"

// Segment escapes one path segment.
func Segment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Unsegment reverses Segment.
func Unsegment(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("keyenc: bad escape in %q", s)
		}
		v, err := hex.DecodeString(s[i+1 : i+3])
		if err != nil {
			return "", fmt.Errorf("keyenc: bad escape in %q", s)
		}
		b.WriteByte(v[0])
		i += 2
	}
	return b.String(), nil
}

// Path escapes a whole path ("a/b.c" → "a/b%2Ec.o").
func Path(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = Segment(s)
	}
	return strings.Join(segs, "/") + Suffix
}

// Unpath reverses Path; ok is false for names that are not objects.
func Unpath(name string) (string, bool) {
	name, ok := strings.CutSuffix(name, Suffix)
	if !ok {
		return "", false
	}
	segs := strings.Split(name, "/")
	for i, s := range segs {
		u, err := Unsegment(s)
		if err != nil {
			return "", false
		}
		segs[i] = u
	}
	return strings.Join(segs, "/"), true
}
