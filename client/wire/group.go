package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/chain/bns"
)

// Groups: each member writes its group messages to its own hubs, sealed
// under its sender key for the group's current epoch, and signed with an
// Ed25519 key of its own for that epoch (a sender key is shared with every
// member, so only the signature says who wrote). The signing key's public
// half travels with the sender key over the pairwise conversations, whose
// messages are deniable, so a member can tell who wrote a group message
// but cannot prove it to anyone else (Signal's sender keys do the same). A sender key is a random seed; from
// it derive the path key, the index key and a chain: CK_0 = HKDF(seed,
// "chain"), MK_i = HMAC(CK_i, 0x01), CK_i+1 = HMAC(CK_i, 0x02). A reader
// keeps only the chain key of the next message, so a key stolen later
// does not open earlier messages. Every roster change starts a new epoch
// with new sender keys, given to the members over the pairwise ratcheted
// conversations (KindGroup events): a removed member gets none.
//
// blob: u8 1 ‖ nonce[24] ‖ XChaCha20-Poly1305(MK_i, u32 len ‖ event ‖ zeros,
// ad) ‖ Ed25519 signature over ad ‖ nonce ‖ ciphertext, where ad =
// "parley/group/v1" ‖ str(group) ‖ u64 epoch ‖ u64 i ‖ str(path); padded
// so the blob is one of Buckets.

// GroupInfo is what a KindGroup event carries: the roster as its sender
// knows it and the sender's key for the epoch.
type GroupInfo struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Creator string   `json:"creator"`
	Members []string `json:"members"`
	Epoch   uint64   `json:"epoch"`
	Seed    []byte   `json:"seed,omitempty"` // 32 bytes: the sender's key for Epoch (none: the roster only)
	From    uint64   `json:"from"`           // the sender's first message under it
	Sign    []byte   `json:"sign,omitempty"` // 32 bytes: the Ed25519 key the sender signs its messages under Seed with
	Leave   bool     `json:"leave,omitempty"`
	// Sent, with Leave: how many messages the leaver wrote to the group.
	Sent uint64 `json:"sent,omitempty"`
	// Final: the members who left in this epoch and how many messages each
	// wrote, so the others still read what they wrote before leaving.
	Final map[string]uint64 `json:"final,omitempty"`
}

// Bounds of a group.
const (
	MaxGroupMembers = 256
	MaxGroupName    = 64
)

// CheckGroupID accepts a group ID only in its one form: 32 lowercase hex
// digits (16 random bytes), which is all a client shows of it.
func CheckGroupID(id string) error {
	if len(id) != 32 {
		return fmt.Errorf("%w: group ID %q", ErrMalformed, id)
	}
	for _, c := range []byte(id) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%w: group ID %q", ErrMalformed, id)
		}
	}
	return nil
}

func (g *GroupInfo) check() error {
	if err := CheckGroupID(g.ID); err != nil {
		return err
	}
	if len(g.Name) > MaxGroupName || len(g.Members) > MaxGroupMembers || len(g.Members) == 0 || g.Creator == "" {
		return fmt.Errorf("%w: group description", ErrMalformed)
	}
	for _, n := range append([]string{g.Creator}, g.Members...) {
		if err := bns.ValidateName(n); err != nil {
			return fmt.Errorf("%w: group member %q", ErrMalformed, n)
		}
	}
	if len(g.Final) > MaxGroupMembers {
		return fmt.Errorf("%w: %d members leaving", ErrMalformed, len(g.Final))
	}
	for n := range g.Final {
		if err := bns.ValidateName(n); err != nil {
			return fmt.Errorf("%w: group member leaving %q", ErrMalformed, n)
		}
	}
	if len(g.Seed) != 0 && len(g.Seed) != 32 {
		return fmt.Errorf("%w: group sender key of %d bytes", ErrMalformed, len(g.Seed))
	}
	if len(g.Sign) != 0 && (len(g.Sign) != ed25519.PublicKeySize || len(g.Seed) == 0) {
		return fmt.Errorf("%w: group signing key of %d bytes", ErrMalformed, len(g.Sign))
	}
	return nil
}

func groupDerive(seed []byte, label string) (k [32]byte) {
	b, _ := hkdf.Key(sha256.New, seed, []byte("parley/group/v1"), label, 32)
	copy(k[:], b)
	return
}

// GroupChainStart is CK_0 of a sender key.
func GroupChainStart(seed []byte) [32]byte { return groupDerive(seed, "chain") }

// GroupChainStep returns CK_i+1 and MK_i from CK_i.
func GroupChainStep(ck [32]byte) (next, mk [32]byte) {
	m := hmac.New(sha256.New, ck[:])
	m.Write([]byte{1})
	copy(mk[:], m.Sum(nil))
	m = hmac.New(sha256.New, ck[:])
	m.Write([]byte{2})
	copy(next[:], m.Sum(nil))
	return
}

// GroupPath is where message i under a sender key lives.
func GroupPath(seed []byte, i uint64) string {
	k := groupDerive(seed, "path")
	m := hmac.New(sha256.New, k[:])
	binary.Write(m, binary.BigEndian, i)
	return "g/" + hex.EncodeToString(m.Sum(nil)[:16])
}

