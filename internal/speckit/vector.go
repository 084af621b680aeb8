package speckit

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Vector is one test vector file of testdata/vectors (docs/protocol.md,
// Test vectors): header lines "name: value", a blank line, then the
// payload in hex.
type Vector struct {
	Name    string      // the file's name without ".txt"
	Fields  [][2]string // in file order; some names repeat
	Payload []byte
}

// Formats are the vector formats, each with the header fields it may
// have besides format, expect and comment.
var Formats = map[string][]string{
	"handshake": {"to", "to-x25519-seed", "to-pq-seed", "from-signing-key", "from", "mutual-key", "time", "greeting"},
	"message":   {"alice", "bob", "mutual-key", "bob-x25519-private", "message", "open-by", "n", "event"},
	"index":     {"mutual-key", "sender", "reader", "count", "deleted", "expiring"},
	"receipt":   {"mutual-key", "sender", "reader", "delivered", "read", "skipped"},
	"group":     {"group", "epoch", "from", "i", "sender-key", "sign-key", "event"},
	"chunk":     {"file-key", "i", "count", "content"},
	"profile":   {"profile-key", "profile"},
	"event":     {"kind"},
}

// Expects are the outcomes a vector may expect (docs/protocol.md,
// Conventions).
var Expects = []string{"success", "malformed", "version", "header", "mac", "signature", "replay", "unsupported"}

var fieldName = regexp.MustCompile(`^[a-z0-9-]+$`)

// ParseVector reads a vector file strictly: known fields only (for its
// format), each single field once, a blank line, lowercase hex lines of
// at most 128 digits, a final newline.
func ParseVector(name string, b []byte) (*Vector, error) {
	v := &Vector{Name: name}
	if !bytes.HasSuffix(b, []byte("\n")) {
		return nil, errors.New("no final newline")
	}
	head, body, ok := strings.Cut(string(b), "\n\n")
	if !ok {
		return nil, errors.New("no blank line after the header")
	}
	for _, l := range strings.Split(head, "\n") {
		k, val, ok := strings.Cut(l, ": ")
		if !ok || !fieldName.MatchString(k) {
			return nil, fmt.Errorf("header line %q", l)
		}
		v.Fields = append(v.Fields, [2]string{k, val})
	}
	format := v.Get("format")
	allowed, ok := Formats[format]
	if !ok {
		return nil, fmt.Errorf("format %q", format)
	}
	seen := map[string]bool{}
	for _, f := range v.Fields {
		switch k := f[0]; {
		case k == "comment" || k == "message":
		case k == "format" || k == "expect" || contains(allowed, k):
			if seen[k] {
				return nil, fmt.Errorf("field %q twice", k)
			}
			seen[k] = true
		default:
			return nil, fmt.Errorf("field %q in a %s vector", k, format)
		}
		if f[0] == "message" && format != "message" {
			return nil, fmt.Errorf("field message in a %s vector", format)
		}
	}
	if !contains(Expects, v.Get("expect")) {
		return nil, fmt.Errorf("expect %q", v.Get("expect"))
	}
	var hexDigits strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if len(l) > 128 {
			return nil, fmt.Errorf("payload line of %d digits", len(l))
		}
		hexDigits.WriteString(l)
	}
	p, err := hex.DecodeString(hexDigits.String())
	if err != nil || hex.EncodeToString(p) != hexDigits.String() {
		return nil, fmt.Errorf("payload is not lowercase hex")
	}
	v.Payload = p
	return v, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Get returns the value of the field k ("" if absent).
func (v *Vector) Get(k string) string {
	for _, f := range v.Fields {
		if f[0] == k {
			return f[1]
		}
	}
	return ""
}

// All returns the values of every field k, in order.
func (v *Vector) All(k string) []string {
	var out []string
	for _, f := range v.Fields {
		if f[0] == k {
			out = append(out, f[1])
		}
	}
	return out
}

// Hex returns the field k decoded from hex.
func (v *Vector) Hex(k string) ([]byte, error) {
	b, err := hex.DecodeString(v.Get(k))
	if err != nil {
		return nil, fmt.Errorf("field %s: %w", k, err)
	}
	return b, nil
}

// Marshal gives the file's bytes.
func (v *Vector) Marshal() []byte {
	var b bytes.Buffer
	for _, f := range v.Fields {
		fmt.Fprintf(&b, "%s: %s\n", f[0], f[1])
	}
	b.WriteString("\n")
	h := hex.EncodeToString(v.Payload)
	for len(h) > 128 {
		b.WriteString(h[:128] + "\n")
		h = h[128:]
	}
	b.WriteString(h + "\n")
	return b.Bytes()
}
