package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// ErrBadState is returned for a state that does not decode.
var ErrBadState = errors.New("ratchet: malformed state")

// State encodings: version 1 is the previous client's (no KEM fields); it
// is read, and written again as version 2.
const (
	stateV1 = 1
	stateV2 = 2
)

// State bits (version 2).
const (
	bitStep   = 1 << iota // a sending step is due
	bitPQ                 // the sending chain came from a post-quantum step
	bitV2                 // a version 2 header was opened
	knownBits = bitStep | bitPQ | bitV2
)

// Marshal encodes the whole state (it holds secrets: the caller stores it
// encrypted), in version 2 (docs/protocol.md, "Double Ratchet"). Skipped
// keys are written oldest first.
func (s *State) Marshal() []byte {
	b := []byte{stateV2}
	opt := func(k []byte) {
		if k == nil {
			b = append(b, 0)
			return
		}
		b = append(b, 1)
		b = append(b, k...)
	}
	arr := func(k *[32]byte) []byte {
		if k == nil {
			return nil
		}
		return k[:]
	}
	if s.dhs != nil {
		opt(s.dhs.Bytes())
	} else {
		opt(nil)
	}
	opt(arr(s.dhr))
	b = append(b, s.rk[:]...)
	opt(arr(s.cks))
	opt(arr(s.ckr))
	b = binary.BigEndian.AppendUint32(b, s.ns)
	b = binary.BigEndian.AppendUint32(b, s.nr)
	b = binary.BigEndian.AppendUint32(b, s.pn)
	var bits byte
	if s.step {
		bits |= bitStep
	}
	if s.pqs {
		bits |= bitPQ
	}
	if s.v2 {
		bits |= bitV2
	}
	b = append(b, bits)
	opt(s.dks)
	opt(s.ekr)
	opt(arr(s.ssr))
	opt(arr(s.sss))
	keys := append([]skippedKey(nil), s.order...)
	// order may hold keys already used (deleted from the map): drop them.
	live := keys[:0]
	for _, k := range keys {
		if _, ok := s.skipped[k]; ok {
			live = append(live, k)
		}
	}
	if len(live) != len(s.skipped) { // keys not in order: add them sorted
		seen := map[skippedKey]bool{}
		for _, k := range live {
			seen[k] = true
		}
		var rest []skippedKey
		for k := range s.skipped {
			if !seen[k] {
				rest = append(rest, k)
			}
		}
		sort.Slice(rest, func(i, j int) bool { return rest[i].n < rest[j].n })
		live = append(live, rest...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(live)))
	for _, k := range live {
		seed := s.skipped[k]
		b = append(b, k.dh[:]...)
		b = binary.BigEndian.AppendUint32(b, k.n)
		b = append(b, seed[:]...)
	}
	return b
}

// UnmarshalState decodes a state made by Marshal, of this version or the
// previous one (a conversation saved before the post-quantum step carries
// on, and takes its first KEM step at its next sending chain). Its random
// inputs come from crypto/rand. A state that does not decode wraps
// ErrBadState.
func UnmarshalState(b []byte) (*State, error) {
	take := func(n int) []byte {
		if len(b) < n {
			b = nil
			return nil
		}
		p := b[:n]
		b = b[n:]
		return p
	}
	v := take(1)
	if v == nil || (v[0] != stateV1 && v[0] != stateV2) {
		return nil, ErrBadState
	}
	version := v[0]
	s := &State{skipped: map[skippedKey][32]byte{}}
	// opt reads an optional field of n bytes: present says whether it was.
	bad := false
	opt := func(n int) []byte {
		f := take(1)
		if f == nil || f[0] > 1 {
			bad = true
			return nil
		}
		if f[0] == 0 {
			return nil
		}
		p := take(n)
		if p == nil {
			bad = true
		}
		return p
	}
	arr := func(p []byte) *[32]byte {
		if p == nil {
			return nil
		}
		k := [32]byte(p)
		return &k
	}
	var dhs []byte
	if version == stateV1 {
		dhs = take(32)
		bad = dhs == nil
	} else {
		dhs = opt(32)
	}
	if dhs != nil {
		var err error
		if s.dhs, err = ecdh.X25519().NewPrivateKey(dhs); err != nil {
			return nil, ErrBadState
		}
	}
	s.dhr = arr(opt(32))
	rk := take(32)
	if rk == nil {
		return nil, ErrBadState
	}
	s.rk = [32]byte(rk)
	s.cks = arr(opt(32))
	s.ckr = arr(opt(32))
	nums := take(12)
	if bad || nums == nil {
		return nil, ErrBadState
	}
	s.ns, s.nr, s.pn = binary.BigEndian.Uint32(nums), binary.BigEndian.Uint32(nums[4:]), binary.BigEndian.Uint32(nums[8:])
	if version == stateV2 {
		bits := take(1)
		if bits == nil || bits[0]&^knownBits != 0 {
			return nil, ErrBadState
		}
		s.step, s.pqs, s.v2 = bits[0]&bitStep != 0, bits[0]&bitPQ != 0, bits[0]&bitV2 != 0
		// The ML-KEM keys are parsed when first used (a key that does
		// not parse then wraps ErrBadState).
		s.dks = bytes.Clone(opt(64))
		s.ekr = bytes.Clone(opt(EKLen))
		s.ssr = arr(opt(32))
		s.sss = arr(opt(32))
		if bad {
			return nil, ErrBadState
		}
	}
	if (s.step && s.dhr == nil) || (s.dhs == nil && !s.step) || (s.cks != nil && s.dhs == nil) {
		return nil, fmt.Errorf("%w: inconsistent keys", ErrBadState)
	}
	count := take(4)
	if count == nil {
		return nil, ErrBadState
	}
	n := binary.BigEndian.Uint32(count)
	if n > MaxSkip {
		return nil, fmt.Errorf("%w: %d skipped keys", ErrBadState, n)
	}
	for i := uint32(0); i < n; i++ {
		e := take(32 + 4 + 32)
		if e == nil {
			return nil, ErrBadState
		}
		var k skippedKey
		copy(k.dh[:], e)
		k.n = binary.BigEndian.Uint32(e[32:])
		if _, dup := s.skipped[k]; dup {
			return nil, fmt.Errorf("%w: a skipped key twice", ErrBadState)
		}
		s.skipped[k] = [32]byte(e[36:])
		s.order = append(s.order, k)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", ErrBadState)
	}
	return s, nil
}
