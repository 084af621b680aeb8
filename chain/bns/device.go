package bns

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

// Devices (docs/devices.md, Devices on the chain). A name's record lists
// the devices that speak for it: the first device is the record's
// profile (its signing and encryption keys), the others follow in
// [Record.Devices]. A device joins only from an offer its own key signed
// (a link-offer transaction), approved by a device-add that the owner or
// a listed device signs.

// Device limits.
const (
	// MaxDeviceLabel bounds a device's label, in bytes.
	MaxDeviceLabel = 32
	// MaxDevicesLimit bounds max_devices (and so a record's list).
	MaxDevicesLimit = 64
	// DefaultMaxDevices is max_devices when genesis does not set it, and
	// on a chain that took devices on at an upgrade.
	DefaultMaxDevices = 8
	// FirstDeviceLabel is the label of the record's first device (its
	// profile's keys); no other device may take it.
	FirstDeviceLabel = "first"
	// LinkCodeLen is the bytes of a link code: the first bytes of the
	// offer's hash, 80 bits.
	LinkCodeLen = 10
)

// LinkDomain separates link codes (and, in client/wire, welcomes) from
// every other hash and signature.
const LinkDomain = "parley/device-link/v1"

// LinkForDomain separates the codes of offers bound to a name.
const LinkForDomain = "parley/device-link-for/v1"

// OfferPowDomain separates link-offer stamps from every other hash.
const OfferPowDomain = "parley/bns/offer-pow/v1"

// deviceVersion is the first byte of an offer and of a listed device.
const deviceVersion = 1

// Device is one device of a name: its public keys, a public label, and
// the height it was added at (0 in an offer, and for the first device,
// whose keys are the profile's).
type Device struct {
	SigningKey PublicKey
	// EncKeys holds an X25519 key and optionally an MLKEM768-X25519 key,
	// as a profile's.
	EncKeys []EncKey
	// Label is 1 to MaxDeviceLabel characters of a-z, 0-9 and -.
	Label   string
	AddedAt int64
}

// ValidateDeviceLabel accepts a device label: 1 to MaxDeviceLabel
// characters of a-z, 0-9 and -. Labels are public.
func ValidateDeviceLabel(l string) error {
	if l == "" || len(l) > MaxDeviceLabel {
		return fmt.Errorf("a device label has 1 to %d characters", MaxDeviceLabel)
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("a device label has only a-z, 0-9 and -")
		}
	}
	return nil
}

// ValidateOffer checks a device's keys and label as an offer carries
// them: a signing key, an X25519 key then optionally an MLKEM768-X25519
// key, each parsing under its KEM, and a valid label.
func (d *Device) ValidateOffer() error {
	if d.SigningKey.IsZero() {
		return fmt.Errorf("%w: device without a signing key", ErrInvalidProfile)
	}
	if err := validateEncKeys(d.EncKeys); err != nil {
		return err
	}
	if err := ValidateDeviceLabel(d.Label); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidProfile, err)
	}
	return nil
}

// encodeOffer appends the offer form: u8 1 ‖ signing key ‖ u8 count ‖
// (u16 KEM ‖ str(key))… ‖ str(label).
func (d *Device) encodeOffer(e *encoder) {
	e.u8(deviceVersion)
	e.raw(d.SigningKey[:])
	e.u8(uint8(len(d.EncKeys)))
	for _, k := range d.EncKeys {
		e.u16(k.KEM)
		e.bytes16(k.Key)
	}
	e.str(d.Label)
}

func (d *Device) decodeOffer(dec *decoder) {
	if v := dec.u8("device version"); dec.err == nil && v != deviceVersion {
		dec.fail("device version %d", v)
	}
	dec.fixed(d.SigningKey[:], "device signing key")
	n := int(dec.u8("device key count"))
	if n > maxEncKeys {
		dec.fail("%d device encryption keys, at most %d", n, maxEncKeys)
		return
	}
	d.EncKeys = nil
	for i := 0; i < n && dec.err == nil; i++ {
		d.EncKeys = append(d.EncKeys, EncKey{KEM: dec.u16("encryption key kind"), Key: dec.bytes16("encryption key", maxEncKeyLen)})
	}
	d.Label = dec.str("device label", MaxDeviceLabel)
}

// encode appends a listed device: the offer form, then i64 added height.
func (d *Device) encode(e *encoder) {
	d.encodeOffer(e)
	e.i64(d.AddedAt)
}

