package bns

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	voied25519 "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// TxType says what a transaction does. Append only.
type TxType uint8

// Transaction types.
const (
	TxPreorder TxType = 1 // commit to a salted hash of a name and owner
	TxRegister TxType = 2 // reveal the name, publish a profile
	TxUpdate   TxType = 3 // replace the profile
	TxTransfer TxType = 4 // give the name to a new owner key
	TxRenew    TxType = 5 // extend the expiry
	TxRevoke   TxType = 6 // kill the name for good
	// Devices (application protocol 3, docs/devices.md).
	TxDeviceAdd    TxType = 7 // add the device of a link offer to a name
	TxDeviceRemove TxType = 8 // remove a device from a name
	TxLinkOffer    TxType = 9 // a new device offers to join a name
	// TxLinkOfferFor is a link offer bound to the name it is for: only a
	// device-add to that name takes it (link-code squatting).
	TxLinkOfferFor TxType = 10
)

var txTypeNames = map[TxType]string{
	TxPreorder: "preorder", TxRegister: "register", TxUpdate: "update",
	TxTransfer: "transfer", TxRenew: "renew", TxRevoke: "revoke",
	TxDeviceAdd: "device-add", TxDeviceRemove: "device-remove", TxLinkOffer: "link-offer",
	TxLinkOfferFor: "link-offer-for",
}

// IsDeviceTx reports whether t is one of the device transactions, which
// a chain accepts from its devices height on.
func (t TxType) IsDeviceTx() bool {
	return t == TxDeviceAdd || t == TxDeviceRemove || t == TxLinkOffer || t == TxLinkOfferFor
}

// IsOffer reports whether t is a link offer, bound to a name or not.
func (t TxType) IsOffer() bool { return t == TxLinkOffer || t == TxLinkOfferFor }

func (t TxType) String() string {
	if s, ok := txTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("tx(%d)", uint8(t))
}

// Tx is a signed transaction. Which body fields are used depends on Type:
//
//	preorder: Commitment, PowNonce (a stamp over the commitment)
//	register: Name, Salt, PreorderHeight, Profile, PowNonce (a stamp over the name)
//	update:   Name, Profile
//	transfer: Name, NewOwner
//	renew:    Name
//	revoke:   Name
//	device-add:    Name, Code (the link offer's)
//	device-remove: Name, DeviceKey
//	link-offer:    Offer (its SigningKey is the signer), PowNonce (a stamp over its code)
//	link-offer-for: Offer, Name (the only name that may add it), PowNonce
//
// Signer is the account key: the owner of the name (or, for preorder and
// register, its owner to be). Nonce must equal the account's next nonce.
// ExpiresAt is the last height at which the transaction may be included; a
// block refuses it above that height, and refuses an expiry more than
// max_tx_ttl blocks above its own height.
type Tx struct {
	Type      TxType
	Signer    PublicKey
	Nonce     uint64
	ExpiresAt int64

	Commitment [32]byte
	Name       string
	Salt       [32]byte
	// PreorderHeight is the height of the block that holds the register's
	// preorder (the client learns it when the preorder commits).
	PreorderHeight int64
	Profile        Profile
	PowNonce       uint64
	NewOwner       PublicKey
	Code           LinkCode
	DeviceKey      PublicKey
	Offer          Device

	Signature [ed25519.SignatureSize]byte
}

// txVersion is the transaction format: 2 carries an expiry height and a
// stamp on preorders. Version 1 (no expiry) is refused: a transaction
// without an expiry would stay valid for as long as its nonce is unused,
// which rules out pruning the nonces of idle accounts.
const txVersion = 2

// TxDomain is the first field of every transaction's sign bytes.
const TxDomain = "parley/bns/tx/v2"

// MaxChainIDLen bounds chain IDs (CometBFT's own limit).
const MaxChainIDLen = 50

