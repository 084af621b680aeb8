package bns

import (
	"context"
	"crypto/sha256"
	"math/bits"
)

// PowDomain separates registration stamps from every other hash.
const PowDomain = "parley/bns/pow/v1"

// PreorderPowDomain separates preorder stamps from every other hash.
const PreorderPowDomain = "parley/bns/preorder-pow/v1"

// PowHash is the stamp hash of a registration: SHA-256 over PowDomain, the
// chain ID, the name, the owner key and the 8-byte nonce.
func PowHash(chainID, name string, owner PublicKey, nonce uint64) [32]byte {
	return stampHash(registerStampPrefix(chainID, name, owner), nonce)
}

// PreorderPowHash is the stamp hash of a preorder: SHA-256 over
// PreorderPowDomain, the chain ID, the commitment, the owner key and the
// 8-byte nonce. The commitment holds a fresh salt, so no stamp serves two
// preorders.
func PreorderPowHash(chainID string, commitment [32]byte, owner PublicKey, nonce uint64) [32]byte {
	return stampHash(preorderStampPrefix(chainID, commitment, owner), nonce)
}

func registerStampPrefix(chainID, name string, owner PublicKey) []byte {
	var e encoder
	e.str(PowDomain)
	e.str(chainID)
	e.str(name)
	e.raw(owner[:])
	return e.b
}

func preorderStampPrefix(chainID string, commitment [32]byte, owner PublicKey) []byte {
	var e encoder
	e.str(PreorderPowDomain)
	e.str(chainID)
	e.raw(commitment[:])
	e.raw(owner[:])
	return e.b
}

func stampHash(prefix []byte, nonce uint64) [32]byte {
	e := encoder{b: prefix}
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

// CheckPow reports whether nonce is a valid registration stamp at the
// given difficulty.
func CheckPow(chainID, name string, owner PublicKey, nonce uint64, difficulty uint8) bool {
	return LeadingZeroBits(PowHash(chainID, name, owner, nonce)) >= int(difficulty)
}

// CheckPreorderPow reports whether nonce is a valid preorder stamp at the
// given difficulty.
func CheckPreorderPow(chainID string, commitment [32]byte, owner PublicKey, nonce uint64, difficulty uint8) bool {
	return LeadingZeroBits(PreorderPowHash(chainID, commitment, owner, nonce)) >= int(difficulty)
}

// SolvePow finds a registration stamp by trying nonces from 0 up. It takes
// about 2^difficulty hashes, and stops with ctx's error when ctx is done.
func SolvePow(ctx context.Context, chainID, name string, owner PublicKey, difficulty uint8) (uint64, error) {
	return solve(ctx, registerStampPrefix(chainID, name, owner), difficulty)
}

// SolvePreorderPow finds a preorder stamp, as SolvePow does.
func SolvePreorderPow(ctx context.Context, chainID string, commitment [32]byte, owner PublicKey, difficulty uint8) (uint64, error) {
	return solve(ctx, preorderStampPrefix(chainID, commitment, owner), difficulty)
}

// solve tries nonces after the fixed prefix, which is hashed as given with
// only the nonce changing.
func solve(ctx context.Context, prefix []byte, difficulty uint8) (uint64, error) {
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
