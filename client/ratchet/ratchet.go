// Package ratchet is the Double Ratchet of Signal's specification
// (revision 1, 2016-11-20, section 3, with skipped message keys), over
// X25519, HKDF-SHA256 and HMAC-SHA256, with the specification's recommended
// AEAD: AES-256-CBC and HMAC-SHA256 over the associated data and
// ciphertext, extended with a post-quantum step over ML-KEM-768 (FIPS 203)
// in the manner of SimpleX's post-quantum double ratchet. Its classical key
// derivations are libsignal's, so its chain can be checked against
// libsignal's published vectors (testdata/).
//
//	KDF_RK(rk, dh)     = HKDF-SHA256(salt=rk, ikm=dh, info="WhisperRatchet")[0:32], [32:64]
//	KDF_RK(rk, dh, ss) = HKDF-SHA256(salt=rk, ikm=dh‖ss, info="parley/ratchet/pq/v1")[0:32], [32:64]
//	KDF_CK(ck)         = HMAC-SHA256(ck, 0x02) as the next chain key,
//	                     HMAC-SHA256(ck, 0x01) as the message key seed
//	message keys       = HKDF-SHA256(salt=none, ikm=seed, info="WhisperMessageKeys", 80)
//	                     → cipher key [0:32], MAC key [32:64], IV [64:80]
//
// A message key is used once and deleted, so a key stolen later does not
// open earlier messages; every round trip mixes in a fresh Diffie-Hellman
// output, so the conversation heals after a compromise.
//
// # Post-quantum step
//
// The first message of each sending chain carries, encrypted in its body,
// a fresh ML-KEM-768 encapsulation key of the sender and, when the sender
// holds one of the other side's, a ciphertext encapsulated to it. The
// receiver decapsulates it and mixes the shared secret into the root KDF of
// its next sending chain, and says so in that chain's headers ([FlagPQ]);
// the encapsulator then mixes the same secret into its receiving step. So
// a conversation heals after a compromise even against an adversary who
// records it now and breaks X25519 later: the first chain keyed with a
// secret encapsulated to a decapsulation key made after the compromise is
// out of that adversary's reach. A lost first message costs only that
// step's KEM secret (the answer is then a classical step), never a chain.
// docs/protocol.md ("Double Ratchet") is the specification.
//
// The package is pure: state in, state out; the caller persists it.
//
// It is pure: it owns the ratchet's state and its serialization, and must
// not do I/O, read a clock or keep state outside a Ratchet.
package ratchet

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/mlkem"
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
	ErrMalformed = errors.New("ratchet: malformed message")
	ErrVersion   = errors.New("ratchet: unsupported header version")
	// ErrReplay: a message of the current chain whose key was used (or
	// forgotten); it wraps ErrAuth.
	ErrReplay = fmt.Errorf("%w: a message already read (replayed)", ErrAuth)
)

// MaxSkip bounds the message keys kept for messages not yet received, per
// chain and in all.
const MaxSkip = 1000

const (
	infoRatchet = "WhisperRatchet"
	infoPQ      = "parley/ratchet/pq/v1"
	infoMsg     = "WhisperMessageKeys"
)

// Sizes of the KEM fields a message body may begin with.
const (
	EKLen = mlkem.EncapsulationKeySize768 // 1184
	CTLen = mlkem.CiphertextSize768       // 1088
)

// Header flags (version 2).
const (
	// FlagPQ: the chain's key came from a post-quantum step: the receiver
	// mixes in the KEM secret it encapsulated in its own last chain.
	FlagPQ = 0x01
	// FlagEK: the body's plaintext begins with an encapsulation key.
	FlagEK = 0x02
	// FlagCT: then (after the key, if any) with a KEM ciphertext.
	FlagCT = 0x04

	knownFlags = FlagPQ | FlagEK | FlagCT
)

