package bns

import (
	"crypto/sha256"
	"fmt"
)

// Record is the state of one name, stored under [RecordKey].
type Record struct {
	Name    string
	Owner   PublicKey
	Profile Profile // empty after a transfer, until the new owner updates it
	// PreorderHeight and PreorderIndex locate the preorder the name was
	// registered with (block height, position in the block); informational.
	PreorderHeight int64
	PreorderIndex  int64
	RegisteredAt   int64 // height of the registering transaction
	ExpiresAt      int64 // last height at which the name is live
	UpdatedAt      int64 // height of the latest change
	Revoked        bool
	// Seq counts the history entries; HistoryHash chains them (see
	// [HistoryEntry.Chain]), so one proof of the record vouches for the
	// whole key history.
	Seq uint64
	// Op is what the latest change (history entry Seq) did. With the
	// fields above it makes that entry ([Record.Latest]), which is
	// therefore not stored apart.
	Op Op
	// Devices are the name's devices after the first (whose keys are the
	// profile's), in the order they were added (record version 3).
	Devices []Device
	// Signer is the key that signed the latest change: the owner, or a
	// listed device (record version 3; zero in a record of version 2,
	// written before the chain took devices on).
	Signer      PublicKey
	HistoryHash [32]byte
}

// Live reports whether the name resolves at height h: not expired, not
// revoked.
func (r *Record) Live(h int64) bool { return !r.Revoked && h <= r.ExpiresAt }

// InGrace reports whether, at height h, the name has expired but only its
// owner may still renew it.
func (r *Record) InGrace(h int64, p Params) bool {
	return h > r.ExpiresAt && h <= r.ExpiresAt+p.GracePeriod
}

// Latest returns the newest entry of the name's history, which the record
// holds: a change sets every field it records.
func (r *Record) Latest() *HistoryEntry {
	return &HistoryEntry{
		Seq: r.Seq, Height: r.UpdatedAt, Op: r.Op, Owner: r.Owner,
		Profile: r.Profile.Clone(), ExpiresAt: r.ExpiresAt, Revoked: r.Revoked,
		Devices: cloneDevices(r.Devices), Signer: r.Signer,
	}
}

// Record versions: 2 added Op (state layout 2), 3 the devices after the
// first and the signer of the latest change (application protocol 3). A
// chain holds versions 2 (names unchanged since it took devices on) and
// 3; version 1 (no op) is read only from what a client saved before
// ([UnmarshalSavedRecord]).
const (
	recordVersion1 = 1
	recordVersion2 = 2
	recordVersion  = 3
)

// version is the record's version: 1 without an Op, 2 without a Signer
// (neither can hold devices), 3 otherwise.
func (r *Record) version() uint8 {
	switch {
	case r.Op == 0:
		return recordVersion1
	case r.Signer.IsZero() && len(r.Devices) == 0:
		return recordVersion2
	}
	return recordVersion
}

// Marshal returns the canonical binary form: version 3, version 2 for a
// record without a Signer (written before the chain took devices on, and
// written back as it was), or version 1 for a record without an Op (one a
// client saved before state layout 2).
func (r *Record) Marshal() []byte {
	var e encoder
	v := r.version()
	e.u8(v)
	e.str(r.Name)
	e.raw(r.Owner[:])
	r.Profile.encode(&e)
	e.i64(r.PreorderHeight)
	e.i64(r.PreorderIndex)
	e.i64(r.RegisteredAt)
	e.i64(r.ExpiresAt)
	e.i64(r.UpdatedAt)
	e.boolean(r.Revoked)
	e.u64(r.Seq)
	if v >= recordVersion2 {
		e.u8(uint8(r.Op))
	}
	if v >= recordVersion {
		encodeDevices(&e, r.Devices)
		e.raw(r.Signer[:])
	}
	e.raw(r.HistoryHash[:])
	return e.b
}

// UnmarshalRecord parses the canonical binary form of version 3 or 2, the
// only ones in the chain's state and its proofs.
func UnmarshalRecord(b []byte) (*Record, error) { return unmarshalRecord(b, false) }

// UnmarshalSavedRecord parses a record a client saved: version 3 or 2, or
// version 1 (saved before state layout 2; its Op is 0, unknown). Never for
// the chain's state or an answer from a node.
func UnmarshalSavedRecord(b []byte) (*Record, error) { return unmarshalRecord(b, true) }

