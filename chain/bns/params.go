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
	// must land at a height h with preorderHeight < h <= preorderHeight+PreorderTTL.
	// It is also the contest window: until that height, a register backed
	// by an earlier preorder of the same name displaces a later one.
	PreorderTTL int64 `json:"preorder_ttl"`
	// PowDifficulty is the number of leading zero bits a registration's
	// proof-of-work stamp must have (0 to 40).
	PowDifficulty uint8 `json:"pow_difficulty"`
	// NameLifetime is how many blocks a registration or renewal lasts.
	NameLifetime int64 `json:"name_lifetime"`
	// GracePeriod is how many blocks after expiry only the owner may renew;
	// after it the name is free for anyone to register.
	GracePeriod int64 `json:"grace_period"`
	// MaxTxBytes bounds an encoded transaction.
	MaxTxBytes int64 `json:"max_tx_bytes"`
	// MaxNamesPerOwner bounds how many names one owner key may hold.
	MaxNamesPerOwner int64 `json:"max_names_per_owner"`
}

// DefaultParams suit a network with one-second blocks: a preorder lives about
// an hour, a name a year, the grace period a month, and a registration stamp
// costs about a second of one core.
func DefaultParams() Params {
	return Params{
		PreorderTTL:      3600,
		PowDifficulty:    22,
		NameLifetime:     365 * 24 * 3600,
		GracePeriod:      30 * 24 * 3600,
		MaxTxBytes:       8192,
		MaxNamesPerOwner: 256,
	}
}

// LocalParams are for local testnets and tests: short lifetimes, a cheap stamp.
func LocalParams() Params {
	return Params{
		PreorderTTL:      100,
		PowDifficulty:    8,
		NameLifetime:     100000,
		GracePeriod:      1000,
		MaxTxBytes:       8192,
		MaxNamesPerOwner: 256,
	}
}

// ErrInvalidParams is wrapped by Params.Validate.
var ErrInvalidParams = errors.New("invalid params")

// Validate checks that every parameter is in range.
func (p Params) Validate() error {
	switch {
	case p.PreorderTTL < 1 || p.PreorderTTL > 1<<32:
		return fmt.Errorf("%w: preorder_ttl %d not in [1, 2^32]", ErrInvalidParams, p.PreorderTTL)
	case p.PowDifficulty > 40:
		return fmt.Errorf("%w: pow_difficulty %d above 40", ErrInvalidParams, p.PowDifficulty)
	case p.NameLifetime < 1 || p.NameLifetime > 1<<40:
		return fmt.Errorf("%w: name_lifetime %d not in [1, 2^40]", ErrInvalidParams, p.NameLifetime)
	case p.GracePeriod < 0 || p.GracePeriod > 1<<40:
		return fmt.Errorf("%w: grace_period %d not in [0, 2^40]", ErrInvalidParams, p.GracePeriod)
	case p.MaxTxBytes < 2048 || p.MaxTxBytes > 1<<20:
		return fmt.Errorf("%w: max_tx_bytes %d not in [2048, 2^20]", ErrInvalidParams, p.MaxTxBytes)
	case p.MaxNamesPerOwner < 1 || p.MaxNamesPerOwner > 4096:
		return fmt.Errorf("%w: max_names_per_owner %d not in [1, 4096]", ErrInvalidParams, p.MaxNamesPerOwner)
	}
	return nil
}

// ParseGenesisParams reads the app_state of genesis.json: a JSON object with
// every field of Params and no other. Empty input means DefaultParams.
func ParseGenesisParams(appState []byte) (Params, error) {
	if len(bytes.TrimSpace(appState)) == 0 {
		return DefaultParams(), nil
	}
	var p Params
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

const paramsVersion = 1

// Marshal returns the canonical binary form stored in the state.
func (p Params) Marshal() []byte {
	var e encoder
	e.u8(paramsVersion)
	e.i64(p.PreorderTTL)
	e.u8(p.PowDifficulty)
	e.i64(p.NameLifetime)
	e.i64(p.GracePeriod)
	e.i64(p.MaxTxBytes)
	e.i64(p.MaxNamesPerOwner)
	return e.b
}

// UnmarshalParams parses the canonical binary form and validates it.
func UnmarshalParams(b []byte) (Params, error) {
	d := decoder{b: b}
	if v := d.u8("params version"); d.err == nil && v != paramsVersion {
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
	if err := d.finish(); err != nil {
		return Params{}, err
	}
	return p, p.Validate()
}
