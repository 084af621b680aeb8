package wire

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/ratchet"
)

// Errors. Each refusal is one of the classes of docs/protocol.md
// (Conventions): ErrVersion and ErrMalformed, ErrHeader, ErrAuth (and the
// ratchet's ErrAuth for a message body), ErrForged (a signature), and
// ratchet.ErrReplay.
var (
	ErrMalformed = errors.New("wire: malformed")
	ErrForged    = errors.New("wire: signature does not verify")
	// ErrVersion: an unknown version byte; it wraps ErrMalformed.
	ErrVersion = fmt.Errorf("%w: unknown version", ErrMalformed)
	// ErrAuth: a sealed part does not authenticate (altered, another key,
	// or moved to another path). Errors that wrap it also wrap ErrForged,
	// or ErrMalformed for a handshake envelope.
	ErrAuth = errors.New("wire: does not authenticate")
	// ErrHeader: a message blob's sealed header does not open; errors that
	// wrap it also wrap ratchet.ErrAuth.
	ErrHeader = errors.New("wire: message header does not open")
)

const (
	handshakeDomain = "parley/handshake/v1"
	version         = 1
	// introVersion is the handshake body's version: 2 carries a greeting;
	// 1 (without) is still opened.
	introVersion = 2
)

// MaxGreeting bounds the greeting a handshake carries, in bytes; the field
// is always padded to it, so the envelope's size does not tell the hub
// how long the greeting is.
const MaxGreeting = 512

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func readStr(b []byte) (string, []byte, error) {
	if len(b) < 2 {
		return "", nil, ErrMalformed
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return "", nil, ErrMalformed
	}
	return string(b[2 : 2+n]), b[2+n:], nil
}

// Intro is the content of a handshake.
type Intro struct {
	From, To  string
	MutualKey [32]byte
	Time      time.Time
	// Greeting is what the recipient is shown before it answers: the first
	// message, or its beginning (at most MaxGreeting bytes of UTF-8; see
	// GreetingPreview). "" in a version 1 handshake.
	Greeting string
}

// GreetingPreview is the greeting a handshake carries for text: all of
// it if it fits in MaxGreeting bytes, else its beginning, cut between
// characters, and "…".
func GreetingPreview(text string) string {
	if len(text) <= MaxGreeting {
		return text
	}
	const more = "…"
	cut := MaxGreeting - len(more)
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + more
}

// sealingKey picks the recipient's strongest encryption key.
func sealingKey(rec *bns.Record) (hpke.PublicKey, error) {
	return strongest(rec.Name, rec.Profile.EncKeys)
}

// strongest is the last of a device's encryption keys (increasing KEM
// order: the hybrid key last).
func strongest(name string, keys []bns.EncKey) (hpke.PublicKey, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("wire: a device of %s publishes no encryption key", name)
	}
	k := keys[len(keys)-1]
	kem, err := hpke.NewKEM(k.KEM)
	if err != nil {
		return nil, err
	}
	return kem.NewPublicKey(k.Key)
}

func handshakeInfo(to string) []byte { return appendStr([]byte(handshakeDomain), to) }

// SealIntro makes a handshake envelope from the sender (its on-chain
// signing key) to the recipient's verified record.
func SealIntro(signer ed25519.PrivateKey, in Intro, to *bns.Record) ([]byte, error) {
	pk, err := sealingKey(to)
	if err != nil {
		return nil, err
	}
	return sealIntro(signer, in, pk)
}

// SealRequestToDevice makes the same request envelope sealed to another
// device of the recipient's (its encryption keys as the recipient's
// record lists them), for that device's inbox: it opens there as any
// request does (docs/protocol.md, Requests from any device).
func SealRequestToDevice(signer ed25519.PrivateKey, in Intro, keys []bns.EncKey) ([]byte, error) {
	pk, err := strongest(in.To, keys)
	if err != nil {
		return nil, err
	}
	return sealIntro(signer, in, pk)
}