func unmarshalRecord(b []byte, v1 bool) (*Record, error) {
	d := decoder{b: b}
	v := d.u8("record version")
	if d.err == nil && v != recordVersion && v != recordVersion2 && !(v1 && v == recordVersion1) {
		d.fail("record version %d", v)
	}
	r := &Record{Name: d.str("name", MaxNameLen)}
	d.fixed(r.Owner[:], "owner")
	r.Profile.decode(&d)
	r.PreorderHeight = d.i64("preorder height")
	r.PreorderIndex = d.i64("preorder index")
	r.RegisteredAt = d.i64("registered at")
	r.ExpiresAt = d.i64("expires at")
	r.UpdatedAt = d.i64("updated at")
	r.Revoked = d.boolean("revoked")
	r.Seq = d.u64("seq")
	if v >= recordVersion2 {
		r.Op = Op(d.u8("op"))
		if _, ok := opNames[r.Op]; d.err == nil && (!ok || r.Op == 0) {
			d.fail("unknown op %d", r.Op)
		}
	}
	if v >= recordVersion {
		r.Devices = decodeDevices(&d)
		d.fixed(r.Signer[:], "signer")
		if d.err == nil && r.Signer.IsZero() {
			d.fail("record version 3 without a signer")
		}
	}
	d.fixed(r.HistoryHash[:], "history hash")
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("bns: record: %w", err)
	}
	return r, nil
}

// Op names what a history entry records.
type Op uint8

// History operations. Append only: the numbers are part of the state.
const (
	OpRegister Op = 1 // first registration, or re-registration after expiry
	OpUpdate   Op = 2 // new keys or hubs
	OpTransfer Op = 3 // new owner; keys cleared
	OpRenew    Op = 4 // new expiry
	OpRevoke   Op = 5 // permanently dead
	// OpDisplace: an earlier preorder took the name from a later one.
	// Chains of tx version 1 made it; a registration is final now, and no
	// entry of this op is made any more.
	OpDisplace     Op = 6
	OpDeviceAdd    Op = 7 // a device joined (application protocol 3)
	OpDeviceRemove Op = 8 // a device left
)

var opNames = map[Op]string{
	OpRegister: "register", OpUpdate: "update", OpTransfer: "transfer",
	OpRenew: "renew", OpRevoke: "revoke", OpDisplace: "displace",
	OpDeviceAdd: "device-add", OpDeviceRemove: "device-remove",
}

func (o Op) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// HistoryEntry is one change of a name: the record's owner, profile, expiry
// and revocation right after the change, and the height it happened at.
// Entries are stored under [HistoryKey]; they are the key-transparency log.
type HistoryEntry struct {
	Seq       uint64 // 1 for the first entry
	Height    int64
	Op        Op
	Owner     PublicKey
	Profile   Profile
	ExpiresAt int64
	Revoked   bool
	// Devices are the devices after the first, right after the change;
	// Signer the key that signed it (entry version 2; zero in an entry of
	// version 1, made before the chain took devices on).
	Devices []Device
	Signer  PublicKey
}

// History entry versions: 2 added the devices and the signer.
const (
	historyVersion1 = 1
	historyVersion  = 2
)

// HistoryDomain separates history hashes from every other hash.
const HistoryDomain = "parley/bns/history/v1"

// Marshal returns the canonical binary form.
func (h *HistoryEntry) Marshal() []byte {
	var e encoder
	v := uint8(historyVersion)
	if h.Signer.IsZero() && len(h.Devices) == 0 {
		v = historyVersion1
	}
	e.u8(v)
	e.u64(h.Seq)
	e.i64(h.Height)
	e.u8(uint8(h.Op))
	e.raw(h.Owner[:])
	h.Profile.encode(&e)
	e.i64(h.ExpiresAt)
	e.boolean(h.Revoked)
	if v == historyVersion {
		encodeDevices(&e, h.Devices)
		e.raw(h.Signer[:])
	}
	return e.b
}

// UnmarshalHistoryEntry parses the canonical binary form.
func UnmarshalHistoryEntry(b []byte) (*HistoryEntry, error) {
	d := decoder{b: b}
	h, err := decodeHistory(&d)
	if err == nil {
		err = d.finish()
	}
	if err != nil {
		return nil, fmt.Errorf("bns: history entry: %w", err)
	}
	return h, nil
}

func decodeHistory(d *decoder) (*HistoryEntry, error) {
	v := d.u8("history version")
	if d.err == nil && v != historyVersion && v != historyVersion1 {
		d.fail("history version %d", v)
	}
	h := &HistoryEntry{Seq: d.u64("seq"), Height: d.i64("height"), Op: Op(d.u8("op"))}
	if _, ok := opNames[h.Op]; d.err == nil && !ok {
		d.fail("unknown op %d", h.Op)
	}
	d.fixed(h.Owner[:], "owner")
	h.Profile.decode(d)
	h.ExpiresAt = d.i64("expires at")
	h.Revoked = d.boolean("revoked")
	if v == historyVersion {
		h.Devices = decodeDevices(d)
		d.fixed(h.Signer[:], "signer")
		if d.err == nil && h.Signer.IsZero() {
			d.fail("history entry version 2 without a signer")
		}
	}
	return h, d.err
}

