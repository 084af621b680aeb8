package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parley-im/parley/chain/bns"
)

// Linking a device (docs/devices.md, Linking a device; docs/protocol.md,
// Device linking): the new device's offer and the code that names it,
// and the welcome an approving device seals to the new one. Pure
// formats: the chain carries offers, the user's hubs carry welcomes.

const (
	linkDomain    = bns.LinkDomain // "parley/device-link/v1", shared with the chain's codes
	linkPathLabel = "parley/device-link-path/v1"
	linkCheck     = "parley/link-code-check/v1"
	offerVersion  = 1
	// welcomeVersion is both the envelope's and the body's version.
	welcomeVersion = 1
)

// Link limits.
const (
	// LinkCodeLen is the bytes of a link code: 80 bits, so finding
	// another offer with a person's code is a 2^80 search.
	LinkCodeLen = 10
	// MaxLabel bounds a device's label, in bytes.
	MaxLabel = 32
	// MaxWelcomePayload bounds what a welcome carries.
	MaxWelcomePayload = 64 << 20
	// WelcomePad is what a welcome's plaintext is padded to a multiple of.
	WelcomePad = 64 << 10
)

// Errors of linking.
var (
	// ErrLinkCode: a code as typed is not one (a wrong length, a letter
	// outside the alphabet, or its check character does not match: a
	// typing mistake). It wraps ErrMalformed.
	ErrLinkCode = fmt.Errorf("%w: not a link code", ErrMalformed)
	// ErrNotADevice: a welcome is signed by a key the name's verified
	// record does not list as one of its devices. It wraps ErrForged.
	ErrNotADevice = fmt.Errorf("%w: not signed by a device of the name", ErrForged)
)

// crockford is Crockford's base32 alphabet: no I, L, O or U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// LinkCode names an offer: the first LinkCodeLen bytes of its hash.
type LinkCode [LinkCodeLen]byte

// String is the code as a person reads it: its 80 bits in Crockford
// base32 (16 characters), a check character, in groups of four joined by
// dashes: "XXXX-XXXX-XXXX-XXXX-C".
func (c LinkCode) String() string {
	s := base32Crockford(c[:]) + string(crockford[linkCheckValue(c)])
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// linkCheckValue is the check character's value: the first 5 bits of
// SHA-256("parley/link-code-check/v1" ‖ code).
func linkCheckValue(c LinkCode) byte {
	h := sha256.Sum256(append([]byte(linkCheck), c[:]...))
	return h[0] >> 3
}

func base32Crockford(b []byte) string {
	var out []byte
	var acc uint32
	bits := 0
	for _, x := range b {
		acc = acc<<8 | uint32(x)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out = append(out, crockford[acc>>bits&31])
		}
	}
	if bits > 0 {
		out = append(out, crockford[acc<<(5-bits)&31])
	}
	return string(out)
}

// ParseLinkCode reads a code as a person typed it: any case, with or
// without dashes and spaces, O read as 0 and I or L as 1 (Crockford's
// rule). A code of the wrong length, with another character or whose
// check character does not match wraps ErrLinkCode.
func ParseLinkCode(typed string) (LinkCode, error) {
	var c LinkCode
	var vals []byte
	for _, r := range strings.ToUpper(typed) {
		switch r {
		case '-', ' ':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		i := strings.IndexRune(crockford, r)
		if i < 0 {
			return c, fmt.Errorf("%w: %q is not one of its characters", ErrLinkCode, r)
		}
		vals = append(vals, byte(i))
	}
	if len(vals) != 17 {
		return c, fmt.Errorf("%w: %d characters, a code has 17", ErrLinkCode, len(vals))
	}
	var acc uint32
	bits, j := 0, 0
	for _, v := range vals[:16] { // 80 bits: exactly 10 bytes
		acc = acc<<5 | uint32(v)
		if bits += 5; bits >= 8 {
			bits -= 8
			c[j] = byte(acc >> bits)
			j++
		}
	}
	if linkCheckValue(c) != vals[16] {
		return LinkCode{}, fmt.Errorf("%w: its check character does not match (a character is mistyped)", ErrLinkCode)
	}
	return c, nil
}

// Offer is what a new device offers to join a name with: its public
// keys and a label.
type Offer struct {
	SigningKey bns.PublicKey
	EncKeys    []bns.EncKey // X25519, then optionally MLKEM768-X25519
	Label      string       // 1 to MaxLabel of a-z, 0-9 and -
}

// ValidateLabel accepts a device label: 1 to MaxLabel characters of a-z,
// 0-9 and -. Labels are public (on the chain).
func ValidateLabel(l string) error {
	if l == "" || len(l) > MaxLabel {
		return fmt.Errorf("%w: a device label has 1 to %d characters", ErrMalformed, MaxLabel)
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("%w: a device label has only a-z, 0-9 and -", ErrMalformed)
		}
	}
	return nil
}