func sealIntro(signer ed25519.PrivateKey, in Intro, pk hpke.PublicKey) ([]byte, error) {
	body, err := introBody(in)
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(signer, signedBytes(body, pk.Bytes()))
	body = append(body, sig...)
	enc, sender, err := hpke.NewSender(pk, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), handshakeInfo(in.To))
	if err != nil {
		return nil, err
	}
	ct, err := sender.Seal(nil, body)
	if err != nil {
		return nil, err
	}
	out := []byte{version}
	out = binary.BigEndian.AppendUint16(out, pk.KEM().ID())
	out = binary.BigEndian.AppendUint16(out, uint16(len(enc)))
	out = append(out, enc...)
	return append(out, ct...), nil
}

// introBody is the handshake's body without its signature.
func introBody(in Intro) ([]byte, error) {
	if len(in.Greeting) > MaxGreeting || !utf8.ValidString(in.Greeting) {
		return nil, fmt.Errorf("%w: greeting of %d bytes (at most %d of UTF-8)", ErrMalformed, len(in.Greeting), MaxGreeting)
	}
	body := []byte{introVersion}
	body = appendStr(body, in.From)
	body = appendStr(body, in.To)
	body = append(body, in.MutualKey[:]...)
	body = binary.BigEndian.AppendUint64(body, uint64(in.Time.Unix()))
	body = appendStr(body, in.Greeting)
	return append(body, make([]byte, MaxGreeting-len(in.Greeting))...), nil
}

func signedBytes(body, sealingKey []byte) []byte {
	b := append([]byte(handshakeDomain), body...)
	return append(b, sealingKey...)
}

// OpenIntro opens an envelope addressed to name with the recipient's HPKE
// private keys, then checks its signature with the signing key that
// senderRecord (looked up, with a proof, by the caller from the From name)
// publishes for its first device. It returns the intro; OpenRequest is the
// same for a contact request, which any listed device may sign.
func OpenIntro(env []byte, name string, keys []hpke.PrivateKey, senderRecord func(from string) (*bns.Record, error)) (*Intro, error) {
	in, signer, rec, err := OpenRequest(env, name, keys, senderRecord)
	if err != nil {
		return nil, err
	}
	if signer != rec.Profile.SigningKey {
		return nil, fmt.Errorf("%w: not signed by %s's first device", ErrForged, in.From)
	}
	return in, nil
}

// OpenRequest opens a contact request as OpenIntro does, except that the
// signature may be any device's that the sender's record lists
// (docs/protocol.md, Requests from any device): it returns the intro, the
// signing device's key (the record's first device's, or another's it
// lists) and the sender's record. A request the first device signed
// starts a name session; one another device signed, a conversation on
// device-pair sessions only. A signature by no listed device wraps
// ErrForged.
func OpenRequest(env []byte, name string, keys []hpke.PrivateKey, senderRecord func(from string) (*bns.Record, error)) (*Intro, bns.PublicKey, *bns.Record, error) {
	var none bns.PublicKey
	body, sealing, err := open(env, name, keys)
	if err != nil {
		return nil, none, nil, err
	}
	if len(body) < 1+ed25519.SignatureSize {
		return nil, none, nil, ErrMalformed
	}
	if body[0] != 1 && body[0] != introVersion {
		return nil, none, nil, fmt.Errorf("%w: handshake body version %d", ErrVersion, body[0])
	}
	signed, sig := body[:len(body)-ed25519.SignatureSize], body[len(body)-ed25519.SignatureSize:]
	in, err := parseIntro(signed)
	if err != nil {
		return nil, none, nil, err
	}
	if in.To != name {
		return nil, none, nil, fmt.Errorf("%w: intro is for %q, not %q", ErrForged, in.To, name)
	}
	rec, err := senderRecord(in.From)
	if err != nil {
		return nil, none, nil, fmt.Errorf("wire: sender %q: %w", in.From, err)
	}
	msg := signedBytes(signed, sealing)
	for _, d := range rec.AllDevices() { // the first device first; a record lists a bounded number
		if ed25519.Verify(d.SigningKey[:], msg, sig) {
			return in, d.SigningKey, rec, nil
		}
	}
	return nil, none, nil, fmt.Errorf("%w: not signed by a device of %s's on the chain", ErrForged, in.From)
}

