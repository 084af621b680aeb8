// Package ratchet is the Double Ratchet of Signal's specification
// (revision 1, 2016-11-20, section 3, with skipped message keys), over
// X25519, HKDF-SHA256 and HMAC-SHA256, with the specification's recommended
// AEAD: AES-256-CBC and HMAC-SHA256 over the associated data and
// ciphertext. Its key derivations are libsignal's, so its chain can be
// checked against libsignal's published vectors (testdata/).
//
//	KDF_RK(rk, dh)  = HKDF-SHA256(salt=rk, ikm=dh, info="WhisperRatchet")[0:32], [32:64]
//	KDF_CK(ck)      = HMAC-SHA256(ck, 0x02) as the next chain key,
//	                  HMAC-SHA256(ck, 0x01) as the message key seed
//	message keys    = HKDF-SHA256(salt=none, ikm=seed, info="WhisperMessageKeys", 80)
//	                  → cipher key [0:32], MAC key [32:64], IV [64:80]
//
// A message key is used once and deleted, so a key stolen later does not
// open earlier messages; every round trip mixes in a fresh Diffie-Hellman
// output, so the conversation heals after a compromise. The package is
// pure: state in, state out; the caller persists it.
package ratchet

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Errors.
var (
	ErrAuth      = errors.New("ratchet: message failed authentication")
	ErrTooMany   = errors.New("ratchet: too many skipped messages")
	ErrNoSession = errors.New("ratchet: no sending chain yet (wait for the first message)")
)

// MaxSkip bounds the message keys kept for messages not yet received, per
// chain and in all.
const MaxSkip = 1000

const (
	infoRatchet = "WhisperRatchet"
	infoMsg     = "WhisperMessageKeys"
)

// Header travels with each message: the sender's current ratchet public
// key, the length of its previous sending chain and the message number.
type Header struct {
	DH [32]byte
	PN uint32
	N  uint32
}

// HeaderLen is the encoded size of a Header.
const HeaderLen = 40

// Marshal encodes the header.
func (h Header) Marshal() []byte {
	b := append([]byte{}, h.DH[:]...)
	b = binary.BigEndian.AppendUint32(b, h.PN)
	return binary.BigEndian.AppendUint32(b, h.N)
}

// ParseHeader decodes a header.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) != HeaderLen {
		return h, fmt.Errorf("ratchet: header of %d bytes, want %d", len(b), HeaderLen)
	}
	copy(h.DH[:], b)
	h.PN, h.N = binary.BigEndian.Uint32(b[32:]), binary.BigEndian.Uint32(b[36:])
	return h, nil
}

type skippedKey struct {
	dh [32]byte
	n  uint32
}

// State is one party's ratchet state.
type State struct {
	dhs      *ecdh.PrivateKey
	dhr      *[32]byte
	rk       [32]byte
	cks, ckr *[32]byte
	ns, nr   uint32
	pn       uint32
	skipped  map[skippedKey][32]byte // message key seeds
	order    []skippedKey            // oldest first, to bound the map
	rand     io.Reader
}

// InitAlice starts the side that sends first: sk is the shared secret,
// bob the other side's ratchet public key.
func InitAlice(sk [32]byte, bob *ecdh.PublicKey, random io.Reader) (*State, error) {
	if random == nil {
		random = rand.Reader
	}
	dhs, err := ecdh.X25519().GenerateKey(random)
	if err != nil {
		return nil, err
	}
	s := &State{dhs: dhs, skipped: map[skippedKey][32]byte{}, rand: random}
	var dhr [32]byte
	copy(dhr[:], bob.Bytes())
	s.dhr = &dhr
	out, err := dhs.ECDH(bob)
	if err != nil {
		return nil, err
	}
	var ck [32]byte
	s.rk, ck = kdfRK(sk, out)
	s.cks = &ck
	return s, nil
}

// InitBob starts the side that receives first, with its ratchet key pair.
func InitBob(sk [32]byte, bob *ecdh.PrivateKey, random io.Reader) *State {
	if random == nil {
		random = rand.Reader
	}
	return &State{dhs: bob, rk: sk, skipped: map[skippedKey][32]byte{}, rand: random}
}

func kdfRK(rk [32]byte, dh []byte) (root, chain [32]byte) {
	out, err := hkdf.Key(sha256.New, dh, rk[:], infoRatchet, 64)
	if err != nil {
		panic(err)
	}
	copy(root[:], out[:32])
	copy(chain[:], out[32:])
	return
}

func hmac256(key []byte, b byte) [32]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte{b})
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// kdfCK returns the next chain key and this step's message key seed.
func kdfCK(ck [32]byte) (next, seed [32]byte) {
	return hmac256(ck[:], 0x02), hmac256(ck[:], 0x01)
}

// MessageKeys are derived from a message key seed.
type MessageKeys struct {
	Cipher [32]byte
	MAC    [32]byte
	IV     [16]byte
}

// DeriveMessageKeys expands a message key seed.
func DeriveMessageKeys(seed [32]byte) MessageKeys {
	out, err := hkdf.Key(sha256.New, seed[:], nil, infoMsg, 80)
	if err != nil {
		panic(err)
	}
	var k MessageKeys
	copy(k.Cipher[:], out[:32])
	copy(k.MAC[:], out[32:64])
	copy(k.IV[:], out[64:])
	return k
}

