package hub

import (
	"bufio"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestInboxStampVector checks the stamp of testdata/inbox-stamp.txt, the
// refusals it lists, and that the stamp is bound to each of its inputs.
func TestInboxStampVector(t *testing.T) {
	f, err := os.Open("testdata/inbox-stamp.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := map[string]string{}
	var bad []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, val, ok := strings.Cut(line, ": ")
		switch {
		case !ok && strings.HasSuffix(line, ":") && strings.HasPrefix(line, "bad-"):
			bad = append(bad, "")
		case !ok:
			t.Fatalf("unexpected line %q", line)
		case strings.HasPrefix(k, "bad-"):
			bad = append(bad, val)
		case k == "hub", k == "address", k == "body", k == "difficulty", k == "header", k == "digest", k == "weak":
			v[k] = val
		default:
			t.Fatalf("unknown key %q", k)
		}
	}
	if len(v) != 7 || len(bad) == 0 {
		t.Fatalf("vector has %d keys and %d bad headers", len(v), len(bad))
	}
	difficulty, _ := strconv.Atoi(v["difficulty"])
	s, err := ParseInboxStamp(v["header"])
	if err != nil || s.String() != v["header"] {
		t.Fatalf("parse %q: %+v %v", v["header"], s, err)
	}
	body := []byte(v["body"])
	at := time.Unix(s.Time, 0)
	digest, err := CheckInboxStamp(v["hub"], v["address"], body, s, difficulty, at)
	if err != nil || hex.EncodeToString(digest[:]) != v["digest"] {
		t.Fatalf("digest %x, want %s (%v)", digest, v["digest"], err)
	}
	if solved, err := SolveInboxStamp(t.Context(), v["hub"], v["address"], body, at, difficulty); err != nil || solved != s {
		t.Fatalf("solved %v, want %v (%v)", solved, s, err)
	}
	weak, err := ParseInboxStamp(v["weak"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckInboxStamp(v["hub"], v["address"], body, weak, difficulty, at); !errors.Is(err, ErrBadStamp) {
		t.Fatalf("weak stamp: %v", err)
	}
	for _, h := range bad {
		if _, err := ParseInboxStamp(h); !errors.Is(err, ErrBadStamp) {
			t.Errorf("ParseInboxStamp(%q) = %v, want ErrBadStamp", h, err)
		}
	}
	// Bound to each input: changing one changes the digest.
	for name, d := range map[string][32]byte{
		"hub URL": InboxStampDigest(v["hub"]+"x", v["address"], body, s),
		"address": InboxStampDigest(v["hub"], v["address"]+"x", body, s),
		"body":    InboxStampDigest(v["hub"], v["address"], append(body, 'x'), s),
		"time":    InboxStampDigest(v["hub"], v["address"], body, InboxStamp{Time: s.Time + 1, Nonce: s.Nonce}),
	} {
		if d == digest {
			t.Errorf("the digest does not depend on the %s", name)
		}
	}
	// The window, either way.
	for _, off := range []time.Duration{InboxStampWindow + time.Second, -InboxStampWindow - time.Second} {
		if _, err := CheckInboxStamp(v["hub"], v["address"], body, s, difficulty, at.Add(off)); !errors.Is(err, ErrBadStamp) {
			t.Errorf("a stamp checked %v after its time: %v", off, err)
		}
	}
	for _, off := range []time.Duration{InboxStampWindow, -InboxStampWindow} {
		if _, err := CheckInboxStamp(v["hub"], v["address"], body, s, difficulty, at.Add(off)); err != nil {
			t.Errorf("a stamp checked %v after its time: %v", off, err)
		}
	}
}

// FuzzParseInboxStamp: what parses prints back to the same header.
func FuzzParseInboxStamp(f *testing.F) {
	for _, s := range []string{"v3.1767225600.917", "v3.0.0", "v3.01.2", "v2.1.1", "v3.-1.2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		s, err := ParseInboxStamp(h)
		if err != nil {
			return
		}
		if s.String() != h {
			t.Fatalf("%q parsed to %+v, prints %q", h, s, s.String())
		}
	})
}
