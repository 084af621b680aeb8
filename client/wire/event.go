package wire

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/chain/bns"
)

// Event kinds: what a message blob carries. Every event travels in the
// same padded, ratcheted blob, so the hub cannot tell a reaction from a
// message from a file.
const (
	KindText    = "text"    // Text, optionally Ref (a reply) and File
	KindReact   = "react"   // Emoji on Ref ("" takes a reaction back)
	KindEdit    = "edit"    // Text replaces Ref's text
	KindDelete  = "delete"  // Ref is deleted for everyone
	KindTimer   = "timer"   // TTL: messages sent from now on disappear after it (0: off)
	KindProfile = "profile" // Key: the sender's current profile key
	KindGroup   = "group"   // Group: a roster and the sender's key for its epoch, or a leave
	// KindReceipts: Key is the path key under which the sender writes its
	// read receipt for this conversation from now on (ReceiptPath(Key)).
	// A client that blocks a contact rotates it, and gives the new one
	// only when it unblocks them.
	KindReceipts = "receipts"
	// KindRead (self sessions only): Conv and Upto say what the user read
	// on another of its devices (docs/protocol.md, Device-pair sessions).
	KindRead = "read"
	// KindContact (self sessions only): the user made or accepted the
	// conversation Conv on another of its devices; Key is the mutual key
	// of the request it came from (docs/protocol.md, Requests from any
	// device).
	KindContact = "contact"
	// KindSetting (self sessions only): a setting the user changed on
	// another of its devices; Set names it and On is its value
	// (docs/protocol.md, Device-pair sessions).
	KindSetting = "setting"
)

// Settings a KindSetting event carries (Event.Set).
const (
	SetBlock    = "block"    // Conv is the name; On: blocked, else unblocked
	SetReceipts = "receipts" // On: read receipts on, else off
	SetProfile  = "profile"  // Key: the key of the profile the writing device published
)

// MaxReadRefs bounds a read event's list.
const MaxReadRefs = 64

// EventVersion is the version of the event payload.
const EventVersion = 1

// Ref names a message of a conversation: its author and the author's
// sequence number in that conversation. The author is a valid name
// ([Ref.Check]); an event with any other reference is malformed.
type Ref struct {
	By  string `json:"by"`
	Seq uint64 `json:"seq"`
	// Dev is the author's device, 64 lowercase hex digits of its signing
	// key; "" is the author's first device (docs/protocol.md, Device-pair
	// sessions).
	Dev string `json:"dev,omitempty"`
}

func (r Ref) String() string { return fmt.Sprintf("%s/%d", r.By, r.Seq) }

// FileRef points at a file stored in chunks on the sender's hubs.
type FileRef struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 []byte `json:"sha256"`
	Key    []byte `json:"key"`    // 32 bytes: derives each chunk's key and path
	Chunks int    `json:"chunks"` // each ChunkSize bytes but the last
}

// Event is the plaintext of a message blob: a versioned JSON object.
type Event struct {
	V    int    `json:"v"`
	Kind string `json:"k"`
	Time int64  `json:"t"` // the sender's clock, Unix milliseconds
	Text string `json:"text,omitempty"`
	// N is a text message's number in references (author/N): the author
	// numbers its text messages in the conversation 1, 2, 3... (0: not
	// given, from older clients: the message is referred to by its
	// sequence number). Other events are not numbered, so references have
	// no gaps where reactions, edits or key updates went.
	N       uint64     `json:"n,omitempty"`
	Ref     *Ref       `json:"ref,omitempty"`
	Emoji   string     `json:"emoji,omitempty"`
	TTL     int64      `json:"ttl,omitempty"`     // KindTimer: seconds
	Expires int64      `json:"expires,omitempty"` // disappearing: Unix milliseconds
	File    *FileRef   `json:"file,omitempty"`
	Key     []byte     `json:"key,omitempty"` // KindProfile, KindReceipts, KindContact, KindSetting (SetProfile)
	Group   *GroupInfo `json:"group,omitempty"`
	// S is the event's number in its author device's stream of the
	// conversation (what a Ref names), in a device-pair session.
	S uint64 `json:"s,omitempty"`
	// Conv, in a self session, is the conversation the event belongs to:
	// the contact's name.
	Conv string `json:"c,omitempty"`
	// Upto (KindRead): every event of each author device below Seq is read.
	Upto []Ref `json:"upto,omitempty"`
	// G (KindRead in a group device link between two of the user's
	// devices) is the group the read event is of, in place of Conv.
	G string `json:"g,omitempty"`
	// Set and On (KindSetting): which setting, and its value.
	Set string `json:"set,omitempty"`
	On  bool   `json:"on,omitempty"`
}