// validate checks the offer's keys and label.
func (o *Offer) validate() error {
	if o.SigningKey.IsZero() {
		return fmt.Errorf("%w: offer without a signing key", ErrMalformed)
	}
	if n := len(o.EncKeys); n == 0 || n > 2 || o.EncKeys[0].KEM != bns.KEMX25519 || n == 2 && o.EncKeys[1].KEM != bns.KEMMLKEM768X25519 {
		return fmt.Errorf("%w: an offer has an X25519 key, then optionally an MLKEM768-X25519 key", ErrMalformed)
	}
	for _, k := range o.EncKeys {
		kem, err := hpke.NewKEM(k.KEM)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if _, err := kem.NewPublicKey(k.Key); err != nil {
			return fmt.Errorf("%w: encryption key 0x%04x: %v", ErrMalformed, k.KEM, err)
		}
	}
	return ValidateLabel(o.Label)
}

// Marshal is the offer's one encoding: u8 1 ‖ signing key[32] ‖ u8 count
// ‖ (u16 KEM ‖ str(key))… ‖ str(label).
func (o *Offer) Marshal() ([]byte, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	b := append([]byte{offerVersion}, o.SigningKey[:]...)
	b = append(b, byte(len(o.EncKeys)))
	for _, k := range o.EncKeys {
		b = binary.BigEndian.AppendUint16(b, k.KEM)
		b = appendStr(b, string(k.Key))
	}
	return appendStr(b, o.Label), nil
}

// ParseOffer reads what Marshal makes, and nothing else.
func ParseOffer(b []byte) (*Offer, error) {
	if len(b) < 1+32+1 {
		return nil, ErrMalformed
	}
	if b[0] != offerVersion {
		return nil, fmt.Errorf("%w: offer version %d", ErrVersion, b[0])
	}
	o := new(Offer)
	copy(o.SigningKey[:], b[1:33])
	n, rest := int(b[33]), b[34:]
	if n > 2 {
		return nil, fmt.Errorf("%w: %d encryption keys", ErrMalformed, n)
	}
	for range n {
		if len(rest) < 2 {
			return nil, ErrMalformed
		}
		kem := binary.BigEndian.Uint16(rest)
		key, r, err := readStr(rest[2:])
		if err != nil {
			return nil, err
		}
		o.EncKeys, rest = append(o.EncKeys, bns.EncKey{KEM: kem, Key: []byte(key)}), r
	}
	label, rest, err := readStr(rest)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the offer", ErrMalformed, len(rest))
	}
	o.Label = label
	if err := o.validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// OfferCode is the code of an offer on a chain: the first LinkCodeLen
// bytes of SHA-256("parley/device-link/v1" ‖ str(chain ID) ‖ offer).
func OfferCode(chainID string, offer []byte) LinkCode {
	return LinkCode(bns.OfferCode(chainID, offer))
}

// CheckOffer reports whether offer is the one code names on chainID (in
// constant time): an offer the code does not name is refused with
// ErrForged, whatever it holds.
func CheckOffer(code LinkCode, chainID string, offer []byte) error {
	got := OfferCode(chainID, offer)
	if subtle.ConstantTimeCompare(got[:], code[:]) != 1 {
		return fmt.Errorf("%w: the offer is not the one the link code names", ErrForged)
	}
	return nil
}

// WelcomePath is where the approving device writes the welcome, on its
// own hubs: "k/" ‖ hex32(HMAC(code, "parley/device-link-path/v1")).
func WelcomePath(code LinkCode) string {
	m := hmac.New(sha256.New, code[:])
	m.Write([]byte(linkPathLabel))
	return WelcomePrefix + hex.EncodeToString(m.Sum(nil)[:16])
}

