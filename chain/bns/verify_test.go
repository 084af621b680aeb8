package bns

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// speccheck are the edge cases of "Taming the many EdDSAs" (Chalkias,
// Garillot, Nikolaenko; github.com/novifinancial/ed25519-speccheck
// cases.json): small-order and mixed-order keys and R, cofactored
// equations, non-canonical S, R and A. Implementations disagree on them;
// the chain must answer as crypto/ed25519 does. Each is public key,
// message, signature, in hex.
var speccheck = [][3]string{
	{"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", "8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000"},
	{"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79", "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04"},
	{"f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43", "aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e"},
	{"cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d", "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79", "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009"},
	{"cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d", "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c", "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09"},
	{"cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d", "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c", "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405"},
	{"442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623", "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40", "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514"},
	{"442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623", "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40", "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa19427e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22"},
	{"f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43", "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f"},
	{"f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43", "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908"},
	{"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b", "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04"},
	{"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f", "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04"},
}

// TestVerifyMatchesStdLib: the chain's signature check (curve25519-voi
// under the standard library's rules) gives crypto/ed25519.Verify's answer
// on the speccheck edge cases, on valid signatures and on each of their
// one-bit corruptions: which transactions are valid does not depend on
// the implementation.
func TestVerifyMatchesStdLib(t *testing.T) {
	same := func(what string, pub, msg, sig []byte) bool {
		t.Helper()
		want := ed25519.Verify(pub, msg, sig)
		if got := verifyEd25519(pub, msg, sig); got != want {
			t.Errorf("%s: verifyEd25519 = %v, crypto/ed25519 = %v (pub %x sig %x)", what, got, want, pub, sig)
		}
		return want
	}
	// The standard library accepts the cofactorless-valid cases 0 to 3
	// (small-order keys and R included) and 11 (a non-canonical A, hashed
	// as given), and refuses the other seven.
	want := []bool{true, true, true, true, false, false, false, false, false, false, false, true}
	for i, c := range speccheck {
		var b [3][]byte
		for j := range c {
			var err error
			if b[j], err = hex.DecodeString(c[j]); err != nil {
				t.Fatal(err)
			}
		}
		if got := same(fmt.Sprint("speccheck case ", i), b[0], b[1], b[2]); got != want[i] {
			t.Errorf("speccheck case %d: crypto/ed25519 says %v, want %v", i, got, want[i])
		}
	}
	for i := range 64 {
		seed := sha256.Sum256([]byte{byte(i)})
		priv := ed25519.NewKeyFromSeed(seed[:])
		pub := priv.Public().(ed25519.PublicKey)
		msg := []byte{byte(i), 'm'}
		sig := ed25519.Sign(priv, msg)
		if !same("valid", pub, msg, sig) {
			t.Fatal("a valid signature was refused")
		}
		bit := i * 7
		bad := append([]byte(nil), sig...)
		bad[bit/8%64] ^= 1 << (bit % 8)
		same("corrupted signature", pub, msg, bad)
		badPub := append([]byte(nil), pub...)
		badPub[bit/8%32] ^= 1 << (bit % 8)
		same("corrupted key", badPub, msg, sig)
	}
}