func open(env []byte, to string, keys []hpke.PrivateKey) (body, sealing []byte, err error) {
	if len(env) < 5 {
		return nil, nil, ErrMalformed
	}
	if env[0] != version {
		return nil, nil, fmt.Errorf("%w: envelope version %d", ErrVersion, env[0])
	}
	kemID := binary.BigEndian.Uint16(env[1:])
	n := int(binary.BigEndian.Uint16(env[3:]))
	if len(env) < 5+n {
		return nil, nil, ErrMalformed
	}
	enc, ct := env[5:5+n], env[5+n:]
	for _, k := range keys {
		if k.KEM().ID() != kemID {
			continue
		}
		r, err := hpke.NewRecipient(enc, k, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), handshakeInfo(to))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		body, err := r.Open(nil, ct)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: cannot open envelope: %w", ErrMalformed, ErrAuth)
		}
		return body, k.PublicKey().Bytes(), nil
	}
	return nil, nil, fmt.Errorf("%w: no key of KEM 0x%04x", ErrMalformed, kemID)
}

func parseIntro(b []byte) (*Intro, error) {
	if len(b) < 1 || (b[0] != 1 && b[0] != introVersion) {
		return nil, fmt.Errorf("%w: handshake version", ErrMalformed)
	}
	in := new(Intro)
	var err error
	rest := b[1:]
	if in.From, rest, err = readStr(rest); err != nil {
		return nil, err
	}
	if in.To, rest, err = readStr(rest); err != nil {
		return nil, err
	}
	if len(rest) < 32+8 {
		return nil, ErrMalformed
	}
	copy(in.MutualKey[:], rest)
	in.Time = time.Unix(int64(binary.BigEndian.Uint64(rest[32:])), 0)
	rest = rest[32+8:]
	if b[0] == 1 {
		if len(rest) != 0 {
			return nil, ErrMalformed
		}
		return in, nil
	}
	if in.Greeting, rest, err = readStr(rest); err != nil {
		return nil, err
	}
	if len(in.Greeting) > MaxGreeting || !utf8.ValidString(in.Greeting) || len(rest) != MaxGreeting-len(in.Greeting) || slices.ContainsFunc(rest, func(b byte) bool { return b != 0 }) {
		return nil, fmt.Errorf("%w: greeting", ErrMalformed)
	}
	return in, nil
}

// PairSecret is X25519 between one side's private key and the other's
// published key: both sides compute the same value, nobody else can.
func PairSecret(mine *ecdh.PrivateKey, theirs []byte) ([32]byte, error) {
	var out [32]byte
	pub, err := ecdh.X25519().NewPublicKey(theirs)
	if err != nil {
		return out, err
	}
	s, err := mine.ECDH(pub)
	if err != nil {
		return out, err
	}
	copy(out[:], s)
	return out, nil
}

// IntroPath is where the writer's introduction to the reader lives on the
// writer's hub (case 1: both already know each other's names).
func IntroPath(pair [32]byte, writer, reader string) string {
	names := []string{writer, reader}
	sort.Strings(names)
	k, _ := hkdf.Key(sha256.New, pair[:], []byte("parley/v1"), "parley/intro-path/v1|"+names[0]+"|"+names[1]+"|from|"+writer, 16)
	return "p/" + hex.EncodeToString(k)
}

// LinkIntroPath is where the writer's introduction of a group link to the
// reader lives on the writer's hub: as IntroPath, under the label
// "parley/link-path/v1", so a link and a contact never share an
// introduction.
func LinkIntroPath(pair [32]byte, writer, reader string) string {
	names := []string{writer, reader}
	sort.Strings(names)
	k, _ := hkdf.Key(sha256.New, pair[:], []byte("parley/v1"), "parley/link-path/v1|"+names[0]+"|"+names[1]+"|from|"+writer, 16)
	return "p/" + hex.EncodeToString(k)
}