// WelcomePrefix starts every welcome's path: a watch of the user's own
// buckets follows it to learn at once that a device was approved.
const WelcomePrefix = "k/"

// Welcome is what an approving device hands a new one.
type Welcome struct {
	Name     string        // the name the device joined
	Code     LinkCode      // the offer's code
	Device   bns.PublicKey // the new device's signing key
	Approver bns.PublicKey // the approving device's signing key
	Time     time.Time     // the approver's clock, whole seconds
	Payload  []byte        // contacts, groups, settings, history if asked
}

func linkInfo(name string, code LinkCode) []byte {
	return append(appendStr([]byte(linkDomain), name), code[:]...)
}

func (w *Welcome) body() []byte {
	b := appendStr([]byte{welcomeVersion}, w.Name)
	b = append(b, w.Code[:]...)
	b = append(b, w.Device[:]...)
	b = append(b, w.Approver[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(w.Time.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(len(w.Payload)))
	return append(b, w.Payload...)
}

// SealWelcome seals w from the approving device (approver, whose public
// key must be w.Approver) to the new device's hybrid key to (the last
// encryption key of its offer):
//
//	body      = u8 1 ‖ str(name) ‖ code[10] ‖ device[32] ‖ approver[32] ‖ u64 unix seconds ‖ u32 len ‖ payload
//	plaintext = body ‖ Ed25519(approver, "parley/device-link/v1" ‖ body) ‖ zeros to a multiple of 64 KiB
//	envelope  = u8 1 ‖ u16 KEM ‖ u16 len(enc) ‖ enc ‖ HPKE SealBase(to, info = "parley/device-link/v1" ‖ str(name) ‖ code,
//	            aad = WelcomePath(code))
func SealWelcome(approver ed25519.PrivateKey, w *Welcome, to bns.EncKey) ([]byte, error) {
	if len(w.Payload) > MaxWelcomePayload {
		return nil, fmt.Errorf("%w: a welcome of %d bytes (at most %d)", ErrMalformed, len(w.Payload), MaxWelcomePayload)
	}
	if !bytes.Equal(approver.Public().(ed25519.PublicKey), w.Approver[:]) {
		return nil, errors.New("wire: the welcome's approver is not the signing key")
	}
	kem, err := hpke.NewKEM(to.KEM)
	if err != nil {
		return nil, err
	}
	pk, err := kem.NewPublicKey(to.Key)
	if err != nil {
		return nil, err
	}
	body := w.body()
	plain := append(body, ed25519.Sign(approver, append([]byte(linkDomain), body...))...)
	plain = append(plain, make([]byte, (WelcomePad-len(plain)%WelcomePad)%WelcomePad)...)
	enc, sender, err := hpke.NewSender(pk, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), linkInfo(w.Name, w.Code))
	if err != nil {
		return nil, err
	}
	ct, err := sender.Seal([]byte(WelcomePath(w.Code)), plain)
	if err != nil {
		return nil, err
	}
	out := []byte{welcomeVersion}
	out = binary.BigEndian.AppendUint16(out, pk.KEM().ID())
	out = binary.BigEndian.AppendUint16(out, uint16(len(enc)))
	out = append(out, enc...)
	return append(out, ct...), nil
}

// OpenWelcome opens a welcome read at WelcomePath(code) on the hubs of
// name, for the device whose signing key is device and whose HPKE
// private keys are keys. It refuses, at the first step that fails: a
// malformed or unknown envelope (ErrMalformed, ErrVersion); one that
// does not open with these keys, this name and code, at this path
// (ErrAuth); a body for another name, code or device (ErrForged); an
// approver that isDevice, which the caller answers from the name's
// verified record, does not list (ErrNotADevice); a signature that does
// not verify (ErrForged); non-zero padding or a payload out of bounds
// (ErrMalformed).
func OpenWelcome(env []byte, name string, code LinkCode, device bns.PublicKey, keys []hpke.PrivateKey, isDevice func(bns.PublicKey) bool) (*Welcome, error) {
	return openAt(env, WelcomePath(code), name, code, device, keys, isDevice)
}

// openAt is OpenWelcome of a welcome read at path.
func openAt(env []byte, path, name string, code LinkCode, device bns.PublicKey, keys []hpke.PrivateKey, isDevice func(bns.PublicKey) bool) (*Welcome, error) {
	if len(env) < 5 {
		return nil, ErrMalformed
	}
	if env[0] != welcomeVersion {
		return nil, fmt.Errorf("%w: welcome version %d", ErrVersion, env[0])
	}
	if len(env) > 5+2048+MaxWelcomePayload+2*WelcomePad {
		return nil, fmt.Errorf("%w: a welcome of %d bytes", ErrMalformed, len(env))
	}
	kemID := binary.BigEndian.Uint16(env[1:])
	n := int(binary.BigEndian.Uint16(env[3:]))
	if len(env) < 5+n {
		return nil, ErrMalformed
	}
	enc, ct := env[5:5+n], env[5+n:]
	var plain []byte
	for _, k := range keys {
		if k.KEM().ID() != kemID {
			continue
		}
		r, err := hpke.NewRecipient(enc, k, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), linkInfo(name, code))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if plain, err = r.Open([]byte(path), ct); err != nil {
			return nil, fmt.Errorf("%w: the welcome does not open for this device, name and code", ErrAuth)
		}
		break
	}
	if plain == nil {
		return nil, fmt.Errorf("%w: no key of KEM 0x%04x", ErrMalformed, kemID)
	}
	w, signed, sig, err := parseWelcome(plain)
	if err != nil {
		return nil, err
	}
	switch {
	case w.Name != name:
		return nil, fmt.Errorf("%w: the welcome is for %q", ErrForged, w.Name)
	case subtle.ConstantTimeCompare(w.Code[:], code[:]) != 1:
		return nil, fmt.Errorf("%w: the welcome is for another link code", ErrForged)
	case w.Device != device:
		return nil, fmt.Errorf("%w: the welcome is for another device", ErrForged)
	case !isDevice(w.Approver):
		return nil, ErrNotADevice
	case !ed25519.Verify(w.Approver[:], append([]byte(linkDomain), signed...), sig):
		return nil, fmt.Errorf("%w: the welcome's signature", ErrForged)
	}
	return w, nil
}

