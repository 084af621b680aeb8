package wire

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/chain/bns"
)

// Device-pair sessions (docs/protocol.md, Device-pair sessions; docs/
// devices.md, Conversations): one Double Ratchet session per pair of
// devices, started by a device introduction that the writing device
// signs and seals to the reading device. Pure formats: which devices a
// name has comes from its verified record, which the caller looks up.

const (
	deviceSessionDomain = "parley/device-session/v1"
	deviceIntroLabel    = "parley/device-intro-path/v1|"
	groupLinkIntroLabel = "parley/group-device-path/v1|"
	deviceIntroVersion  = 1
)

// Participant is one side of a device-pair session: a name and one of
// its devices (the device's Ed25519 signing key).
type Participant struct {
	Name   string
	Device bns.PublicKey
}

// String is part(X, x) of the spec: the name, "|", the device key's 64
// lowercase hex digits.
func (p Participant) String() string { return p.Name + "|" + hex.EncodeToString(p.Device[:]) }

// DeviceIntroPath is where writer's device introduction to reader lives,
// in the writer device's bucket on the writer's hubs; pair is the X25519
// of the two devices' keys.
func DeviceIntroPath(pair [32]byte, writer, reader Participant) string {
	k, _ := hkdf.Key(sha256.New, pair[:], []byte("parley/v1"), deviceIntroLabel+writer.String()+"|to|"+reader.String(), 16)
	return "p/" + hex.EncodeToString(k)
}

// GroupDeviceIntroPath is where writer's introduction of a group device
// link to reader lives (docs/protocol.md, Groups on several devices): as
// DeviceIntroPath, under its own label, so that a device-pair session's
// introduction and a group device link's never stand at one path.
func GroupDeviceIntroPath(pair [32]byte, writer, reader Participant) string {
	k, _ := hkdf.Key(sha256.New, pair[:], []byte("parley/v1"), groupLinkIntroLabel+writer.String()+"|to|"+reader.String(), 16)
	return "p/" + hex.EncodeToString(k)
}

// GroupDeviceRoot is the root of a group device link whose introduction
// carried mutual: LinkKey(mutual), which takes the place of the mutual
// key in DeviceSessionKeys and the ratchet, so a group device link and a
// device-pair session never share a secret.
func GroupDeviceRoot(mutual [32]byte) [32]byte { return LinkKey(mutual) }

// DeviceSessionKeys derives the keys of the device-pair session between
// me and them from its mutual key: the header key and the path keys of
// both directions. Message paths, the index and receipts follow from
// them as a conversation's do.
func DeviceSessionKeys(mutual [32]byte, me, them Participant) Keys {
	p, q := me.String(), them.String()
	if q < p {
		p, q = q, p
	}
	derive := func(info string) (k [32]byte) {
		b, _ := hkdf.Key(sha256.New, mutual[:], []byte("parley/v1"), info, 32)
		copy(k[:], b)
		return
	}
	pair := p + "|" + q
	return Keys{
		Header:  derive(deviceSessionDomain + "|header|" + pair),
		SendKey: derive(deviceSessionDomain + "|path|" + pair + "|from|" + me.String()),
		RecvKey: derive(deviceSessionDomain + "|path|" + pair + "|from|" + them.String()),
	}
}

// DeviceIntro is what a device introduction carries: who writes it (a
// device of From), to which device of To, the session's mutual key and
// the writer's clock.
type DeviceIntro struct {
	From, To  Participant
	MutualKey [32]byte
	Time      time.Time
}

func (in *DeviceIntro) body() []byte {
	b := []byte{deviceIntroVersion}
	b = appendStr(b, in.From.Name)
	b = append(b, in.From.Device[:]...)
	b = appendStr(b, in.To.Name)
	b = append(b, in.To.Device[:]...)
	b = append(b, in.MutualKey[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(in.Time.Unix()))
}

func deviceIntroInfo(to Participant) []byte {
	return append(appendStr([]byte(deviceSessionDomain), to.Name), to.Device[:]...)
}

// SealDeviceIntro seals in, signed by the writing device's key signer
// (whose public key must be in.From.Device), to the reading device's
// encryption key to (its last published one), bound to path
// (DeviceIntroPath of the pair):
//
//	body      = u8 1 ‖ str(A) ‖ a[32] ‖ str(B) ‖ b[32] ‖ K[32] ‖ u64 unix seconds
//	plaintext = body ‖ Ed25519(a, "parley/device-session/v1" ‖ body ‖ pk)
//	envelope  = u8 1 ‖ u16 KEM ‖ u16 len(enc) ‖ enc ‖ HPKE SealBase(pk, info "parley/device-session/v1" ‖ str(B) ‖ b, aad path)
func SealDeviceIntro(signer ed25519.PrivateKey, in *DeviceIntro, to bns.EncKey, path string) ([]byte, error) {
	if string(signer.Public().(ed25519.PublicKey)) != string(in.From.Device[:]) {
		return nil, errors.New("wire: the device introduction's writer is not the signing key")
	}
	kem, err := hpke.NewKEM(to.KEM)
	if err != nil {
		return nil, err
	}
	pk, err := kem.NewPublicKey(to.Key)
	if err != nil {
		return nil, err
	}
	body := in.body()
	signed := append(append([]byte(deviceSessionDomain), body...), pk.Bytes()...)
	plain := append(body, ed25519.Sign(signer, signed)...)
	enc, sender, err := hpke.NewSender(pk, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), deviceIntroInfo(in.To))
	if err != nil {
		return nil, err
	}
	ct, err := sender.Seal([]byte(path), plain)
	if err != nil {
		return nil, err
	}
	out := []byte{deviceIntroVersion}
	out = binary.BigEndian.AppendUint16(out, pk.KEM().ID())
	out = binary.BigEndian.AppendUint16(out, uint16(len(enc)))
	out = append(out, enc...)
	return append(out, ct...), nil
}

