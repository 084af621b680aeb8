package bns

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Params are the chain's genesis parameters. They are fixed at genesis
// (the app_state of genesis.json) and stored in the state under [ParamsKey],
// so clients can read them with a proof.
type Params struct {
	// PreorderTTL is how many blocks a preorder stays usable: a register
	// must land at a height h with
	// preorderHeight+MinPreorderAge <= h <= preorderHeight+PreorderTTL.
	PreorderTTL int64 `json:"preorder_ttl"`
	// MinPreorderAge is how many blocks a preorder must be old before it
	// can be revealed (1 to PreorderTTL). A preorder made after seeing
	// someone's reveal cannot be revealed before that reveal commits,
	// unless the same few validators propose every block in between (see
	// docs/threat-model.md for the choice of the value).
	MinPreorderAge int64 `json:"min_preorder_age"`
	// PowDifficulty is the number of leading zero bits a registration's
	// proof-of-work stamp must have (0 to 40).
	PowDifficulty uint8 `json:"pow_difficulty"`
	// PreorderPowDifficulty is the same for a preorder's stamp (0 to 40).
	PreorderPowDifficulty uint8 `json:"preorder_pow_difficulty"`
	// MaxPreordersPerAccount bounds the live (unrevealed, unexpired)
	// preorders one key may hold (1 to 1024).
	MaxPreordersPerAccount int64 `json:"max_preorders_per_account"`
	// NameLifetime is how many blocks a registration or renewal lasts.
	NameLifetime int64 `json:"name_lifetime"`
	// GracePeriod is how many blocks after expiry only the owner may renew;
	// after it the name is free for anyone to register.
	GracePeriod int64 `json:"grace_period"`
	// MaxTxBytes bounds an encoded transaction.
	MaxTxBytes int64 `json:"max_tx_bytes"`
	// MaxNamesPerOwner bounds how many live (unexpired) names one owner
	// key may hold.
	MaxNamesPerOwner int64 `json:"max_names_per_owner"`
	// MaxTxTTL bounds a transaction's expiry height: a block at height h
	// refuses a transaction whose expiry is above h+MaxTxTTL (1 to 2^32).
	// It is also how long an idle account's nonce is kept (see
	// docs/protocol.md, "Pruning").
	MaxTxTTL int64 `json:"max_tx_ttl"`
	// MaxDevices bounds the devices a name lists, the first included (1
	// to MaxDevicesLimit). Optional in genesis (DefaultMaxDevices).
	MaxDevices int64 `json:"max_devices"`
	// DevicesHeight is the height from which the chain accepts device
	// transactions and writes records of version 3 (application protocol
	// 3); 0 until then. Not a genesis field: InitChain sets it to the
	// initial height, or a node's configured upgrade height sets it at
	// that height (docs/protocol.md, Devices).
	DevicesHeight int64 `json:"-"`
}

// DevicesAt reports whether the chain takes device transactions at
// height h.
func (p Params) DevicesAt(h int64) bool { return p.DevicesHeight > 0 && h >= p.DevicesHeight }

// DefaultParams suit a network with one-second blocks: a preorder lives about
// an hour and may be revealed after 20 seconds, a name lives a year, the
// grace period a month, a transaction may be signed for the next ten
// minutes, a registration stamp costs about a second of one core and a
// preorder stamp a quarter of that.
func DefaultParams() Params {
	return Params{
		PreorderTTL:            3600,
		MinPreorderAge:         20,
		PowDifficulty:          22,
		PreorderPowDifficulty:  20,
		MaxPreordersPerAccount: 4,
		NameLifetime:           365 * 24 * 3600,
		GracePeriod:            30 * 24 * 3600,
		MaxTxBytes:             8192,
		MaxNamesPerOwner:       256,
		MaxTxTTL:               600,
		MaxDevices:             DefaultMaxDevices,
	}
}

// LocalParams are for local testnets and tests: short lifetimes, cheap stamps.
func LocalParams() Params {
	return Params{
		PreorderTTL:            100,
		MinPreorderAge:         2,
		PowDifficulty:          8,
		PreorderPowDifficulty:  8,
		MaxPreordersPerAccount: 4,
		NameLifetime:           100000,
		GracePeriod:            1000,
		MaxTxBytes:             8192,
		MaxNamesPerOwner:       256,
		MaxTxTTL:               100,
		MaxDevices:             DefaultMaxDevices,
	}
}

// ErrInvalidParams is wrapped by Params.Validate.
var ErrInvalidParams = errors.New("invalid params")