// Header travels with each message: its version, the sender's current
// ratchet public key, the length of its previous sending chain, the
// message number and (version 2) the flags. Version 1 headers (no flags)
// are those of the previous client: they are read, never written.
type Header struct {
	Version uint8
	DH      [32]byte
	PN      uint32
	N       uint32
	Flags   uint8
}

// Encoded header sizes.
const (
	HeaderLen   = 42 // version 2: u8 2 ‖ DH[32] ‖ u32 PN ‖ u32 N ‖ u8 flags
	HeaderLenV1 = 40 // version 1: DH[32] ‖ u32 PN ‖ u32 N
)

// Marshal encodes the header in its version's layout.
func (h Header) Marshal() []byte {
	var b []byte
	if h.Version != 1 {
		b = append(b, h.Version)
	}
	b = append(b, h.DH[:]...)
	b = binary.BigEndian.AppendUint32(b, h.PN)
	b = binary.BigEndian.AppendUint32(b, h.N)
	if h.Version != 1 {
		b = append(b, h.Flags)
	}
	return b
}

// ParseHeader decodes a header: 40 bytes are a version 1 header, 42 bytes
// a version 2 one. A wrong length or an unknown flag wraps ErrMalformed, a
// version other than 2 in a 42-byte header ErrVersion.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	switch len(b) {
	case HeaderLenV1:
		h.Version = 1
	case HeaderLen:
		if b[0] != 2 {
			return h, fmt.Errorf("%w: header version %d", ErrVersion, b[0])
		}
		h.Version, h.Flags = b[0], b[len(b)-1]
		b = b[1 : len(b)-1]
	default:
		return h, fmt.Errorf("%w: header of %d bytes, want %d", ErrMalformed, len(b), HeaderLen)
	}
	copy(h.DH[:], b)
	h.PN, h.N = binary.BigEndian.Uint32(b[32:]), binary.BigEndian.Uint32(b[36:])
	return h, h.check()
}

func (h Header) check() error {
	switch {
	case h.Version == 1 && h.Flags != 0:
		return fmt.Errorf("%w: flags in a version 1 header", ErrMalformed)
	case h.Version != 1 && h.Version != 2:
		return fmt.Errorf("%w: header version %d", ErrVersion, h.Version)
	case h.Flags&^knownFlags != 0:
		return fmt.Errorf("%w: unknown header flags %#02x", ErrMalformed, h.Flags&^knownFlags)
	}
	return nil
}

// Random supplies a State's random inputs. Read gives X25519 private keys
// (32 bytes each) and ML-KEM-768 seeds (d ‖ z, 64 bytes each); Encapsulate
// encapsulates to a key. A nil Random is crypto/rand and crypto/mlkem's own
// encapsulation: only test vectors supply another.
type Random interface {
	io.Reader
	Encapsulate(ek *mlkem.EncapsulationKey768) (sharedKey, ciphertext []byte)
}

type skippedKey struct {
	dh [32]byte
	n  uint32
}

// State is one party's ratchet state. Its sending chain is made lazily: a
// DH ratchet step on receiving derives the receiving chain, and the next
// Encrypt derives the sending chain (with the same result as deriving both
// at once), so that the random inputs of a chain are drawn by the message
// that begins it, which carries its KEM fields.
type State struct {
	dhs      *ecdh.PrivateKey // nil only for Alice before her first message
	dhr      *[32]byte
	rk       [32]byte
	cks, ckr *[32]byte
	ns, nr   uint32
	pn       uint32
	skipped  map[skippedKey][32]byte // message key seeds
	order    []skippedKey            // oldest first, to bound the map

	step bool      // a sending step is due
	dks  []byte    // our ML-KEM seed, its key sent in our current chain's first message
	ekr  []byte    // their encapsulation key, from the first message of their current chain
	ssr  *[32]byte // decapsulated from that message: for our next sending step
	sss  *[32]byte // encapsulated in our current chain: awaiting their answer
	pqs  bool      // the newest root step was post-quantum (our chain's FlagPQ)
	v2   bool      // a version 2 header was opened: version 1 is refused
	rand Random

	// dks and ekr parsed: kept from their use, or parsed when first needed
	// after a load (so that loading many conversations parses none).
	dksKey *mlkem.DecapsulationKey768
	ekrKey *mlkem.EncapsulationKey768
}