// GroupIndexPath and GroupIndexKey place and seal a member's index.
func GroupIndexPath(seed []byte) string {
	k := groupDerive(seed, "index-path")
	return "gi/" + hex.EncodeToString(k[:16])
}

// GroupIndexKey seals a member's index.
func GroupIndexKey(seed []byte) [32]byte { return groupDerive(seed, "index") }

const groupOverhead = 1 + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead + ed25519.SignatureSize

func groupAD(group string, epoch, i uint64, path string) []byte {
	ad := appendStr([]byte("parley/group/v1"), group)
	ad = binary.BigEndian.AppendUint64(ad, epoch)
	ad = binary.BigEndian.AppendUint64(ad, i)
	return appendStr(ad, path)
}

// SealGroupMessage seals and signs message i of a member.
func SealGroupMessage(mk [32]byte, signer ed25519.PrivateKey, group string, epoch, i uint64, path string, event []byte) ([]byte, error) {
	size := -1
	for _, b := range Buckets {
		if 4+len(event)+groupOverhead <= b {
			size = b
			break
		}
	}
	if size < 0 {
		return nil, fmt.Errorf("wire: group message of %d bytes, at most %d", len(event), Buckets[len(Buckets)-1]-groupOverhead-4)
	}
	plain := make([]byte, size-groupOverhead)
	binary.BigEndian.PutUint32(plain, uint32(len(event)))
	copy(plain[4:], event)
	ad := groupAD(group, epoch, i, path)
	out := make([]byte, 1+chacha20poly1305.NonceSizeX, size)
	out[0] = version
	rand.Read(out[1:])
	aead, _ := chacha20poly1305.NewX(mk[:])
	out = aead.Seal(out, out[1:], plain, ad)
	return append(out, ed25519.Sign(signer, append(ad, out[1:]...))...), nil
}

// OpenGroupMessage checks the author's signature and opens message i.
func OpenGroupMessage(mk [32]byte, author ed25519.PublicKey, group string, epoch, i uint64, path string, blob []byte) ([]byte, error) {
	valid := false
	for _, b := range Buckets {
		valid = valid || len(blob) == b
	}
	if !valid {
		return nil, fmt.Errorf("%w: group blob of %d bytes", ErrMalformed, len(blob))
	}
	if blob[0] != version {
		return nil, fmt.Errorf("%w: group blob version %d", ErrVersion, blob[0])
	}
	ad := groupAD(group, epoch, i, path)
	body, sig := blob[1:len(blob)-ed25519.SignatureSize], blob[len(blob)-ed25519.SignatureSize:]
	if !ed25519.Verify(author, append(ad, body...), sig) {
		return nil, fmt.Errorf("%w: group message not signed by its author", ErrForged)
	}
	aead, _ := chacha20poly1305.NewX(mk[:])
	plain, err := aead.Open(nil, body[:chacha20poly1305.NonceSizeX], body[chacha20poly1305.NonceSizeX:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: group message does not open: %w", ErrForged, ErrAuth)
	}
	n := int(binary.BigEndian.Uint32(plain))
	if n > len(plain)-4 || !bytes.Equal(plain[4+n:], make([]byte, len(plain)-4-n)) {
		return nil, fmt.Errorf("%w: bad padding", ErrMalformed)
	}
	if i := slices.Index(Buckets, len(blob)); i > 0 && 4+n+groupOverhead <= Buckets[i-1] {
		return nil, fmt.Errorf("%w: a group message of %d bytes in a blob of %d, not the smallest", ErrMalformed, n, len(blob))
	}
	return plain[4 : 4+n], nil
}

// GroupReceiptPath is where a member keeps its receipt for a group, under
// its current sender key: only members can find and open it.
func GroupReceiptPath(seed []byte) string {
	k := groupDerive(seed, "receipt-path")
	return "gr/" + hex.EncodeToString(k[:16])
}

// GroupReceipts is a member's receipt in a group: per other member, how
// many of that member's messages it fetched and how many its user saw.
type GroupReceipts map[string]Receipt

const groupReceiptVersion = 1

// SealGroupReceipts seals a member's receipts under its sender key.
func SealGroupReceipts(seed []byte, r GroupReceipts) []byte {
	b, _ := json.Marshal(r)
	return sealSmall(groupDerive(seed, "receipt"), groupReceiptVersion, GroupReceiptPath(seed), b)
}

// OpenGroupReceipts opens a member's receipts.
func OpenGroupReceipts(seed, blob []byte) (GroupReceipts, error) {
	b, err := openSmall(groupDerive(seed, "receipt"), groupReceiptVersion, GroupReceiptPath(seed), blob)
	if err != nil {
		return nil, err
	}
	var r GroupReceipts
	if err := unmarshalStrict(b, &r); err != nil {
		return nil, fmt.Errorf("%w: group receipts: %v", ErrMalformed, err)
	}
	for m, x := range r {
		if x.Read > x.Delivered {
			return nil, fmt.Errorf("%w: receipt reads %d of %d delivered for %s", ErrMalformed, x.Read, x.Delivered, m)
		}
	}
	return r, nil
}
