package wire

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/client/ratchet"
)

// BenchmarkMessageCrypto seals and opens one short message (ratchet step,
// header encryption, padding), in two shapes of conversation:
//
//   - reply: each side answers in turn, so every message begins a chain:
//     a DH ratchet step and an ML-KEM step (key generation, encapsulation,
//     decapsulation) each, and a 4 KiB blob (the KEM fields);
//   - same-chain: one side writes on, so no message takes a step: the
//     chain steps and a 1 KiB blob.
func BenchmarkMessageCrypto(b *testing.B) {
	for _, reply := range []bool{true, false} {
		name := "same-chain"
		if reply {
			name = "reply"
		}
		b.Run(name, func(b *testing.B) {
			k := [32]byte{1}
			bobKey, _ := ecdh.X25519().GenerateKey(rand.Reader)
			a := ratchet.InitAlice(k, bobKey.PublicKey(), nil)
			bo := ratchet.InitBob(k, bobKey, nil)
			ka, kb := ConversationKeys(k, "alice", "bob"), ConversationKeys(k, "bob", "alice")
			text := make([]byte, 60)
			var sent [2]uint64
			msg := func(i int) int {
				from, to, kf, kt := a, bo, ka, kb
				if reply && i%2 == 1 {
					from, to, kf, kt = bo, a, kb, ka
				}
				path := []byte(MessagePath(kf.SendKey, sent[i%2]))
				sent[i%2]++
				blob, err := SealMessage(from, kf.Header, text, path, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := OpenMessage(to, kt.Header, blob, path); err != nil {
					b.Fatal(err)
				}
				return len(blob)
			}
			for i := 0; i < 4; i++ { // past the first steps, which carry no ciphertext yet
				msg(i)
			}
			b.ResetTimer()
			size := 0
			for i := 0; i < b.N; i++ {
				size = msg(i)
			}
			b.ReportMetric(float64(size), "blob-bytes")
		})
	}
}

// BenchmarkPrimitives is the raw cost the above is built from, per
// message, in the same two shapes. reply: an X25519 key generation and
// two X25519 operations (a DH ratchet step on each side), an ML-KEM-768
// key generation from a seed, the parse of an encapsulation key (with its
// modulus check), an encapsulation and a decapsulation, AES-256-CBC and
// HMAC-SHA256 over a 4 KiB blob's body both ways. same-chain: AES-256-CBC
// and HMAC-SHA256 over a 1 KiB blob's body both ways. Both:
// XChaCha20-Poly1305 of the header both ways, and the HMAC/HKDF
// derivations (about ten HMAC-SHA256 of short inputs).
func BenchmarkPrimitives(b *testing.B) {
	for _, reply := range []bool{true, false} {
		name, body := "same-chain", 896
		if reply {
			name, body = "reply", 3968
		}
		b.Run(name, func(b *testing.B) {
			x := ecdh.X25519()
			k1, _ := x.GenerateKey(rand.Reader)
			k2, _ := x.GenerateKey(rand.Reader)
			dk, _ := mlkem.GenerateKey768()
			ek := dk.EncapsulationKey().Bytes()
			seed := make([]byte, 64)
			block, _ := aes.NewCipher(make([]byte, 32))
			iv := make([]byte, 16)
			buf := make([]byte, body)
			aead, _ := chacha20poly1305.NewX(make([]byte, 32))
			nonce := make([]byte, 24)
			hdr := make([]byte, ratchet.HeaderLen)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if reply {
					x.GenerateKey(rand.Reader)
					k1.ECDH(k2.PublicKey())
					k2.ECDH(k1.PublicKey())
					rand.Read(seed)
					mlkem.NewDecapsulationKey768(seed)
					e, _ := mlkem.NewEncapsulationKey768(ek)
					_, ct := e.Encapsulate()
					dk.Decapsulate(ct)
				}
				cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
				cipher.NewCBCDecrypter(block, iv).CryptBlocks(buf, buf)
				for j := 0; j < 2; j++ {
					m := hmac.New(sha256.New, iv)
					m.Write(buf)
					m.Sum(nil)
				}
				sealed := aead.Seal(nil, nonce, hdr, nil)
				aead.Open(nil, nonce, sealed, nil)
				for j := 0; j < 10; j++ {
					m := hmac.New(sha256.New, iv)
					m.Write(hdr)
					m.Sum(nil)
				}
			}
		})
	}
}