// body appends the unsigned part of the transaction.
func (tx *Tx) body(e *encoder) {
	e.u8(txVersion)
	e.u8(uint8(tx.Type))
	e.raw(tx.Signer[:])
	e.u64(tx.Nonce)
	e.i64(tx.ExpiresAt)
	switch tx.Type {
	case TxPreorder:
		e.raw(tx.Commitment[:])
		e.u64(tx.PowNonce)
	case TxRegister:
		e.str(tx.Name)
		e.raw(tx.Salt[:])
		e.i64(tx.PreorderHeight)
		tx.Profile.encode(e)
		e.u64(tx.PowNonce)
	case TxUpdate:
		e.str(tx.Name)
		tx.Profile.encode(e)
	case TxTransfer:
		e.str(tx.Name)
		e.raw(tx.NewOwner[:])
	case TxRenew, TxRevoke:
		e.str(tx.Name)
	case TxDeviceAdd:
		e.str(tx.Name)
		e.raw(tx.Code[:])
	case TxDeviceRemove:
		e.str(tx.Name)
		e.raw(tx.DeviceKey[:])
	case TxLinkOffer:
		tx.Offer.encodeOffer(e)
		e.u64(tx.PowNonce)
	case TxLinkOfferFor:
		tx.Offer.encodeOffer(e)
		e.str(tx.Name)
		e.u64(tx.PowNonce)
	}
}

// Marshal returns the canonical encoding: the body, then the signature.
func (tx *Tx) Marshal() []byte {
	var e encoder
	tx.body(&e)
	e.raw(tx.Signature[:])
	return e.b
}

// SignBytes returns what the signer signs: TxDomain, the chain ID, then the
// transaction body, each length-prefixed.
func (tx *Tx) SignBytes(chainID string) []byte {
	var body encoder
	tx.body(&body)
	var e encoder
	e.str(TxDomain)
	e.str(chainID)
	e.raw(body.b)
	return e.b
}

// Sign sets Signer from priv and signs the transaction for chainID.
func (tx *Tx) Sign(chainID string, priv ed25519.PrivateKey) {
	tx.Signer = PublicKeyOf(priv)
	copy(tx.Signature[:], ed25519.Sign(priv, tx.SignBytes(chainID)))
}

// VerifySignature checks the signature for chainID, by the rules of Go's
// crypto/ed25519.Verify (see verifyEd25519).
func (tx *Tx) VerifySignature(chainID string) bool {
	return verifyEd25519(tx.Signer[:], tx.SignBytes(chainID), tx.Signature[:])
}

// voiStdLib are curve25519-voi's verification rules that match Go's
// crypto/ed25519: cofactorless, canonical S and R, any A on the curve
// (small order and non-canonical encodings included).
var voiStdLib = &voied25519.Options{Verify: voied25519.VerifyOptionsStdLib}

// verifyEd25519 answers as crypto/ed25519.Verify does, for every input
// (TestVerifyMatchesStdLib), with curve25519-voi's implementation, which
// CometBFT uses for its own signatures: it takes about 40% fewer
// instructions, and every validator verifies every transaction.
func verifyEd25519(pub, msg, sig []byte) bool {
	return voied25519.VerifyWithOptions(pub, msg, sig, voiStdLib)
}

// Hash is SHA-256 of the encoded transaction, as CometBFT computes it.
func (tx *Tx) Hash() [32]byte { return sha256.Sum256(tx.Marshal()) }