// decapsulationKey is dks, expanded.
func (s *State) decapsulationKey() (*mlkem.DecapsulationKey768, error) {
	if s.dksKey == nil {
		k, err := mlkem.NewDecapsulationKey768(s.dks)
		if err != nil {
			return nil, fmt.Errorf("%w: ML-KEM seed: %v", ErrBadState, err)
		}
		s.dksKey = k
	}
	return s.dksKey, nil
}

// encapsulationKey is ekr, parsed.
func (s *State) encapsulationKey() (*mlkem.EncapsulationKey768, error) {
	if s.ekrKey == nil {
		k, err := mlkem.NewEncapsulationKey768(s.ekr)
		if err != nil {
			return nil, fmt.Errorf("%w: encapsulation key: %v", ErrBadState, err)
		}
		s.ekrKey = k
	}
	return s.ekrKey, nil
}

// InitAlice starts the side that sends first: sk is the shared secret,
// bob the other side's ratchet public key. Its first Encrypt makes the
// sending chain.
func InitAlice(sk [32]byte, bob *ecdh.PublicKey, random Random) *State {
	var dhr [32]byte
	copy(dhr[:], bob.Bytes())
	return &State{dhr: &dhr, rk: sk, step: true, skipped: map[skippedKey][32]byte{}, rand: random}
}

// InitBob starts the side that receives first, with its ratchet key pair.
func InitBob(sk [32]byte, bob *ecdh.PrivateKey, random Random) *State {
	return &State{dhs: bob, rk: sk, skipped: map[skippedKey][32]byte{}, rand: random}
}

func kdfRK(rk [32]byte, ikm []byte, info string) (root, chain [32]byte) {
	out, err := hkdf.Key(sha256.New, ikm, rk[:], info, 64)
	if err != nil {
		panic(err)
	}
	copy(root[:], out[:32])
	copy(chain[:], out[32:])
	return
}