// LinkKey is the key a group link's conversation runs on, from the mutual
// key K of its introduction: HKDF-SHA256(K, salt "parley/v1", info
// "parley/link/v1", 32). A link's secrets (ratchet, paths, header key)
// therefore never equal those of a contact's conversation, even if a hub
// served one's introduction in place of the other's.
func LinkKey(mutual [32]byte) (k [32]byte) {
	b, _ := hkdf.Key(sha256.New, mutual[:], []byte("parley/v1"), "parley/link/v1", 32)
	copy(k[:], b)
	return k
}

// Keys are a conversation's secrets, derived from the mutual key.
type Keys struct {
	Header  [32]byte // encrypts ratchet headers
	SendKey [32]byte // names my messages on my hub
	RecvKey [32]byte // names theirs on their hub
}

// ConversationKeys derives the secrets of the conversation between me and
// them from the mutual key.
func ConversationKeys(mutual [32]byte, me, them string) Keys {
	derive := func(label string) (k [32]byte) {
		b, _ := hkdf.Key(sha256.New, mutual[:], []byte("parley/v1"), label, 32)
		copy(k[:], b)
		return
	}
	names := []string{me, them}
	sort.Strings(names)
	pair := names[0] + "|" + names[1]
	return Keys{
		Header:  derive("header|" + pair),
		SendKey: derive("path|" + pair + "|from|" + me),
		RecvKey: derive("path|" + pair + "|from|" + them),
	}
}

// MessagePath is where message i of a direction lives.
func MessagePath(pathKey [32]byte, i uint64) string {
	m := hmac.New(sha256.New, pathKey[:])
	binary.Write(m, binary.BigEndian, i)
	return "m/" + hex.EncodeToString(m.Sum(nil)[:16])
}

// Buckets are the blob sizes: a blob is the smallest bucket that fits.
var Buckets = []int{1024, 4096, 16384, 65536, 262144}

// Message blob versions: 2 carries a version 2 ratchet header (with the
// post-quantum step); 1, the previous client's, a version 1 header. Blobs
// of both versions open; only version 2 is made.
const (
	blobV1 = 1
	blobV2 = 2
)

const tagLen = 32 // the ratchet's HMAC-SHA256

// blobHead is the length of a blob's version, nonce and sealed header.
func blobHead(version byte) int {
	h := ratchet.HeaderLen
	if version == blobV1 {
		h = ratchet.HeaderLenV1
	}
	return 1 + chacha20poly1305.NonceSizeX + h + chacha20poly1305.Overhead
}

// layout returns, for a blob version and bucket size, the ratchet's CBC
// output length (the largest multiple of 16 that fits) and the ratchet
// plaintext length (one less, so PKCS#7 adds exactly one byte): the KEM
// fields if any, then the padded plaintext. The rest of the bucket is zeros.
func layout(version byte, size int) (cbcLen, plainLen int) {
	cbcLen = (size - blobHead(version) - tagLen) / 16 * 16
	return cbcLen, cbcLen - 1
}

// MaxText is the largest plaintext a blob can carry, whatever KEM fields
// its message carries.
func MaxText() int {
	_, p := layout(blobV2, Buckets[len(Buckets)-1])
	return p - 4 - ratchet.EKLen - ratchet.CTLen
}

// SealMessage encrypts text with the sender's ratchet and header key into a
// padded version 2 blob. ad binds the blob to its conversation and
// position.
func SealMessage(r *ratchet.State, headerKey [32]byte, text, ad []byte, random io.Reader) ([]byte, error) {
	if random == nil {
		random = rand.Reader
	}
	if len(text) > MaxText() {
		return nil, fmt.Errorf("wire: message of %d bytes, at most %d", len(text), MaxText())
	}
	fields := r.Overhead()
	size := -1
	for _, b := range Buckets {
		if _, p := layout(blobV2, b); fields+4+len(text) <= p {
			size = b
			break
		}
	}
	_, plainLen := layout(blobV2, size)
	plain := make([]byte, plainLen-fields)
	binary.BigEndian.PutUint32(plain, uint32(len(text)))
	copy(plain[4:], text)
	h, ct, err := r.Encrypt(plain, ad)
	if err != nil {
		return nil, err
	}
	aead, _ := chacha20poly1305.NewX(headerKey[:])
	out := make([]byte, 1+chacha20poly1305.NonceSizeX, size)
	out[0] = blobV2
	if _, err := io.ReadFull(random, out[1:]); err != nil {
		return nil, err
	}
	out = aead.Seal(out, out[1:], h.Marshal(), ad)
	out = append(out, ct...)
	return out[:size], nil // zero fill to the bucket
}