func (d *Device) decode(dec *decoder) {
	d.decodeOffer(dec)
	d.AddedAt = dec.i64("device added at")
}

// MarshalOffer returns the offer form of d (its AddedAt left out): the
// bytes a link code is the hash of.
func (d *Device) MarshalOffer() []byte {
	var e encoder
	d.encodeOffer(&e)
	return e.b
}

// UnmarshalOffer parses an offer and validates it.
func UnmarshalOffer(b []byte) (*Device, error) {
	dec := decoder{b: b}
	d := new(Device)
	d.decodeOffer(&dec)
	if err := dec.finish(); err != nil {
		return nil, fmt.Errorf("bns: offer: %w", err)
	}
	if err := d.ValidateOffer(); err != nil {
		return nil, fmt.Errorf("bns: offer: %w", err)
	}
	return d, nil
}

// Clone returns a deep copy of d.
func (d Device) Clone() Device {
	c := d
	c.EncKeys = nil
	for _, k := range d.EncKeys {
		c.EncKeys = append(c.EncKeys, EncKey{KEM: k.KEM, Key: append([]byte(nil), k.Key...)})
	}
	return c
}

func cloneDevices(ds []Device) []Device {
	var out []Device
	for _, d := range ds {
		out = append(out, d.Clone())
	}
	return out
}

func encodeDevices(e *encoder, ds []Device) {
	e.u8(uint8(len(ds)))
	for i := range ds {
		ds[i].encode(e)
	}
}

func decodeDevices(d *decoder) []Device {
	n := int(d.u8("device count"))
	if n >= MaxDevicesLimit {
		d.fail("%d devices, at most %d after the first", n, MaxDevicesLimit-1)
		return nil
	}
	var out []Device
	for i := 0; i < n && d.err == nil; i++ {
		var dev Device
		dev.decode(d)
		out = append(out, dev)
	}
	return out
}

// LinkCode names an offer: the first LinkCodeLen bytes of its hash.
type LinkCode [LinkCodeLen]byte

// OfferCode is the code of an offer on a chain: the first LinkCodeLen
// bytes of SHA-256(LinkDomain ‖ str(chain ID) ‖ offer).
func OfferCode(chainID string, offer []byte) LinkCode {
	e := encoder{b: []byte(LinkDomain)}
	e.str(chainID)
	e.raw(offer)
	h := sha256.Sum256(e.b)
	var c LinkCode
	copy(c[:], h[:])
	return c
}

// OfferCodeFor is the code of an offer bound to name (link-offer-for):
// the first LinkCodeLen bytes of SHA-256(LinkForDomain ‖ str(chain ID) ‖
// str(name) ‖ offer). The code commits to the name: no other offer, bound
// or not, has it.
func OfferCodeFor(chainID, name string, offer []byte) LinkCode {
	e := encoder{b: []byte(LinkForDomain)}
	e.str(chainID)
	e.str(name)
	e.raw(offer)
	h := sha256.Sum256(e.b)
	var c LinkCode
	copy(c[:], h[:])
	return c
}

// CheckOfferCode reports, in constant time, whether offer hashes to code
// on chainID.
func CheckOfferCode(chainID string, offer []byte, code LinkCode) bool {
	got := OfferCode(chainID, offer)
	return subtle.ConstantTimeCompare(got[:], code[:]) == 1
}

// OfferPowHash is the stamp hash of a link offer: SHA-256 over
// str(OfferPowDomain), str(chain ID), the code, the signer and the 8-byte
// stamp.
func OfferPowHash(chainID string, code LinkCode, signer PublicKey, nonce uint64) [32]byte {
	return stampHash(offerStampPrefix(chainID, code, signer), nonce)
}

func offerStampPrefix(chainID string, code LinkCode, signer PublicKey) []byte {
	var e encoder
	e.str(OfferPowDomain)
	e.str(chainID)
	e.raw(code[:])
	e.raw(signer[:])
	return e.b
}

// CheckOfferPow reports whether nonce is a valid link-offer stamp.
func CheckOfferPow(chainID string, code LinkCode, signer PublicKey, nonce uint64, difficulty uint8) bool {
	return LeadingZeroBits(OfferPowHash(chainID, code, signer, nonce)) >= int(difficulty)
}

// SolveOfferPow finds a link-offer stamp, as SolvePow does.
func SolveOfferPow(ctx context.Context, chainID string, code LinkCode, signer PublicKey, difficulty uint8) (uint64, error) {
	return solve(ctx, offerStampPrefix(chainID, code, signer), difficulty)
}