// rootStep is KDF_RK: classical without a KEM secret, post-quantum with one.
func rootStep(rk [32]byte, dh []byte, ss *[32]byte) (root, chain [32]byte) {
	if ss == nil {
		return kdfRK(rk, dh, infoRatchet)
	}
	return kdfRK(rk, append(append([]byte{}, dh...), ss[:]...), infoPQ)
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

func (s *State) read(n int) ([]byte, error) {
	var r io.Reader = rand.Reader
	if s.rand != nil {
		r = s.rand
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("ratchet: random: %w", err)
	}
	return b, nil
}

func (s *State) encapsulate(ek *mlkem.EncapsulationKey768) (ss, ct []byte) {
	if s.rand == nil {
		return ek.Encapsulate()
	}
	return s.rand.Encapsulate(ek)
}

// Overhead is how many bytes the next Encrypt puts before the plaintext
// (the KEM fields of a chain's first message), for callers that pad to
// fixed sizes.
func (s *State) Overhead() int {
	switch {
	case !s.step:
		return 0
	case s.ekr != nil:
		return EKLen + CTLen
	}
	return EKLen
}

// sendStep makes the sending chain: a new ratchet key and ML-KEM key pair,
// an encapsulation to their key if we hold one, and KDF_RK with the KEM
// secret we decapsulated from their chain's first message, if any. It
// returns the KEM fields for this message and their flags; on error the
// state is unchanged.
func (s *State) sendStep() (fields []byte, flags uint8, err error) {
	if s.dhr == nil {
		return nil, 0, ErrNoSession
	}
	seed, err := s.read(32)
	if err != nil {
		return nil, 0, err
	}
	dhs, err := ecdh.X25519().NewPrivateKey(seed)
	if err != nil {
		return nil, 0, err
	}
	if seed, err = s.read(64); err != nil {
		return nil, 0, err
	}
	dks, err := mlkem.NewDecapsulationKey768(seed)
	if err != nil {
		return nil, 0, err
	}
	fields, flags = dks.EncapsulationKey().Bytes(), FlagEK
	var sss *[32]byte
	if s.ekr != nil {
		ekr, err := s.encapsulationKey()
		if err != nil {
			return nil, 0, err
		}
		ss, ct := s.encapsulate(ekr)
		if len(ss) != 32 || len(ct) != CTLen {
			return nil, 0, fmt.Errorf("ratchet: encapsulation of %d and %d bytes", len(ss), len(ct))
		}
		sss = (*[32]byte)(ss)
		fields, flags = append(fields, ct...), flags|FlagCT
	}
	their, err := ecdh.X25519().NewPublicKey(s.dhr[:])
	if err != nil {
		return nil, 0, err
	}
	out, err := dhs.ECDH(their)
	if err != nil {
		return nil, 0, fmt.Errorf("ratchet: %w", err)
	}
	rk, cks := rootStep(s.rk, out, s.ssr)
	s.pqs = s.ssr != nil
	s.dhs, s.dks, s.dksKey, s.ekr, s.ekrKey, s.sss, s.ssr = dhs, seed, dks, nil, nil, sss, nil
	s.rk, s.cks, s.step = rk, &cks, false
	return fields, flags, nil
}

// Encrypt advances the sending chain and seals plaintext with the
// associated data ad (which the receiver must supply too). It returns the
// header and the ciphertext. The first message of a sending chain draws
// its random inputs and carries the chain's KEM fields (see Overhead).
func (s *State) Encrypt(plaintext, ad []byte) (Header, []byte, error) {
	var (
		fields []byte
		flags  uint8
		err    error
	)
	if s.step {
		if fields, flags, err = s.sendStep(); err != nil {
			return Header{}, nil, err
		}
	}
	if s.cks == nil {
		return Header{}, nil, ErrNoSession
	}
	if s.pqs {
		flags |= FlagPQ
	}
	next, seed := kdfCK(*s.cks)
	s.cks = &next
	h := Header{Version: 2, PN: s.pn, N: s.ns, Flags: flags}
	copy(h.DH[:], s.dhs.PublicKey().Bytes())
	s.ns++
	return h, seal(DeriveMessageKeys(seed), append(fields, plaintext...), append(append([]byte{}, ad...), h.Marshal()...)), nil
}

// splitFields takes the KEM fields the flags announce off the front of a
// message's plaintext.
func splitFields(flags uint8, p []byte) (ek, ct, rest []byte, err error) {
	take := func(n int) []byte {
		if err != nil || len(p) < n {
			err = fmt.Errorf("%w: %d bytes, too short for the KEM fields the header announces", ErrMalformed, len(p))
			return nil
		}
		f := p[:n]
		p = p[n:]
		return f
	}
	if flags&FlagEK != 0 {
		ek = take(EKLen)
	}
	if flags&FlagCT != 0 {
		ct = take(CTLen)
	}
	return ek, ct, p, err
}

// Decrypt opens a message and returns its plaintext (without KEM fields).
// On any failure the state is unchanged: a message that does not
// authenticate wraps ErrAuth, a malformed one ErrMalformed, a header of a
// version this state no longer takes ErrVersion.
func (s *State) Decrypt(h Header, ciphertext, ad []byte) ([]byte, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	full := append(append([]byte{}, ad...), h.Marshal()...)
	k := skippedKey{h.DH, h.N}
	if seed, ok := s.skipped[k]; ok {
		pt, err := open(DeriveMessageKeys(seed), ciphertext, full)
		if err != nil {
			return nil, err
		}
		_, _, pt, err = splitFields(h.Flags, pt) // a late first message: its KEM fields come too late
		if err != nil {
			return nil, err
		}
		delete(s.skipped, k)
		return pt, nil
	}
	if h.Version == 1 && s.v2 {
		return nil, fmt.Errorf("%w: a version 1 header after version 2", ErrVersion)
	}
	// Work on a copy so that a forged message changes nothing.
	t := s.clone()
	newChain := t.dhr == nil || *t.dhr != h.DH
	if newChain {
		if err := t.skip(h.PN); err != nil {
			return nil, err
		}
		if err := t.recvStep(h); err != nil {
			return nil, err
		}
	}
	if t.ckr == nil { // Alice's first key, named by a message she cannot have
		return nil, fmt.Errorf("%w: no receiving chain for this key", ErrAuth)
	}
	if !newChain && h.N < t.nr {
		return nil, fmt.Errorf("%w: message %d of a chain read up to %d", ErrReplay, h.N, t.nr)
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
	ek, ct, pt, err := splitFields(h.Flags, pt)
	if err != nil {
		return nil, err
	}
	if newChain { // the message that began their chain: its KEM fields
		t.ekr, t.ekrKey, t.ssr = nil, nil, nil
		if ek != nil {
			if t.ekrKey, err = mlkem.NewEncapsulationKey768(ek); err != nil {
				return nil, fmt.Errorf("%w: encapsulation key: %v", ErrMalformed, err)
			}
			t.ekr = bytes.Clone(ek)
		}
		if ct != nil && t.dks != nil {
			dk, err := t.decapsulationKey()
			if err != nil {
				return nil, err
			}
			ss, err := dk.Decapsulate(ct)
			if err != nil {
				return nil, fmt.Errorf("%w: KEM ciphertext: %v", ErrMalformed, err)
			}
			t.ssr = (*[32]byte)(ss)
		}
		t.dks, t.dksKey = nil, nil // their next ciphertext is to the key of our next chain
	}
	if h.Version == 2 {
		t.v2 = true
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

// recvStep is the receiving half of a DH ratchet step: the receiving chain
// from their new key, with the KEM secret we encapsulated if their header
// says they mixed it in. Our sending chain is made at our next Encrypt.
func (s *State) recvStep(h Header) error {
	if s.dhs == nil {
		return fmt.Errorf("%w: a chain answering a message not sent", ErrAuth)
	}
	s.pn, s.ns, s.nr = s.ns, 0, 0
	dhr := h.DH
	s.dhr = &dhr
	their, err := ecdh.X25519().NewPublicKey(h.DH[:])
	if err != nil {
		return fmt.Errorf("%w: header key: %v", ErrMalformed, err)
	}
	out, err := s.dhs.ECDH(their)
	if err != nil {
		return fmt.Errorf("%w: header key: %v", ErrMalformed, err)
	}
	var ss *[32]byte
	if h.Flags&FlagPQ != 0 {
		if s.sss == nil {
			return fmt.Errorf("%w: a post-quantum step with no KEM secret of ours", ErrAuth)
		}
		ss = s.sss
	}
	var ckr [32]byte
	s.rk, ckr = rootStep(s.rk, out, ss)
	s.ckr = &ckr
	s.sss, s.cks, s.pqs, s.step = nil, nil, ss != nil, true
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
	for _, b := range buf[len(buf)-pad:] {
		if int(b) != pad {
			return nil, ErrAuth
		}
	}
	return buf[:len(buf)-pad], nil
}

// PostQuantum reports whether the newest root step (the newest chain, sent
// or received) mixed in a KEM secret.
func (s *State) PostQuantum() bool { return s.pqs }

// CanSend reports whether the state can send: the side that receives
// first ("Bob") cannot until it decrypts a message.
func (s *State) CanSend() bool { return s.cks != nil || s.step }
