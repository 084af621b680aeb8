package ratchet

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// ErrBadState is returned for a state that does not decode.
var ErrBadState = errors.New("ratchet: malformed state")

const stateVersion = 1

// Marshal encodes the whole state (it holds secrets: the caller stores it
// encrypted). Skipped keys are written oldest first.
func (s *State) Marshal() []byte {
	b := []byte{stateVersion}
	dhs := s.dhs.Bytes()
	b = append(b, dhs...)
	opt := func(k *[32]byte) {
		if k == nil {
			b = append(b, 0)
			return
		}
		b = append(b, 1)
		b = append(b, k[:]...)
	}
	opt(s.dhr)
	b = append(b, s.rk[:]...)
	opt(s.cks)
	opt(s.ckr)
	b = binary.BigEndian.AppendUint32(b, s.ns)
	b = binary.BigEndian.AppendUint32(b, s.nr)
	b = binary.BigEndian.AppendUint32(b, s.pn)
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

// UnmarshalState decodes a state made by Marshal.
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
	if v := take(1); v == nil || v[0] != stateVersion {
		return nil, ErrBadState
	}
	s := &State{skipped: map[skippedKey][32]byte{}, rand: rand.Reader}
	p := take(32)
	if p == nil {
		return nil, ErrBadState
	}
	var err error
	if s.dhs, err = ecdh.X25519().NewPrivateKey(p); err != nil {
		return nil, ErrBadState
	}
	opt := func() (*[32]byte, bool) {
		f := take(1)
		if f == nil || f[0] > 1 {
			return nil, false
		}
		if f[0] == 0 {
			return nil, true
		}
		p := take(32)
		if p == nil {
			return nil, false
		}
		var k [32]byte
		copy(k[:], p)
		return &k, true
	}
	var ok bool
	if s.dhr, ok = opt(); !ok {
		return nil, ErrBadState
	}
	if p = take(32); p == nil {
		return nil, ErrBadState
	}
	copy(s.rk[:], p)
	if s.cks, ok = opt(); !ok {
		return nil, ErrBadState
	}
	if s.ckr, ok = opt(); !ok {
		return nil, ErrBadState
	}
	nums := take(16)
	if nums == nil {
		return nil, ErrBadState
	}
	s.ns, s.nr, s.pn = binary.BigEndian.Uint32(nums), binary.BigEndian.Uint32(nums[4:]), binary.BigEndian.Uint32(nums[8:])
	n := binary.BigEndian.Uint32(nums[12:])
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
		var seed [32]byte
		copy(seed[:], e[36:])
		s.skipped[k] = seed
		s.order = append(s.order, k)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", ErrBadState)
	}
	return s, nil
}
