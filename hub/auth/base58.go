package auth

import (
	"crypto/sha256"
	"math/big"

	//lint:ignore SA1019 Bitcoin and Gaia addresses are defined over RIPEMD-160
	"golang.org/x/crypto/ripemd160"
)

const b58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58Encode encodes b in Bitcoin's base58, leading zero bytes as '1'.
func base58Encode(b []byte) string {
	x := new(big.Int).SetBytes(b)
	var out []byte
	mod, base := new(big.Int), big.NewInt(58)
	for x.Sign() > 0 {
		x.DivMod(x, base, mod)
		out = append(out, b58Alphabet[mod.Int64()])
	}
	for _, c := range b {
		if c != 0 {
			break
		}
		out = append(out, '1')
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

// base58Check encodes version ‖ payload ‖ first 4 bytes of SHA-256(SHA-256(version ‖ payload)).
func base58Check(version byte, payload []byte) string {
	b := append([]byte{version}, payload...)
	h1 := sha256.Sum256(b)
	h2 := sha256.Sum256(h1[:])
	return base58Encode(append(b, h2[:4]...))
}

func hash160(b []byte) []byte {
	s := sha256.Sum256(b)
	r := ripemd160.New()
	r.Write(s[:])
	return r.Sum(nil)
}

// GaiaAddress is the bucket address of a secp256k1 public key, as Gaia
// computes it: the Bitcoin mainnet P2PKH address of the key bytes exactly as
// given (compressed keys give other addresses than uncompressed ones).
func GaiaAddress(pubkey []byte) string { return base58Check(0x00, hash160(pubkey)) }

// NativeAddress is the bucket address of an Ed25519 public key for native
// tokens: base58check with version byte 0x38 of its hash160.
func NativeAddress(pubkey []byte) string { return base58Check(0x38, hash160(pubkey)) }