// MarshalEvent encodes an event after checking it. Strings are not
// HTML-escaped ("<" stays one byte, not six), so text takes at most twice
// its size: quotes, backslashes, tabs and line breaks take two bytes.
func MarshalEvent(e *Event) ([]byte, error) {
	e.V = EventVersion
	if err := e.check(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// ErrUnsupported is wrapped when an authentic event is of a version or
// kind this client does not know: it is kept, not shown as text.
var ErrUnsupported = fmt.Errorf("wire: unsupported event")

// ParseEvent decodes and checks an event.
func ParseEvent(b []byte) (*Event, error) {
	var e Event
	if err := unmarshalStrict(b, &e); err != nil {
		return nil, fmt.Errorf("%w: event: %v", ErrMalformed, err)
	}
	if e.V != EventVersion {
		return &e, fmt.Errorf("%w: version %d", ErrUnsupported, e.V)
	}
	if err := e.check(); err != nil {
		return &e, err
	}
	return &e, nil
}

// MaxEmoji bounds a reaction, in bytes.
const MaxEmoji = 32

func (e *Event) check() error {
	if !utf8.ValidString(e.Text) {
		return fmt.Errorf("%w: text is not UTF-8", ErrMalformed)
	}
	needRef := false
	switch e.Kind {
	case KindText:
		if e.File != nil {
			if err := e.File.check(); err != nil {
				return err
			}
		}
	case KindReact:
		needRef = true
		if len(e.Emoji) > MaxEmoji || !utf8.ValidString(e.Emoji) {
			return fmt.Errorf("%w: reaction of %d bytes", ErrMalformed, len(e.Emoji))
		}
	case KindEdit, KindDelete:
		needRef = true
	case KindTimer:
		if e.TTL < 0 {
			return fmt.Errorf("%w: negative timer", ErrMalformed)
		}
	case KindGroup:
		if e.Group == nil {
			return fmt.Errorf("%w: group event without a group", ErrMalformed)
		}
		if err := e.Group.check(); err != nil {
			return err
		}
	case KindRead:
		if (e.Conv == "") == (e.G == "") || len(e.Upto) == 0 || len(e.Upto) > MaxReadRefs {
			return fmt.Errorf("%w: a read event needs a conversation or a group and 1 to %d references", ErrMalformed, MaxReadRefs)
		}
		if e.G != "" {
			if err := CheckGroupID(e.G); err != nil {
				return err
			}
		}
		for _, r := range e.Upto {
			if err := r.Check(); err != nil {
				return err
			}
		}
	case KindContact:
		if e.Conv == "" || len(e.Key) != 32 {
			return fmt.Errorf("%w: a contact event needs a conversation and a 32-byte key", ErrMalformed)
		}
	case KindSetting:
		switch e.Set {
		case SetBlock:
			if e.Conv == "" {
				return fmt.Errorf("%w: a block setting needs a name", ErrMalformed)
			}
		case SetReceipts:
			if e.Conv != "" {
				return fmt.Errorf("%w: a receipts setting names no conversation", ErrMalformed)
			}
		case SetProfile:
			if e.Conv != "" || len(e.Key) != 32 {
				return fmt.Errorf("%w: a profile setting names no conversation and carries a 32-byte key", ErrMalformed)
			}
		default:
			return fmt.Errorf("%w: setting %q", ErrUnsupported, e.Set)
		}
	case KindProfile, KindReceipts:
		if len(e.Key) != 32 {
			return fmt.Errorf("%w: %s key of %d bytes", ErrMalformed, e.Kind, len(e.Key))
		}
	default:
		return fmt.Errorf("%w: kind %q", ErrUnsupported, e.Kind)
	}
	if e.G != "" && e.Kind != KindRead {
		return fmt.Errorf("%w: a group reference on a %s event", ErrMalformed, e.Kind)
	}
	if e.Conv != "" {
		if err := bns.ValidateName(e.Conv); err != nil {
			return fmt.Errorf("%w: conversation %q: %v", ErrMalformed, e.Conv, err)
		}
	}
	if needRef && e.Ref == nil {
		return fmt.Errorf("%w: %s without a reference", ErrMalformed, e.Kind)
	}
	if e.Ref != nil {
		if err := e.Ref.Check(); err != nil {
			return err
		}
	}
	return nil
}

// Check accepts a reference only if its author is a valid name: what a
// reference holds is shown to the reader, so it can never carry more.
func (r Ref) Check() error {
	if err := bns.ValidateName(r.By); err != nil {
		return fmt.Errorf("%w: reference by %q: %v", ErrMalformed, r.By, err)
	}
	if r.Dev != "" {
		if b, err := hex.DecodeString(r.Dev); err != nil || len(b) != 32 || hex.EncodeToString(b) != r.Dev {
			return fmt.Errorf("%w: reference's device %q is not 64 lowercase hex digits", ErrMalformed, r.Dev)
		}
	}
	return nil
}

func (f *FileRef) check() error {
	if len(f.Key) != 32 || len(f.SHA256) != sha256.Size || f.Size < 0 || f.Chunks != ChunkCount(f.Size) {
		return fmt.Errorf("%w: file reference", ErrMalformed)
	}
	if err := CheckFileName(f.Name); err != nil {
		return err
	}
	return nil
}

// MaxFileName bounds a shared file's name, in bytes.
const MaxFileName = 255

// CheckFileName accepts a shared file's name only if it is a plain name a
// receiver can write in a directory of its choice: UTF-8, at most 255
// bytes, no path separator or control character, not hidden ("." first).
func CheckFileName(name string) error {
	if name == "" || len(name) > MaxFileName || !utf8.ValidString(name) || name[0] == '.' {
		return fmt.Errorf("%w: file name %q", ErrMalformed, name)
	}
	for _, r := range name {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: file name %q", ErrMalformed, name)
		}
	}
	return nil
}

// When returns the sender's clock.
func (e *Event) When() time.Time { return time.UnixMilli(e.Time) }

// Receipt is what the reader of a direction shares with its sender: how
// many messages it has fetched (delivered) and how many the user has seen.
type Receipt struct {
	Delivered, Read uint64
	// Skipped lists runs of the sender's messages the reader fetched but
	// never showed (they were sent while the reader blocked the sender):
	// neither delivered to a person nor read. Sorted, at most MaxSkipped.
	Skipped []Span `json:",omitempty"`
}

// Span is the run of message numbers [From, To).
type Span struct{ From, To uint64 }

// MaxSkipped bounds the runs a receipt lists.
const MaxSkipped = 32

// Skips reports whether message seq is in one of r's skipped runs.
func (r Receipt) Skips(seq uint64) bool {
	for _, s := range r.Skipped {
		if s.From <= seq && seq < s.To {
			return true
		}
	}
	return false
}

// SealReceipt encrypts a receipt under the header key, bound to its path:
// u8 2 ‖ nonce[24] ‖ XChaCha20-Poly1305(u64 delivered ‖ u64 read ‖
// (u64 from ‖ u64 to) for each skipped run, ad = path).
func SealReceipt(headerKey [32]byte, path string, r Receipt) []byte {
	p := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, r.Delivered), r.Read)
	for _, s := range r.Skipped {
		p = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(p, s.From), s.To)
	}
	return sealSmall(headerKey, receiptVersion, path, p)
}