// PendingOffer is a link offer on the chain, stored under [OfferKey]:
// the device that asks to join, the height the offer was made at, and
// the name that took it ("" until a device-add does).
type PendingOffer struct {
	Device  Device // AddedAt unused (0)
	Height  int64
	TakenBy string
	// For is the only name that may take it (a link-offer-for), "" for
	// any.
	For string
}

// The stored forms of a pending offer: 1 any name's, 2 bound to one.
const (
	pendingOfferVersion    = 1
	pendingOfferForVersion = 2
)

// Marshal returns the stored form: u8 1 ‖ offer ‖ i64 height ‖ str(taken
// by); bound to a name, u8 2 ‖ offer ‖ i64 height ‖ str(taken by) ‖
// str(for).
func (p *PendingOffer) Marshal() []byte {
	var e encoder
	if p.For == "" {
		e.u8(pendingOfferVersion)
	} else {
		e.u8(pendingOfferForVersion)
	}
	p.Device.encodeOffer(&e)
	e.i64(p.Height)
	e.str(p.TakenBy)
	if p.For != "" {
		e.str(p.For)
	}
	return e.b
}

// Offer returns the offer's bytes, which its code is the hash of (with
// For, if bound).
func (p *PendingOffer) Offer() []byte { return p.Device.MarshalOffer() }

// Code is the offer's link code on chainID: OfferCodeFor if it is bound
// to a name, else OfferCode.
func (p *PendingOffer) Code(chainID string) LinkCode {
	if p.For != "" {
		return OfferCodeFor(chainID, p.For, p.Offer())
	}
	return OfferCode(chainID, p.Offer())
}

// CheckCode reports, in constant time, whether the offer (and the name
// it is bound to) hashes to code on chainID.
func (p *PendingOffer) CheckCode(chainID string, code LinkCode) bool {
	got := p.Code(chainID)
	return subtle.ConstantTimeCompare(got[:], code[:]) == 1
}

// UnmarshalPendingOffer parses the stored form.
func UnmarshalPendingOffer(b []byte) (*PendingOffer, error) {
	d := decoder{b: b}
	v := d.u8("offer entry version")
	if d.err == nil && v != pendingOfferVersion && v != pendingOfferForVersion {
		d.fail("offer entry version %d", v)
	}
	p := new(PendingOffer)
	p.Device.decodeOffer(&d)
	p.Height = d.i64("offer height")
	p.TakenBy = d.str("taken by", MaxNameLen)
	if v == pendingOfferForVersion {
		p.For = d.str("offer for", MaxNameLen)
		if d.err == nil && ValidateName(p.For) != nil {
			d.fail("offer for %q: not a name", p.For)
		}
	}
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("bns: offer entry: %w", err)
	}
	return p, nil
}

// OfferKey is where the offer of a link code lives.
func OfferKey(code LinkCode) []byte { return append([]byte("l/"), code[:]...) }

// OfferExpiryPrefix is the prefix of the offers' expiry schedule.
var OfferExpiryPrefix = []byte("q/")

// OfferExpiryKey schedules the removal, at the start of block height, of
// the offer of code. Its value is [PruneValue].
func OfferExpiryKey(height int64, code LinkCode) []byte {
	k := binary.BigEndian.AppendUint64(append([]byte(nil), OfferExpiryPrefix...), uint64(height))
	return append(k, code[:]...)
}

// AllDevices returns every device of the record: the first (its profile's
// keys, labelled FirstDeviceLabel), then the others in the order they
// were added. A record without a profile (transferred, revoked) has none.
func (r *Record) AllDevices() []Device {
	if r.Profile.SigningKey.IsZero() {
		return nil
	}
	first := Device{SigningKey: r.Profile.SigningKey, Label: FirstDeviceLabel}
	for _, k := range r.Profile.EncKeys {
		first.EncKeys = append(first.EncKeys, EncKey{KEM: k.KEM, Key: append([]byte(nil), k.Key...)})
	}
	return append([]Device{first}, cloneDevices(r.Devices)...)
}

// Device returns the device of the record whose signing key is key (the
// first device included), and whether there is one.
func (r *Record) Device(key PublicKey) (Device, bool) {
	if key.IsZero() {
		return Device{}, false
	}
	for _, d := range r.AllDevices() {
		if d.SigningKey == key {
			return d, true
		}
	}
	return Device{}, false
}