// OpenMessage decrypts a blob (version 2, or 1 from before the
// post-quantum step) with the receiver's ratchet; on failure the ratchet
// is unchanged. A blob of no bucket size or an unknown version wraps
// ErrMalformed; one whose header or body does not authenticate
// ratchet.ErrAuth; a bad header or KEM field ratchet.ErrMalformed or
// ratchet.ErrVersion.
func OpenMessage(r *ratchet.State, headerKey [32]byte, blob, ad []byte) ([]byte, error) {
	valid := false
	for _, b := range Buckets {
		valid = valid || len(blob) == b
	}
	if !valid {
		return nil, fmt.Errorf("%w: blob of %d bytes", ErrMalformed, len(blob))
	}
	version := blob[0]
	if version != blobV1 && version != blobV2 {
		return nil, fmt.Errorf("%w: blob version %d", ErrVersion, version)
	}
	head := blobHead(version)
	aead, _ := chacha20poly1305.NewX(headerKey[:])
	nonce := blob[1 : 1+chacha20poly1305.NonceSizeX]
	hb, err := aead.Open(nil, nonce, blob[1+chacha20poly1305.NonceSizeX:head], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHeader, ratchet.ErrAuth)
	}
	h, err := ratchet.ParseHeader(hb)
	if err != nil {
		return nil, err
	}
	cbcLen, _ := layout(version, len(blob))
	end := head + cbcLen + tagLen
	if !bytes.Equal(blob[end:], make([]byte, len(blob)-end)) {
		return nil, fmt.Errorf("%w: fill is not zero", ErrMalformed)
	}
	plain, err := r.Decrypt(h, blob[head:end], ad)
	if err != nil {
		return nil, err
	}
	fields := kemFields(h.Flags)
	if _, p := layout(version, len(blob)); len(plain)+fields != p {
		return nil, fmt.Errorf("%w: a plaintext of %d bytes in a blob of %d", ErrMalformed, len(plain)+fields, len(blob))
	}
	n := int(binary.BigEndian.Uint32(plain))
	if n > len(plain)-4 || !bytes.Equal(plain[4+n:], make([]byte, len(plain)-4-n)) {
		return nil, fmt.Errorf("%w: bad padding", ErrMalformed)
	}
	if i := slices.Index(Buckets, len(blob)); i > 0 {
		if _, p := layout(version, Buckets[i-1]); fields+4+n <= p {
			return nil, fmt.Errorf("%w: a message of %d bytes in a blob of %d, not the smallest", ErrMalformed, n, len(blob))
		}
	}
	return plain[4 : 4+n], nil
}

// kemFields is the length of the KEM fields a header's flags announce.
func kemFields(flags uint8) int {
	n := 0
	if flags&ratchet.FlagEK != 0 {
		n += ratchet.EKLen
	}
	if flags&ratchet.FlagCT != 0 {
		n += ratchet.CTLen
	}
	return n
}

// ReceiptPath is where the reader of a direction keeps its read receipt,
// on the reader's own hub: derived from that direction's path key, so the
// sender (SendKey) and the reader (RecvKey) compute the same path.
func ReceiptPath(pathKey [32]byte) string {
	m := hmac.New(sha256.New, pathKey[:])
	m.Write([]byte("parley/receipt/v1"))
	return "r/" + hex.EncodeToString(m.Sum(nil)[:16])
}