// OpenDeviceIntro opens a device introduction read at path, for the
// device me with HPKE private keys keys. isDevice answers, from the
// writer's verified record at the latest verified height, whether a key
// is one of that name's devices. It refuses at the first step that
// fails: an unknown version (ErrVersion) or a malformed envelope
// (ErrMalformed); one that does not open with these keys, for this name
// and device, at this path (ErrAuth); a malformed body (ErrMalformed);
// one for another name or device (ErrForged); a writer the name does not
// list (ErrNotADevice); a bad signature (ErrForged).
func OpenDeviceIntro(env []byte, path string, me Participant, keys []hpke.PrivateKey, isDevice func(name string, device bns.PublicKey) bool) (*DeviceIntro, error) {
	if len(env) < 5 {
		return nil, ErrMalformed
	}
	if env[0] != deviceIntroVersion {
		return nil, fmt.Errorf("%w: device introduction version %d", ErrVersion, env[0])
	}
	kemID := binary.BigEndian.Uint16(env[1:])
	n := int(binary.BigEndian.Uint16(env[3:]))
	if len(env) < 5+n {
		return nil, ErrMalformed
	}
	enc, ct := env[5:5+n], env[5+n:]
	var plain, pk []byte
	for _, k := range keys {
		if k.KEM().ID() != kemID {
			continue
		}
		r, err := hpke.NewRecipient(enc, k, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), deviceIntroInfo(me))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if plain, err = r.Open([]byte(path), ct); err != nil {
			return nil, fmt.Errorf("%w: the device introduction does not open for this device at this path", ErrAuth)
		}
		pk = k.PublicKey().Bytes()
		break
	}
	if plain == nil {
		return nil, fmt.Errorf("%w: no key of KEM 0x%04x", ErrMalformed, kemID)
	}
	in, err := parseDeviceIntro(plain)
	if err != nil {
		return nil, err
	}
	body, sig := plain[:len(plain)-ed25519.SignatureSize], plain[len(plain)-ed25519.SignatureSize:]
	switch {
	case in.To != me:
		return nil, fmt.Errorf("%w: the device introduction is for %s", ErrForged, in.To)
	case !isDevice(in.From.Name, in.From.Device):
		return nil, ErrNotADevice
	case !ed25519.Verify(in.From.Device[:], append(append([]byte(deviceSessionDomain), body...), pk...), sig):
		return nil, fmt.Errorf("%w: the device introduction's signature", ErrForged)
	}
	return in, nil
}

// parseDeviceIntro reads a device introduction's plaintext: its body and
// signature, nothing more.
func parseDeviceIntro(p []byte) (*DeviceIntro, error) {
	if len(p) < 1 {
		return nil, ErrMalformed
	}
	if p[0] != deviceIntroVersion {
		return nil, fmt.Errorf("%w: device introduction body version %d", ErrVersion, p[0])
	}
	in := new(DeviceIntro)
	var err error
	rest := p[1:]
	if in.From.Name, rest, err = readStr(rest); err != nil {
		return nil, err
	}
	if len(rest) < 32 {
		return nil, ErrMalformed
	}
	copy(in.From.Device[:], rest)
	if in.To.Name, rest, err = readStr(rest[32:]); err != nil {
		return nil, err
	}
	if len(rest) != 32+32+8+ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: a device introduction body of %d bytes", ErrMalformed, len(p))
	}
	copy(in.To.Device[:], rest)
	copy(in.MutualKey[:], rest[32:])
	in.Time = time.Unix(int64(binary.BigEndian.Uint64(rest[64:])), 0)
	return in, nil
}