// parseWelcome reads a welcome's plaintext: the body, its signature,
// and zero padding to a multiple of WelcomePad.
func parseWelcome(p []byte) (w *Welcome, signed, sig []byte, err error) {
	if len(p)%WelcomePad != 0 || len(p) == 0 {
		return nil, nil, nil, fmt.Errorf("%w: a welcome of %d bytes is not padded", ErrMalformed, len(p))
	}
	if p[0] != welcomeVersion {
		return nil, nil, nil, fmt.Errorf("%w: welcome body version %d", ErrVersion, p[0])
	}
	w = new(Welcome)
	name, rest, err := readStr(p[1:])
	if err != nil {
		return nil, nil, nil, err
	}
	w.Name = name
	if len(rest) < LinkCodeLen+32+32+8+4 {
		return nil, nil, nil, ErrMalformed
	}
	copy(w.Code[:], rest)
	copy(w.Device[:], rest[LinkCodeLen:])
	copy(w.Approver[:], rest[LinkCodeLen+32:])
	rest = rest[LinkCodeLen+64:]
	secs := binary.BigEndian.Uint64(rest)
	if secs >= 1<<63 {
		return nil, nil, nil, fmt.Errorf("%w: a time out of range", ErrMalformed)
	}
	w.Time = time.Unix(int64(secs), 0)
	size := binary.BigEndian.Uint32(rest[8:])
	rest = rest[12:]
	if size > MaxWelcomePayload || uint64(len(rest)) < uint64(size)+ed25519.SignatureSize {
		return nil, nil, nil, fmt.Errorf("%w: a payload of %d bytes", ErrMalformed, size)
	}
	w.Payload = append([]byte(nil), rest[:size]...)
	end := len(p) - len(rest) + int(size)
	signed, sig = p[:end], p[end:end+ed25519.SignatureSize]
	for _, b := range p[end+ed25519.SignatureSize:] {
		if b != 0 {
			return nil, nil, nil, fmt.Errorf("%w: non-zero padding", ErrMalformed)
		}
	}
	return w, signed, sig, nil
}
