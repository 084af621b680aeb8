package bns

import (
	"context"
	"crypto/sha256"
	"math/bits"
)

// PowDomain separates proof-of-work stamps from every other hash.
const PowDomain = "parley/bns/pow/v1"

// PowHash is the stamp hash of a registration: SHA-256 over PowDomain, the
// chain ID, the name, the owner key and the 8-byte nonce.
func PowHash(chainID, name string, owner PublicKey, nonce uint64) [32]byte {
	var e encoder
	e.str(PowDomain)
	e.str(chainID)
	e.str(name)
	e.raw(owner[:])
	e.u64(nonce)
	return sha256.Sum256(e.b)
}

// LeadingZeroBits counts the leading zero bits of h.
func LeadingZeroBits(h [32]byte) int {
	n := 0
	for _, b := range h {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}

// CheckPow reports whether nonce is a valid stamp at the given difficulty.
func CheckPow(chainID, name string, owner PublicKey, nonce uint64, difficulty uint8) bool {
	return LeadingZeroBits(PowHash(chainID, name, owner, nonce)) >= int(difficulty)
}

// SolvePow finds a stamp nonce by trying nonces from 0 up. It takes about
// 2^difficulty hashes, and stops with ctx's error when ctx is done.
func SolvePow(ctx context.Context, chainID, name string, owner PublicKey, difficulty uint8) (uint64, error) {
	// Precompute the fixed prefix once; only the nonce changes.
	var e encoder
	e.str(PowDomain)
	e.str(chainID)
	e.str(name)
	e.raw(owner[:])
	prefix := e.b
	buf := make([]byte, len(prefix)+8)
	copy(buf, prefix)
	for nonce := uint64(0); ; nonce++ {
		if nonce&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
		n := nonce
		for i := 7; i >= 0; i-- {
			buf[len(prefix)+i] = byte(n)
			n >>= 8
		}
		if LeadingZeroBits(sha256.Sum256(buf)) >= int(difficulty) {
			return nonce, nil
		}
	}
}
