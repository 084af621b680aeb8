package wire

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/client/ratchet"
)

// BenchmarkMessageCrypto seals and opens one 1 KiB message (ratchet step,
// header encryption, padding) in a conversation where each side replies
// in turn, so every message also costs a DH ratchet step.
func BenchmarkMessageCrypto(b *testing.B) {
	k := [32]byte{1}
	bobKey, _ := ecdh.X25519().GenerateKey(rand.Reader)
	a, _ := ratchet.InitAlice(k, bobKey.PublicKey(), nil)
	bo := ratchet.InitBob(k, bobKey, nil)
	ka, kb := ConversationKeys(k, "alice", "bob"), ConversationKeys(k, "bob", "alice")
	text := make([]byte, 60)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		from, to, kf, kt := a, bo, ka, kb
		if i%2 == 1 {
			from, to, kf, kt = bo, a, kb, ka
		}
		path := []byte(MessagePath(kf.SendKey, uint64(i)))
		blob, err := SealMessage(from, kf.Header, text, path, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := OpenMessage(to, kt.Header, blob, path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrimitives is the raw cost the above is built from, per message:
// two X25519 operations and one key generation (a DH ratchet step on each
// side), AES-256-CBC and HMAC-SHA256 over 1 KiB both ways, XChaCha20-Poly1305
// of the header both ways, and the HMAC/HKDF derivations (about ten
// HMAC-SHA256 of short inputs).
func BenchmarkPrimitives(b *testing.B) {
	x := ecdh.X25519()
	k1, _ := x.GenerateKey(rand.Reader)
	k2, _ := x.GenerateKey(rand.Reader)
	block, _ := aes.NewCipher(make([]byte, 32))
	iv := make([]byte, 16)
	buf := make([]byte, 928)
	aead, _ := chacha20poly1305.NewX(make([]byte, 32))
	nonce := make([]byte, 24)
	hdr := make([]byte, 40)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x.GenerateKey(rand.Reader)
		k1.ECDH(k2.PublicKey())
		k2.ECDH(k1.PublicKey())
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
}