const (
	receiptVersion = 2
	// indexVersion is the first byte of an index of the second format (1
	// was the first format's; 2 is a receipt's, so one never opens as the
	// other).
	indexVersion = 3
)

// OpenReceipt decrypts a receipt; one claiming more read than delivered,
// or skipped runs that are empty, unsorted, overlapping, too many or past
// what was delivered, is refused.
func OpenReceipt(headerKey [32]byte, path string, b []byte) (Receipt, error) {
	p, err := openSmall(headerKey, receiptVersion, path, b)
	if err != nil {
		return Receipt{}, err
	}
	if len(p) < 16 || len(p)%16 != 0 || len(p) > 16*(1+MaxSkipped) {
		return Receipt{}, fmt.Errorf("%w: receipt of %d bytes", ErrMalformed, len(p))
	}
	r := Receipt{Delivered: binary.BigEndian.Uint64(p), Read: binary.BigEndian.Uint64(p[8:])}
	if r.Read > r.Delivered {
		return Receipt{}, fmt.Errorf("%w: receipt reads %d of %d delivered", ErrMalformed, r.Read, r.Delivered)
	}
	var last uint64
	for p = p[16:]; len(p) > 0; p = p[16:] {
		s := Span{From: binary.BigEndian.Uint64(p), To: binary.BigEndian.Uint64(p[8:])}
		if s.From < last || s.From >= s.To || s.To > r.Delivered {
			return Receipt{}, fmt.Errorf("%w: receipt skips [%d, %d) after %d, of %d delivered", ErrMalformed, s.From, s.To, last, r.Delivered)
		}
		r.Skipped = append(r.Skipped, s)
		last = s.To
	}
	return r, nil
}