// Validate checks that every parameter is in range.
func (p Params) Validate() error {
	switch {
	case p.PreorderTTL < 1 || p.PreorderTTL > 1<<32:
		return fmt.Errorf("%w: preorder_ttl %d not in [1, 2^32]", ErrInvalidParams, p.PreorderTTL)
	case p.MinPreorderAge < 1 || p.MinPreorderAge > p.PreorderTTL:
		return fmt.Errorf("%w: min_preorder_age %d not in [1, preorder_ttl]", ErrInvalidParams, p.MinPreorderAge)
	case p.PowDifficulty > 40:
		return fmt.Errorf("%w: pow_difficulty %d above 40", ErrInvalidParams, p.PowDifficulty)
	case p.PreorderPowDifficulty > 40:
		return fmt.Errorf("%w: preorder_pow_difficulty %d above 40", ErrInvalidParams, p.PreorderPowDifficulty)
	case p.MaxPreordersPerAccount < 1 || p.MaxPreordersPerAccount > 1024:
		return fmt.Errorf("%w: max_preorders_per_account %d not in [1, 1024]", ErrInvalidParams, p.MaxPreordersPerAccount)
	case p.NameLifetime < 1 || p.NameLifetime > 1<<40:
		return fmt.Errorf("%w: name_lifetime %d not in [1, 2^40]", ErrInvalidParams, p.NameLifetime)
	case p.GracePeriod < 0 || p.GracePeriod > 1<<40:
		return fmt.Errorf("%w: grace_period %d not in [0, 2^40]", ErrInvalidParams, p.GracePeriod)
	case p.MaxTxBytes < 2048 || p.MaxTxBytes > 1<<20:
		return fmt.Errorf("%w: max_tx_bytes %d not in [2048, 2^20]", ErrInvalidParams, p.MaxTxBytes)
	case p.MaxNamesPerOwner < 1 || p.MaxNamesPerOwner > 4096:
		return fmt.Errorf("%w: max_names_per_owner %d not in [1, 4096]", ErrInvalidParams, p.MaxNamesPerOwner)
	case p.MaxTxTTL < 1 || p.MaxTxTTL > 1<<32:
		return fmt.Errorf("%w: max_tx_ttl %d not in [1, 2^32]", ErrInvalidParams, p.MaxTxTTL)
	case p.MaxDevices < 1 || p.MaxDevices > MaxDevicesLimit:
		return fmt.Errorf("%w: max_devices %d not in [1, %d]", ErrInvalidParams, p.MaxDevices, MaxDevicesLimit)
	case p.DevicesHeight < 0:
		return fmt.Errorf("%w: devices height %d", ErrInvalidParams, p.DevicesHeight)
	}
	return nil
}

// ParseGenesisParams reads the app_state of genesis.json: a JSON object with
// every field of Params (max_devices may be left out: DefaultMaxDevices)
// and no other. Empty input means DefaultParams.
func ParseGenesisParams(appState []byte) (Params, error) {
	if len(bytes.TrimSpace(appState)) == 0 {
		return DefaultParams(), nil
	}
	p := Params{MaxDevices: DefaultMaxDevices}
	dec := json.NewDecoder(bytes.NewReader(appState))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Params{}, fmt.Errorf("%w: app_state: %v", ErrInvalidParams, err)
	}
	if dec.More() {
		return Params{}, fmt.Errorf("%w: app_state: trailing data", ErrInvalidParams)
	}
	return p, p.Validate()
}

// Params versions: 3 added max_devices and the devices height, written
// once the chain takes devices on; before that a chain's params are of
// version 2 (max_devices DefaultMaxDevices).
const (
	paramsVersion2 = 2
	paramsVersion  = 3
)

// Marshal returns the canonical binary form stored in the state: version
// 3, or version 2 while DevicesHeight is 0.
func (p Params) Marshal() []byte {
	var e encoder
	v := uint8(paramsVersion)
	if p.DevicesHeight == 0 {
		v = paramsVersion2
	}
	e.u8(v)
	e.i64(p.PreorderTTL)
	e.u8(p.PowDifficulty)
	e.i64(p.NameLifetime)
	e.i64(p.GracePeriod)
	e.i64(p.MaxTxBytes)
	e.i64(p.MaxNamesPerOwner)
	e.i64(p.MinPreorderAge)
	e.u8(p.PreorderPowDifficulty)
	e.i64(p.MaxPreordersPerAccount)
	e.i64(p.MaxTxTTL)
	if v == paramsVersion {
		e.i64(p.MaxDevices)
		e.i64(p.DevicesHeight)
	}
	return e.b
}

// UnmarshalParams parses the canonical binary form and validates it.
func UnmarshalParams(b []byte) (Params, error) {
	d := decoder{b: b}
	v := d.u8("params version")
	if d.err == nil && v != paramsVersion && v != paramsVersion2 {
		d.fail("params version %d", v)
	}
	p := Params{
		PreorderTTL:      d.i64("preorder_ttl"),
		PowDifficulty:    d.u8("pow_difficulty"),
		NameLifetime:     d.i64("name_lifetime"),
		GracePeriod:      d.i64("grace_period"),
		MaxTxBytes:       d.i64("max_tx_bytes"),
		MaxNamesPerOwner: d.i64("max_names_per_owner"),
	}
	p.MinPreorderAge = d.i64("min_preorder_age")
	p.PreorderPowDifficulty = d.u8("preorder_pow_difficulty")
	p.MaxPreordersPerAccount = d.i64("max_preorders_per_account")
	p.MaxTxTTL = d.i64("max_tx_ttl")
	p.MaxDevices = DefaultMaxDevices
	if v == paramsVersion {
		p.MaxDevices = d.i64("max_devices")
		p.DevicesHeight = d.i64("devices height")
		if d.err == nil && p.DevicesHeight == 0 {
			d.fail("params version 3 without a devices height")
		}
	}
	if err := d.finish(); err != nil {
		return Params{}, err
	}
	return p, p.Validate()
}
