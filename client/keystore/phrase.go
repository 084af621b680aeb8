package keystore

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"github.com/parley-im/parley/internal/bip39"
)

// PhraseWords is the number of words of a recovery phrase NewPhrase
// makes: 128 bits of entropy, Ed25519's security level.
const PhraseWords = 12

// recoverySalt is the HKDF salt of the owner seed derived from a
// recovery phrase (docs/protocol.md, Recovery phrase).
const recoverySalt = "parley/recovery/v1"

// ErrPhrase is what a recovery phrase that is not one (a wrong word, a
// bad checksum, the wrong number of words) wraps: bip39.ErrInvalid.
var ErrPhrase = bip39.ErrInvalid

// NewPhrase draws a new recovery phrase: 12 words of the BIP-39 English
// list encoding 16 bytes from crypto/rand.
func NewPhrase() (string, error) {
	ent := make([]byte, 16) // 12 words: 128 bits and a 4-bit checksum
	if _, err := rand.Read(ent); err != nil {
		return "", err
	}
	return bip39.NewMnemonic(ent)
}

// NormalizePhrase returns the canonical form of a phrase as a person
// typed it (any case and spacing, words cut to four letters or more), or
// an error wrapping ErrPhrase that says which word is wrong when it can.
// Any valid BIP-39 length is taken; NewPhrase makes 12 words.
func NormalizePhrase(typed string) (string, error) {
	return bip39.Normalize(typed)
}

// OwnerSeed returns the owner key's seed of a canonical recovery phrase:
// HKDF-SHA256 of the phrase's 64-byte BIP-39 seed (empty passphrase),
// salt "parley/recovery/v1", info "owner", 32 bytes. A phrase that is
// not canonical (NormalizePhrase) wraps ErrPhrase.
func OwnerSeed(phrase string) ([32]byte, error) {
	var out [32]byte
	seed, err := bip39.Seed(phrase, "")
	if err != nil {
		return out, fmt.Errorf("keystore: recovery phrase: %w", err)
	}
	defer clear(seed)
	k, err := hkdf.Key(sha256.New, seed, []byte(recoverySalt), "owner", 32)
	if err != nil {
		return out, err
	}
	copy(out[:], k)
	clear(k)
	return out, nil
}

// FromPhrase makes an identity whose owner key comes from a canonical
// recovery phrase and whose device keys (signing, X25519, hybrid) are
// fresh from crypto/rand: what `parley init` keeps after drawing the
// phrase, and what `parley recover` makes on a new device.
func FromPhrase(phrase string) (*Identity, error) {
	owner, err := OwnerSeed(phrase)
	if err != nil {
		return nil, err
	}
	id, err := New()
	if err != nil {
		return nil, err
	}
	id.ownerSeed = owner
	id.derive()
	return id, nil
}

// OwnerKeyOf is the owner key of a canonical recovery phrase.
func OwnerKeyOf(phrase string) (ed25519.PrivateKey, error) {
	s, err := OwnerSeed(phrase)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(s[:]), nil
}