func sealSmall(key [32]byte, v byte, path string, plain []byte) []byte {
	aead, _ := chacha20poly1305.NewX(key[:])
	out := make([]byte, 1+chacha20poly1305.NonceSizeX)
	out[0] = v
	rand.Read(out[1:])
	return aead.Seal(out, out[1:], plain, []byte(path))
}

func openSmall(key [32]byte, v byte, path string, b []byte) ([]byte, error) {
	if len(b) < 1+chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, ErrMalformed
	}
	if b[0] != v {
		return nil, fmt.Errorf("%w %d, want %d", ErrVersion, b[0], v)
	}
	aead, _ := chacha20poly1305.NewX(key[:])
	p, err := aead.Open(nil, b[1:1+chacha20poly1305.NonceSizeX], b[1+chacha20poly1305.NonceSizeX:], []byte(path))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrForged, ErrAuth)
	}
	return p, nil
}

// Index is the thesis's "index of sent messages", kept by the sender on
// each of its hubs per conversation: how many messages the hub holds
// (0..Count-1), which of them the sender deleted, and which were written
// with a hub expiry (disappearing messages) and when they expire. A
// reader that finds message i < Count missing, and i neither deleted nor
// expired, knows the hub withholds it.
type Index struct {
	Count    uint64
	Deleted  []uint64 // sorted
	Expiring []Expiry // sorted by Seq; none of them deleted
}

// Expiry says that message Seq was written with a hub expiry: from At
// on, its hubs delete it.
type Expiry struct {
	Seq uint64
	At  time.Time // to the second
}

// ExpiryTolerance is how far before its expiry a reader takes a missing
// message as expired rather than withheld: clocks differ.
const ExpiryTolerance = time.Hour

// IsDeleted reports whether message i was deleted by its sender.
func (x *Index) IsDeleted(i uint64) bool {
	_, ok := slices.BinarySearch(x.Deleted, i)
	return ok
}

// IsExpired reports whether message i was written with a hub expiry that
// has passed at now (within ExpiryTolerance).
func (x *Index) IsExpired(i uint64, now time.Time) bool {
	j, ok := slices.BinarySearchFunc(x.Expiring, i, func(e Expiry, i uint64) int { return cmp.Compare(e.Seq, i) })
	return ok && !now.Add(ExpiryTolerance).Before(x.Expiring[j].At)
}

// IndexPath is where the sender of a direction keeps its index.
func IndexPath(pathKey [32]byte) string {
	m := hmac.New(sha256.New, pathKey[:])
	m.Write([]byte("parley/index/v1"))
	return "i/" + hex.EncodeToString(m.Sum(nil)[:16])
}

// SealIndex encrypts an index under the header key, bound to its path:
// u8 3 ‖ nonce[24] ‖ XChaCha20-Poly1305(u64 count ‖ u32 n ‖ n × u64
// deleted ‖ u32 m ‖ m × (u64 seq ‖ u64 expiry, Unix seconds), ad = path).
// The first format (u8 1) was the same without m and what follows.
func SealIndex(headerKey [32]byte, path string, x Index) []byte {
	return sealSmall(headerKey, indexVersion, path, indexPlain(x))
}

// indexPlain is the plaintext of an index.
func indexPlain(x Index) []byte {
	b := binary.BigEndian.AppendUint64(nil, x.Count)
	b = binary.BigEndian.AppendUint32(b, uint32(len(x.Deleted)))
	for _, d := range x.Deleted {
		b = binary.BigEndian.AppendUint64(b, d)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(x.Expiring)))
	for _, e := range x.Expiring {
		b = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(b, e.Seq), uint64(e.At.Unix()))
	}
	return b
}

// OpenIndex decrypts an index of either format. Deleted and expiring
// messages must be below the count, sorted, without repeats, and no
// message both.
func OpenIndex(headerKey [32]byte, path string, b []byte) (*Index, error) {
	v := byte(indexVersion)
	if len(b) > 0 && b[0] == 1 {
		v = 1
	}
	p, err := openSmall(headerKey, v, path, b)
	if err != nil {
		return nil, err
	}
	return parseIndex(v, p)
}

