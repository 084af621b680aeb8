package wire

import (
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/parley-im/parley/chain/bns"
)

// The safety number of two people is one number, the same on both sides
// (as Signal's): each side's half is a fingerprint of its name and
// published keys, and the number is the two halves in a canonical order,
// the smaller first. Comparing it face to face checks both directions at
// once.
//
//	keys   = signing key[32] ‖ per encryption key, in the record's order: u16 KEM ‖ u16 len ‖ key
//	h_0    = SHA-512("parley/safety/v2" ‖ str(name) ‖ keys)
//	h_i+1  = SHA-512(h_i ‖ keys), 5200 times
//	half   = h_5200[0:30] as 6 groups of 5 bytes, each a big-endian u40 mod 100000, 5 digits
//	number = the two 30-digit halves, the smaller first, in 12 groups of 5 digits
//
// Every digit comes from the hash: none repeats by construction.
const (
	safetyLabel      = "parley/safety/v2"
	safetyIterations = 5200
)

// SafetyHalf is one side's 30 digits (no spaces).
func SafetyHalf(name string, p bns.Profile) string {
	keys := append([]byte(nil), p.SigningKey[:]...)
	for _, k := range p.EncKeys {
		keys = binary.BigEndian.AppendUint16(keys, k.KEM)
		keys = binary.BigEndian.AppendUint16(keys, uint16(len(k.Key)))
		keys = append(keys, k.Key...)
	}
	h := sha512.New()
	h.Write(appendStr([]byte(safetyLabel), name))
	h.Write(keys)
	sum := h.Sum(nil)
	for range safetyIterations {
		h.Reset()
		h.Write(sum)
		h.Write(keys)
		sum = h.Sum(sum[:0])
	}
	var b strings.Builder
	for i := range 6 {
		var v uint64
		for _, x := range sum[i*5 : i*5+5] {
			v = v<<8 | uint64(x)
		}
		fmt.Fprintf(&b, "%05d", v%100000)
	}
	return b.String()
}

// SafetyNumber is the safety number of a (name and published keys) and
// b: the same whichever side computes it.
func SafetyNumber(aName string, a bns.Profile, bName string, b bns.Profile) string {
	x, y := SafetyHalf(aName, a), SafetyHalf(bName, b)
	if y < x {
		x, y = y, x
	}
	all := x + y
	groups := make([]string, 0, 12)
	for i := 0; i < len(all); i += 5 {
		groups = append(groups, all[i:i+5])
	}
	return strings.Join(groups, " ")
}
