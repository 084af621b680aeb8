package bns

import (
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// PublicKey is an Ed25519 public key: an account (owner) key or a name's
// signing key.
type PublicKey [ed25519.PublicKeySize]byte

const pubKeyPrefix = "ed25519:"

// String returns the canonical form "ed25519:<64 lowercase hex digits>".
func (k PublicKey) String() string { return pubKeyPrefix + hex.EncodeToString(k[:]) }

// IsZero reports whether k is all zeros (no key).
func (k PublicKey) IsZero() bool { return k == PublicKey{} }

// ParsePublicKey accepts only the canonical form made by String.
func ParsePublicKey(s string) (PublicKey, error) {
	var k PublicKey
	h, ok := strings.CutPrefix(s, pubKeyPrefix)
	if !ok || len(h) != 2*len(k) || strings.ToLower(h) != h {
		return k, fmt.Errorf("bns: public key %q is not %q followed by 64 lowercase hex digits", s, pubKeyPrefix)
	}
	if _, err := hex.Decode(k[:], []byte(h)); err != nil {
		return k, fmt.Errorf("bns: public key %q: %v", s, err)
	}
	return k, nil
}

// PublicKeyOf returns the PublicKey of an Ed25519 private key.
func PublicKeyOf(priv ed25519.PrivateKey) PublicKey {
	var k PublicKey
	copy(k[:], priv.Public().(ed25519.PublicKey))
	return k
}

// Encryption key kinds are HPKE KEM identifiers (RFC 9180 and
// draft-ietf-hpke-pq), so a client can hand the key straight to crypto/hpke.
const (
	// KEMX25519 is DHKEM(X25519, HKDF-SHA256): a 32-byte public key.
	KEMX25519 uint16 = 0x0020
	// KEMMLKEM768X25519 is the hybrid post-quantum KEM MLKEM768-X25519:
	// a 1216-byte public key.
	KEMMLKEM768X25519 uint16 = 0x647a
)

// EncKey is a public encryption key.
type EncKey struct {
	KEM uint16
	Key []byte
}

func (k EncKey) validate() error {
	var kem hpke.KEM
	switch k.KEM {
	case KEMX25519:
		kem = hpke.DHKEM(ecdhX25519)
	case KEMMLKEM768X25519:
		kem = hpke.MLKEM768X25519()
	default:
		return fmt.Errorf("encryption key kind 0x%04x is not supported (0x%04x X25519, 0x%04x MLKEM768-X25519)", k.KEM, KEMX25519, KEMMLKEM768X25519)
	}
	if _, err := kem.NewPublicKey(k.Key); err != nil {
		return fmt.Errorf("encryption key kind 0x%04x: %v", k.KEM, err)
	}
	return nil
}

// Profile is what a name publishes: its signing key, its encryption keys and
// the storage hubs where its owner writes.
type Profile struct {
	SigningKey PublicKey
	// EncKeys holds an X25519 key and optionally an MLKEM768-X25519 key,
	// in increasing KEM order.
	EncKeys []EncKey
	// Hubs holds 1 to MaxHubs distinct hub URLs, in the owner's order of
	// preference.
	Hubs []string
}

// Profile limits.
const (
	MaxHubs      = 3
	MaxHubURLLen = 256
	maxEncKeys   = 2
	maxEncKeyLen = 2048
)

// ErrInvalidProfile is wrapped by Profile.Validate.
var ErrInvalidProfile = errors.New("invalid profile")

// IsEmpty reports whether p holds nothing, as after a transfer.
func (p Profile) IsEmpty() bool {
	return p.SigningKey.IsZero() && len(p.EncKeys) == 0 && len(p.Hubs) == 0
}

// Validate checks a profile that a register or update publishes: a signing
// key, an X25519 key, an optional hybrid key, 1 to 3 distinct hub URLs.
func (p Profile) Validate() error {
	if p.SigningKey.IsZero() {
		return fmt.Errorf("%w: no signing key", ErrInvalidProfile)
	}
	if err := validateEncKeys(p.EncKeys); err != nil {
		return err
	}
	if len(p.Hubs) == 0 || len(p.Hubs) > MaxHubs {
		return fmt.Errorf("%w: %d hub URLs, want 1 to %d", ErrInvalidProfile, len(p.Hubs), MaxHubs)
	}
	for i, h := range p.Hubs {
		if err := ValidateHubURL(h); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidProfile, err)
		}
		for _, prev := range p.Hubs[:i] {
			if prev == h {
				return fmt.Errorf("%w: hub %q listed twice", ErrInvalidProfile, h)
			}
		}
	}
	return nil
}

func (p Profile) encode(e *encoder) {
	e.raw(p.SigningKey[:])
	e.u8(uint8(len(p.EncKeys)))
	for _, k := range p.EncKeys {
		e.u16(k.KEM)
		e.bytes16(k.Key)
	}
	e.u8(uint8(len(p.Hubs)))
	for _, h := range p.Hubs {
		e.str(h)
	}
}

func (p *Profile) decode(d *decoder) {
	d.fixed(p.SigningKey[:], "signing key")
	n := int(d.u8("encryption key count"))
	if n > maxEncKeys {
		d.fail("%d encryption keys, at most %d", n, maxEncKeys)
		return
	}
	p.EncKeys = nil
	for i := 0; i < n && d.err == nil; i++ {
		p.EncKeys = append(p.EncKeys, EncKey{KEM: d.u16("encryption key kind"), Key: d.bytes16("encryption key", maxEncKeyLen)})
	}
	n = int(d.u8("hub count"))
	if n > MaxHubs {
		d.fail("%d hubs, at most %d", n, MaxHubs)
		return
	}
	p.Hubs = nil
	for i := 0; i < n && d.err == nil; i++ {
		p.Hubs = append(p.Hubs, d.str("hub URL", MaxHubURLLen))
	}
}

// Clone returns a deep copy of p.
func (p Profile) Clone() Profile {
	c := Profile{SigningKey: p.SigningKey}
	for _, k := range p.EncKeys {
		c.EncKeys = append(c.EncKeys, EncKey{KEM: k.KEM, Key: append([]byte(nil), k.Key...)})
	}
	c.Hubs = append(c.Hubs, p.Hubs...)
	return c
}

// validateEncKeys checks a profile's or a device's encryption keys: an
// X25519 key, then optionally an MLKEM768-X25519 key, each parsing under
// its KEM.
func validateEncKeys(keys []EncKey) error {
	if len(keys) == 0 || len(keys) > maxEncKeys {
		return fmt.Errorf("%w: %d encryption keys, want 1 or 2", ErrInvalidProfile, len(keys))
	}
	if keys[0].KEM != KEMX25519 {
		return fmt.Errorf("%w: the first encryption key must be X25519 (kind 0x%04x)", ErrInvalidProfile, KEMX25519)
	}
	for i, k := range keys {
		if i > 0 && k.KEM <= keys[i-1].KEM {
			return fmt.Errorf("%w: encryption keys must have distinct kinds in increasing order", ErrInvalidProfile)
		}
		if err := k.validate(); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidProfile, err)
		}
	}
	return nil
}