// Encrypt advances the sending chain and seals plaintext with the
// associated data ad (which the receiver must supply too). It returns the
// header and the ciphertext.
func (s *State) Encrypt(plaintext, ad []byte) (Header, []byte, error) {
	if s.cks == nil {
		return Header{}, nil, ErrNoSession
	}
	next, seed := kdfCK(*s.cks)
	s.cks = &next
	var h Header
	copy(h.DH[:], s.dhs.PublicKey().Bytes())
	h.PN, h.N = s.pn, s.ns
	s.ns++
	return h, seal(DeriveMessageKeys(seed), plaintext, append(append([]byte{}, ad...), h.Marshal()...)), nil
}

// Decrypt opens a message. On any failure the state is unchanged.
func (s *State) Decrypt(h Header, ciphertext, ad []byte) ([]byte, error) {
	full := append(append([]byte{}, ad...), h.Marshal()...)
	k := skippedKey{h.DH, h.N}
	if seed, ok := s.skipped[k]; ok {
		pt, err := open(DeriveMessageKeys(seed), ciphertext, full)
		if err != nil {
			return nil, err
		}
		delete(s.skipped, k)
		return pt, nil
	}
	// Work on a copy so that a forged message changes nothing.
	t := s.clone()
	if t.dhr == nil || *t.dhr != h.DH {
		if err := t.skip(h.PN); err != nil {
			return nil, err
		}
		if err := t.dhRatchet(h); err != nil {
			return nil, err
		}
	}
	if err := t.skip(h.N); err != nil {
		return nil, err
	}
	next, seed := kdfCK(*t.ckr)
	t.ckr = &next
	t.nr++
	pt, err := open(DeriveMessageKeys(seed), ciphertext, full)
	if err != nil {
		return nil, err
	}
	*s = *t
	return pt, nil
}

func (s *State) skip(until uint32) error {
	if s.ckr == nil {
		return nil
	}
	if until > s.nr+MaxSkip {
		return ErrTooMany
	}
	for s.nr < until {
		next, seed := kdfCK(*s.ckr)
		s.ckr = &next
		k := skippedKey{*s.dhr, s.nr}
		s.skipped[k] = seed
		s.order = append(s.order, k)
		s.nr++
	}
	for len(s.skipped) > MaxSkip { // forget the oldest
		delete(s.skipped, s.order[0])
		s.order = s.order[1:]
	}
	return nil
}

func (s *State) dhRatchet(h Header) error {
	s.pn, s.ns, s.nr = s.ns, 0, 0
	dhr := h.DH
	s.dhr = &dhr
	their, err := ecdh.X25519().NewPublicKey(h.DH[:])
	if err != nil {
		return fmt.Errorf("ratchet: header key: %w", err)
	}
	out, err := s.dhs.ECDH(their)
	if err != nil {
		return fmt.Errorf("ratchet: %w", err)
	}
	var ckr [32]byte
	s.rk, ckr = kdfRK(s.rk, out)
	s.ckr = &ckr
	if s.dhs, err = ecdh.X25519().GenerateKey(s.rand); err != nil {
		return err
	}
	if out, err = s.dhs.ECDH(their); err != nil {
		return err
	}
	var cks [32]byte
	s.rk, cks = kdfRK(s.rk, out)
	s.cks = &cks
	return nil
}

func (s *State) clone() *State {
	t := *s
	t.skipped = make(map[skippedKey][32]byte, len(s.skipped))
	for k, v := range s.skipped {
		t.skipped[k] = v
	}
	t.order = append([]skippedKey(nil), s.order...)
	return &t
}

// seal is AES-256-CBC with PKCS#7 padding, then HMAC-SHA256 over ad and
// the ciphertext, appended.
func seal(k MessageKeys, plaintext, ad []byte) []byte {
	block, _ := aes.NewCipher(k.Cipher[:])
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	buf := make([]byte, len(plaintext)+pad)
	copy(buf, plaintext)
	for i := len(plaintext); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, k.IV[:]).CryptBlocks(buf, buf)
	return append(buf, tag(k, ad, buf)...)
}

func tag(k MessageKeys, ad, ct []byte) []byte {
	m := hmac.New(sha256.New, k.MAC[:])
	var l [8]byte
	binary.BigEndian.PutUint64(l[:], uint64(len(ad)))
	m.Write(l[:])
	m.Write(ad)
	m.Write(ct)
	return m.Sum(nil)
}

func open(k MessageKeys, msg, ad []byte) ([]byte, error) {
	if len(msg) < aes.BlockSize+sha256.Size || (len(msg)-sha256.Size)%aes.BlockSize != 0 {
		return nil, ErrAuth
	}
	ct, mac := msg[:len(msg)-sha256.Size], msg[len(msg)-sha256.Size:]
	if !hmac.Equal(mac, tag(k, ad, ct)) {
		return nil, ErrAuth
	}
	block, _ := aes.NewCipher(k.Cipher[:])
	buf := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, k.IV[:]).CryptBlocks(buf, ct)
	pad := int(buf[len(buf)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, ErrAuth
	}
	return buf[:len(buf)-pad], nil
}

// CanSend reports whether the state has a sending chain: the side that
// receives first ("Bob") has none until it decrypts a message.
func (s *State) CanSend() bool { return s.cks != nil }
