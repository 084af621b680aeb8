package hub

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Inbox stamps, version 3: the proof of work that an inbox post carries,
// bound to the hub (the URL the sender posts to, which the recipient
// published on the chain: a hub that copies another's challenge text
// cannot share it), the recipient (the inbox's address), a time and the
// envelope. A hub takes a stamp only within
// InboxStampWindow of its own clock, and only once: it remembers each
// stamp it took until the stamp's window has passed. docs/protocol.md
// specifies the format.
const (
	// InboxStampDomain separates inbox stamps from every other hash.
	InboxStampDomain = "parley/hub/inbox-stamp/v3"
	// InboxStampVersion is the stamps' version, as hub_info's
	// parley.inbox_stamp and the header's first field say it.
	InboxStampVersion = "v3"
	// InboxStampHeader carries the stamp of a post.
	InboxStampHeader = "X-Parley-Stamp"
	// InboxStampWindow is how far a stamp's time may be from the hub's
	// clock, either way.
	InboxStampWindow = 10 * time.Minute
	// InboxDifficultyHeader, on a 403 BadStampError, says how many
	// leading zero bits the inbox's stamps need now (InboxDifficulty).
	InboxDifficultyHeader = "X-Parley-Stamp-Bits"
	// MaxInboxDifficulty is the most work a client does for one stamp: a
	// hub that asks more (hub_info, or InboxDifficultyHeader) is refused,
	// so a hostile hub cannot keep a sender hashing without end.
	MaxInboxDifficulty = 24
	// inboxExtraBits is how many bits InboxDifficulty adds, at most.
	inboxExtraBits = 12
)

// InboxDifficulty is how many leading zero bits a stamp needs to post to
// an inbox that holds n envelopes of the limit it may, on a hub whose base
// difficulty (hub_info's inbox_pow_difficulty) is base: base while the
// inbox holds fewer than a quarter of limit (and fewer than 16), then one
// bit more, rising evenly to base+11 for the last place. Junk that fills an inbox costs its poster more
// with every envelope (a quarter of a 1,000-entry inbox at base 12 is
// about a million hashes; the rest, about 2^31), while a real request
// to an inbox its owner keeps clear costs the base.
func InboxDifficulty(base, n, limit int) int {
	q := max(limit/4, 16)
	if n < q || q >= limit {
		return base
	}
	return base + 1 + (inboxExtraBits-1)*min(n-q, limit-q)/(limit-q)
}

// Stamp errors: a stamp that is malformed, too weak or out of its time
// window; a stamp the hub took already (each is taken once).
var (
	ErrBadStamp  = errors.New("bad inbox stamp")
	ErrStampUsed = errors.New("inbox stamp used already")
)

// InboxStamp is a solved stamp: its time (Unix seconds) and nonce.
type InboxStamp struct {
	Time  int64
	Nonce uint64
}

// String is the stamp's header form: "v3." time "." nonce, both decimal.
func (s InboxStamp) String() string {
	return fmt.Sprintf("%s.%d.%d", InboxStampVersion, s.Time, s.Nonce)
}

// ParseInboxStamp reads the header form: exactly "v3.", a decimal time
// and "." a decimal nonce, without signs or leading zeros.
func ParseInboxStamp(v string) (InboxStamp, error) {
	rest, ok := strings.CutPrefix(v, InboxStampVersion+".")
	ts, ns, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || !decimal(ts) || !decimal(ns) {
		return InboxStamp{}, fmt.Errorf("%w: %q is not %s.<time>.<nonce>", ErrBadStamp, v, InboxStampVersion)
	}
	t, err1 := strconv.ParseInt(ts, 10, 64)
	n, err2 := strconv.ParseUint(ns, 10, 64)
	if err1 != nil || err2 != nil {
		return InboxStamp{}, fmt.Errorf("%w: %q is out of range", ErrBadStamp, v)
	}
	return InboxStamp{Time: t, Nonce: n}, nil
}

func decimal(s string) bool {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	return strings.Trim(s, "0123456789") == ""
}

// stampPrefix is the hashed input up to the nonce:
// domain ‖ u16 len ‖ hub URL ‖ u16 len ‖ address ‖ u64 time ‖ SHA-256(body).
func stampPrefix(hubURL, address string, t int64, body []byte) []byte {
	sum := sha256.Sum256(body)
	b := binary.BigEndian.AppendUint16([]byte(InboxStampDomain), uint16(len(hubURL)))
	b = append(b, hubURL...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(address)))
	b = append(b, address...)
	b = binary.BigEndian.AppendUint64(b, uint64(t))
	return append(b, sum[:]...)
}

func zeroBits(h [32]byte) int {
	n := 0
	for _, c := range h {
		if c != 0 {
			return n + bits.LeadingZeros8(c)
		}
		n += 8
	}
	return n
}

// InboxStampDigest is SHA-256 of the stamp's whole input (the prefix,
// then u64 nonce): the work is its leading zero bits, and a hub remembers
// a stamp by it.
func InboxStampDigest(hubURL, address string, body []byte, s InboxStamp) [32]byte {
	return sha256.Sum256(binary.BigEndian.AppendUint64(stampPrefix(hubURL, address, s.Time, body), s.Nonce))
}

// CheckInboxStamp checks that s is a stamp for posting body to address's
// inbox on the hub at hubURL (the hub's own public URL, in
// auth.CanonicalHubURL form: a stamp solved for any other URL fails), with at least difficulty
// leading zero bits, whose time is within InboxStampWindow of now. It
// returns the stamp's digest, or an error wrapping ErrBadStamp. Whether
// the stamp was used before is the hub's to check.
func CheckInboxStamp(hubURL, address string, body []byte, s InboxStamp, difficulty int, now time.Time) ([32]byte, error) {
	if d := now.Unix() - s.Time; d > int64(InboxStampWindow/time.Second) || -d > int64(InboxStampWindow/time.Second) {
		return [32]byte{}, fmt.Errorf("%w: its time %d is %d s from the hub's clock (%d); at most %d s is accepted",
			ErrBadStamp, s.Time, d, now.Unix(), int64(InboxStampWindow/time.Second))
	}
	h := InboxStampDigest(hubURL, address, body, s)
	if zeroBits(h) < difficulty {
		return [32]byte{}, fmt.Errorf("%w: fewer than %d leading zero bits for this hub (%s), this inbox and this envelope", ErrBadStamp, difficulty, hubURL)
	}
	return h, nil
}

// SolveInboxStamp finds a stamp dated t (about 2^difficulty hashes) for
// posting body to address's inbox on the hub at hubURL (the URL posted
// to, in auth.CanonicalHubURL form).
func SolveInboxStamp(ctx context.Context, hubURL, address string, body []byte, t time.Time, difficulty int) (InboxStamp, error) {
	prefix := stampPrefix(hubURL, address, t.Unix(), body)
	buf := make([]byte, len(prefix)+8)
	copy(buf, prefix)
	for n := uint64(0); ; n++ {
		if n&0xffff == 0 && ctx.Err() != nil {
			return InboxStamp{}, ctx.Err()
		}
		binary.BigEndian.PutUint64(buf[len(prefix):], n)
		if zeroBits(sha256.Sum256(buf)) >= difficulty {
			return InboxStamp{Time: t.Unix(), Nonce: n}, nil
		}
	}
}
