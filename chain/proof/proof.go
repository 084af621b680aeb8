// Package proof makes and checks the ICS23 proofs that the name chain's
// queries carry. The application turns an IAVL proof into a CometBFT
// ProofOp of type [OpType]; a client checks it against an app hash it
// trusts with [VerifyValue] or [VerifyAbsence]. It is pure: no network, no
// disk.
package proof

import (
	"bytes"
	"errors"
	"fmt"

	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	ics23 "github.com/cosmos/ics23/go"
)

// OpType names the one proof operator the chain uses: an ICS23 proof for
// the IAVL tree whose root is the app hash.
const OpType = "ics23:iavl"

// ErrInvalid is wrapped by every verification failure.
var ErrInvalid = errors.New("invalid proof")

// Op encodes an ICS23 commitment proof for key as a CometBFT ProofOps with
// one operation.
func Op(key []byte, p *ics23.CommitmentProof) (*cmtcrypto.ProofOps, error) {
	data, err := p.Marshal()
	if err != nil {
		return nil, fmt.Errorf("proof: marshal: %w", err)
	}
	return &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: OpType, Key: bytes.Clone(key), Data: data}}}, nil
}

// decode checks that ops is exactly one ICS23 operation for key.
func decode(ops *cmtcrypto.ProofOps, key []byte) (*ics23.CommitmentProof, error) {
	if ops == nil || len(ops.Ops) != 1 {
		return nil, fmt.Errorf("%w: want exactly one proof operation", ErrInvalid)
	}
	op := ops.Ops[0]
	if op.Type != OpType {
		return nil, fmt.Errorf("%w: operation type %q, want %q", ErrInvalid, op.Type, OpType)
	}
	if !bytes.Equal(op.Key, key) {
		return nil, fmt.Errorf("%w: proof is for key %x, asked for %x", ErrInvalid, op.Key, key)
	}
	var p ics23.CommitmentProof
	if err := p.Unmarshal(op.Data); err != nil {
		return nil, fmt.Errorf("%w: decode: %v", ErrInvalid, err)
	}
	return &p, nil
}

// VerifyValue checks that ops proves key holds value in the tree whose root
// is appHash.
func VerifyValue(ops *cmtcrypto.ProofOps, appHash, key, value []byte) error {
	p, err := decode(ops, key)
	if err != nil {
		return err
	}
	if p.GetExist() == nil {
		return fmt.Errorf("%w: not an existence proof", ErrInvalid)
	}
	if !ics23.VerifyMembership(ics23.IavlSpec, appHash, p, key, value) {
		return fmt.Errorf("%w: value of key %x does not match app hash %X", ErrInvalid, key, appHash)
	}
	return nil
}

// VerifyAbsence checks that ops proves key is absent from the tree whose
// root is appHash.
func VerifyAbsence(ops *cmtcrypto.ProofOps, appHash, key []byte) error {
	p, err := decode(ops, key)
	if err != nil {
		return err
	}
	if p.GetNonexist() == nil {
		return fmt.Errorf("%w: not an absence proof", ErrInvalid)
	}
	if !ics23.VerifyNonMembership(ics23.IavlSpec, appHash, p, key) {
		return fmt.Errorf("%w: absence of key %x does not match app hash %X", ErrInvalid, key, appHash)
	}
	return nil
}