// Chain returns the history hash after h, given the hash before it:
// SHA-256(HistoryDomain ‖ prev ‖ h.Marshal()). The first entry chains from
// the zero hash.
func (h *HistoryEntry) Chain(prev [32]byte) [32]byte {
	s := sha256.New()
	s.Write([]byte(HistoryDomain))
	s.Write(prev[:])
	s.Write(h.Marshal())
	var out [32]byte
	s.Sum(out[:0])
	return out
}

// VerifyHistory checks that entries are the complete history of rec: numbered
// 1..rec.Seq, for rec's name, and chaining to rec.HistoryHash.
func VerifyHistory(rec *Record, entries []*HistoryEntry) error {
	if uint64(len(entries)) != rec.Seq {
		return fmt.Errorf("bns: history of %q has %d entries, the record says %d", rec.Name, len(entries), rec.Seq)
	}
	var hash [32]byte
	for i, h := range entries {
		if h.Seq != uint64(i+1) {
			return fmt.Errorf("bns: history of %q: entry %d has seq %d", rec.Name, i+1, h.Seq)
		}
		hash = h.Chain(hash)
	}
	if hash != rec.HistoryHash {
		return fmt.Errorf("bns: history of %q does not match the record's history hash", rec.Name)
	}
	return nil
}

// MarshalHistory encodes a list of entries as a history query answer.
func MarshalHistory(entries []*HistoryEntry) []byte {
	var e encoder
	e.u64(uint64(len(entries)))
	for _, h := range entries {
		e.raw(h.Marshal())
	}
	return e.b
}

// UnmarshalHistory parses a history query answer.
func UnmarshalHistory(b []byte) ([]*HistoryEntry, error) {
	d := decoder{b: b}
	n := d.u64("history count")
	if n > uint64(len(b)) {
		return nil, fmt.Errorf("bns: history: %w: count %d", ErrMalformed, n)
	}
	var out []*HistoryEntry
	for i := uint64(0); i < n; i++ {
		h, err := decodeHistory(&d)
		if err != nil {
			return nil, fmt.Errorf("bns: history: %w", err)
		}
		out = append(out, h)
	}
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("bns: history: %w", err)
	}
	return out, nil
}

// Preorder is a pending commitment, stored under [PreorderKey] (which holds
// its height).
type Preorder struct {
	Owner  PublicKey
	Height int64 // from the key; not part of the stored value
	Index  int64 // position of the transaction in its block
}

// Marshal returns the canonical binary form of the stored value.
func (p *Preorder) Marshal() []byte {
	var e encoder
	e.raw(p.Owner[:])
	e.i64(p.Index)
	return e.b
}

// UnmarshalPreorder parses the stored value of a preorder made at height.
func UnmarshalPreorder(b []byte, height int64) (*Preorder, error) {
	d := decoder{b: b}
	p := &Preorder{Height: height}
	d.fixed(p.Owner[:], "owner")
	p.Index = d.i64("index")
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("bns: preorder: %w", err)
	}
	return p, nil
}

// Account is the chain's state of one key, stored under [AccountKey]:
// the next nonce, how many live preorders it holds, when to check whether
// it may be pruned, and the names it owns.
//
// An entry may be pruned (deleted, so the next nonce is 0 again) once
// every transaction the account had included has expired and it holds
// nothing: no live preorder and no name that is live or in its grace
// period. A transaction's expiry height is at most max_tx_ttl above the
// block that included it, so PruneAt, the height after the latest expiry
// of the account's transactions, is when that can first be true. A
// replayed transaction is then refused by its expiry, whatever its nonce.
type Account struct {
	Nonce     uint64 // the next nonce
	Preorders int64  // live preorders signed by the account
	PruneAt   int64  // the height its PruneKey is scheduled at (0: none)
	// Names are the names the key owns, sorted: those it holds, and
	// expired ones until its next registration or its pruning. At most
	// MaxNamesPerOwner of them are live; the expired ones are dropped at
	// each registration.
	Names []string
}

// accountVersion 2 added Names (state layout 2: the owner's list of names
// was an entry of its own).
const accountVersion = 2

// Marshal returns the canonical binary form.
func (a *Account) Marshal() []byte {
	var e encoder
	e.u8(accountVersion)
	e.u64(a.Nonce)
	e.i64(a.Preorders)
	e.i64(a.PruneAt)
	e.u16(uint16(len(a.Names)))
	for _, n := range a.Names {
		e.str(n)
	}
	return e.b
}

// UnmarshalAccount parses an account entry.
func UnmarshalAccount(b []byte) (*Account, error) {
	d := decoder{b: b}
	if v := d.u8("account version"); d.err == nil && v != accountVersion {
		d.fail("account version %d", v)
	}
	a := &Account{Nonce: d.u64("nonce"), Preorders: d.i64("preorders"), PruneAt: d.i64("prune at")}
	n := int(d.u16("name count"))
	for i := 0; i < n && d.err == nil; i++ {
		a.Names = append(a.Names, d.str("name", MaxNameLen))
	}
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("bns: account: %w", err)
	}
	return a, nil
}