// DecodeTx parses a canonical transaction. It checks the encoding only; see
// ValidateBasic for the stateless rules and VerifySignature for the signature.
func DecodeTx(b []byte) (*Tx, error) {
	d := decoder{b: b}
	switch v := d.u8("tx version"); {
	case d.err != nil, v == txVersion:
	case v == 1:
		d.fail("tx version 1 is retired (no expiry height): sign version %d", txVersion)
	default:
		d.fail("tx version %d, want %d", v, txVersion)
	}
	tx := &Tx{Type: TxType(d.u8("tx type"))}
	d.fixed(tx.Signer[:], "signer")
	tx.Nonce = d.u64("nonce")
	tx.ExpiresAt = d.i64("expiry height")
	switch tx.Type {
	case TxPreorder:
		d.fixed(tx.Commitment[:], "commitment")
		tx.PowNonce = d.u64("pow nonce")
	case TxRegister:
		tx.Name = d.str("name", MaxNameLen)
		d.fixed(tx.Salt[:], "salt")
		tx.PreorderHeight = d.i64("preorder height")
		tx.Profile.decode(&d)
		tx.PowNonce = d.u64("pow nonce")
	case TxUpdate:
		tx.Name = d.str("name", MaxNameLen)
		tx.Profile.decode(&d)
	case TxTransfer:
		tx.Name = d.str("name", MaxNameLen)
		d.fixed(tx.NewOwner[:], "new owner")
	case TxRenew, TxRevoke:
		tx.Name = d.str("name", MaxNameLen)
	case TxDeviceAdd:
		tx.Name = d.str("name", MaxNameLen)
		d.fixed(tx.Code[:], "link code")
	case TxDeviceRemove:
		tx.Name = d.str("name", MaxNameLen)
		d.fixed(tx.DeviceKey[:], "device key")
	case TxLinkOffer:
		tx.Offer.decodeOffer(&d)
		tx.PowNonce = d.u64("pow nonce")
	case TxLinkOfferFor:
		tx.Offer.decodeOffer(&d)
		tx.Name = d.str("name", MaxNameLen)
		tx.PowNonce = d.u64("pow nonce")
	default:
		if d.err == nil {
			d.fail("unknown tx type %d", tx.Type)
		}
	}
	d.fixed(tx.Signature[:], "signature")
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("bns: tx: %w", err)
	}
	return tx, nil
}

// ValidateBasic applies the rules that need no state: an expiry height, a
// valid name, a valid profile, a new owner distinct from the signer. It
// returns a *CodeError.
func (tx *Tx) ValidateBasic() error {
	if tx.Signer.IsZero() {
		return Errorf(CodeUnauthorized, "no signer")
	}
	if tx.ExpiresAt < 1 {
		return Errorf(CodeMalformed, "no expiry height")
	}
	switch tx.Type {
	case TxPreorder:
		if tx.Commitment == [32]byte{} {
			return Errorf(CodeMalformed, "empty preorder commitment")
		}
		return nil
	case TxLinkOffer, TxLinkOfferFor:
		if err := tx.Offer.ValidateOffer(); err != nil {
			return Errorf(CodeInvalidProfile, "%v", err)
		}
		if tx.Offer.SigningKey != tx.Signer {
			return Errorf(CodeUnauthorized, "a link offer is signed by the key it offers (%s), not %s", tx.Offer.SigningKey, tx.Signer)
		}
		if tx.Type == TxLinkOffer {
			return nil
		}
	}
	if err := ValidateName(tx.Name); err != nil {
		return Errorf(CodeInvalidName, "%v", err)
	}
	switch tx.Type {
	case TxRegister, TxUpdate:
		if err := tx.Profile.Validate(); err != nil {
			return Errorf(CodeInvalidProfile, "%v", err)
		}
	case TxTransfer:
		if tx.NewOwner.IsZero() {
			return Errorf(CodeMalformed, "transfer to no owner")
		}
		if tx.NewOwner == tx.Signer {
			return Errorf(CodeMalformed, "transfer to the current owner")
		}
	case TxDeviceRemove:
		if tx.DeviceKey.IsZero() {
			return Errorf(CodeMalformed, "device-remove of no key")
		}
	}
	return nil
}

// PreorderDomain separates preorder commitments from every other hash.
const PreorderDomain = "parley/bns/preorder/v1"

// PreorderCommitment is SHA-256 over PreorderDomain, the chain ID, the name,
// the salt and the owner key. Published first, it hides the name until the
// register reveals name and salt; it binds the owner, so nobody else can use
// the reveal.
func PreorderCommitment(chainID, name string, salt [32]byte, owner PublicKey) [32]byte {
	var e encoder
	e.str(PreorderDomain)
	e.str(chainID)
	e.str(name)
	e.raw(salt[:])
	e.raw(owner[:])
	return sha256.Sum256(e.b)
}