// parseIndex reads the plaintext of an index of format byte v.
func parseIndex(v byte, p []byte) (*Index, error) {
	if len(p) < 12 {
		return nil, ErrMalformed
	}
	x := &Index{Count: binary.BigEndian.Uint64(p)}
	n := uint64(binary.BigEndian.Uint32(p[8:]))
	p = p[12:]
	if uint64(len(p)) < 8*n {
		return nil, fmt.Errorf("%w: index", ErrMalformed)
	}
	for i := range n {
		d := binary.BigEndian.Uint64(p[8*i:])
		if d >= x.Count || (i > 0 && d <= x.Deleted[i-1]) {
			return nil, fmt.Errorf("%w: index lists %d", ErrMalformed, d)
		}
		x.Deleted = append(x.Deleted, d)
	}
	p = p[8*n:]
	if v == 1 {
		if len(p) != 0 {
			return nil, fmt.Errorf("%w: index", ErrMalformed)
		}
		return x, nil
	}
	if len(p) < 4 {
		return nil, fmt.Errorf("%w: index", ErrMalformed)
	}
	m := uint64(binary.BigEndian.Uint32(p))
	p = p[4:]
	if uint64(len(p)) != 16*m {
		return nil, fmt.Errorf("%w: index", ErrMalformed)
	}
	for i := range m {
		e := Expiry{Seq: binary.BigEndian.Uint64(p[16*i:]), At: time.Unix(int64(binary.BigEndian.Uint64(p[16*i+8:])), 0)}
		if e.Seq >= x.Count || (i > 0 && e.Seq <= x.Expiring[i-1].Seq) || x.IsDeleted(e.Seq) || binary.BigEndian.Uint64(p[16*i+8:]) >= 1<<62 {
			return nil, fmt.Errorf("%w: index lists %d as expiring", ErrMalformed, e.Seq)
		}
		x.Expiring = append(x.Expiring, e)
	}
	return x, nil
}

// Profile is what a user shows contacts only: sealed under a profile key
// that the user gives each contact inside their conversation.
type Profile struct {
	DisplayName string `json:"name,omitempty"`
	Status      string `json:"status,omitempty"`
	Avatar      []byte `json:"avatar,omitempty"` // a PNG, JPEG or GIF image: CheckAvatar
}

// Bounds of a profile.
const (
	MaxDisplayName = 64
	MaxStatus      = 256
	MaxAvatar      = 192 << 10
)

const profileVersion = 1

// ProfilePath is where the profile sealed under key lives on its owner's
// hubs: a new key moves it.
func ProfilePath(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("parley/profile/v1"))
	return "pr/" + hex.EncodeToString(m.Sum(nil)[:16])
}

func (p *Profile) check() error {
	if len(p.DisplayName) > MaxDisplayName || len(p.Status) > MaxStatus || len(p.Avatar) > MaxAvatar ||
		!utf8.ValidString(p.DisplayName) || !utf8.ValidString(p.Status) {
		return fmt.Errorf("%w: profile exceeds its bounds (name %d, status %d, avatar %d bytes; at most %d, %d, %d)",
			ErrMalformed, len(p.DisplayName), len(p.Status), len(p.Avatar), MaxDisplayName, MaxStatus, MaxAvatar)
	}
	if len(p.Avatar) > 0 {
		if _, _, _, err := CheckAvatar(p.Avatar); err != nil {
			return err
		}
	}
	return nil
}

// SealProfile encrypts a profile under key, bound to its path, padded to a
// multiple of 4 KiB so its size says little.
func SealProfile(key []byte, p Profile) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(p)
	n := len(b)
	b = append(binary.BigEndian.AppendUint32(nil, uint32(n)), b...)
	b = append(b, make([]byte, (4096-len(b)%4096)%4096)...)
	var k [32]byte
	copy(k[:], key)
	return sealSmall(k, profileVersion, ProfilePath(key), b), nil
}

// OpenProfile decrypts a profile.
func OpenProfile(key, blob []byte) (*Profile, error) {
	var k [32]byte
	copy(k[:], key)
	b, err := openSmall(k, profileVersion, ProfilePath(key), blob)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 || len(b)%4096 != 0 {
		return nil, fmt.Errorf("%w: profile of %d bytes", ErrMalformed, len(b))
	}
	n := int(binary.BigEndian.Uint32(b))
	if n > len(b)-4 || !bytes.Equal(b[4+n:], make([]byte, len(b)-4-n)) {
		return nil, fmt.Errorf("%w: profile padding", ErrMalformed)
	}
	var p Profile
	if err := unmarshalStrict(b[4:4+n], &p); err != nil {
		return nil, fmt.Errorf("%w: profile: %v", ErrMalformed, err)
	}
	return &p, p.check()
}
