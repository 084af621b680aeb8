package app

import (
	"context"
	"fmt"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cosmos/iavl"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/proof"
)

// Query answers the paths documented in package bns (bns.QueryName and
// the rest). Height 0 means the latest committed height. With Prove, the
// answer carries an ICS23 proof of its state key (for a missing key, an
// absence proof) against the app hash of that height, which is in the
// header of the next block.
func (a *App) Query(_ context.Context, req *abci.RequestQuery) (*abci.ResponseQuery, error) {
	defer a.metrics.query(req.Path, req.Prove, time.Now())
	a.views.RLock()
	defer a.views.RUnlock()
	res, err := a.query(req)
	if err != nil {
		code, log := refusal(err)
		return &abci.ResponseQuery{Code: code, Codespace: bns.Codespace, Log: log, Height: req.Height}, nil
	}
	return res, nil
}

func (a *App) query(req *abci.RequestQuery) (*abci.ResponseQuery, error) {
	imm := a.committed.Load()
	if imm == nil {
		return nil, bns.Errorf(bns.CodeBadQuery, "no block committed yet")
	}
	latest := imm.Version()
	h := req.Height
	if h == 0 {
		h = latest
	}
	if h <= 0 || h > latest {
		return nil, bns.Errorf(bns.CodeBadQuery, "height %d not available (latest is %d)", req.Height, latest)
	}
	if h != latest {
		var err error
		if imm, err = a.reader.GetImmutable(h); err != nil {
			return nil, bns.Errorf(bns.CodeBadQuery, "height %d not available: %v", h, err)
		}
	}
	var key []byte
	switch req.Path {
	case bns.QueryName:
		name := string(req.Data)
		if err := bns.ValidateName(name); err != nil {
			return nil, bns.Errorf(bns.CodeInvalidName, "%v", err)
		}
		key = bns.RecordKey(name)
	case bns.QueryOwner, bns.QueryNonce:
		var k bns.PublicKey
		if len(req.Data) != len(k) {
			return nil, bns.Errorf(bns.CodeBadQuery, "%s wants a %d-byte key, got %d bytes", req.Path, len(k), len(req.Data))
		}
		copy(k[:], req.Data)
		key = bns.AccountKey(k)
	case bns.QueryParams:
		key = bns.ParamsKey
	case bns.QueryLink:
		var code bns.LinkCode
		if len(req.Data) != len(code) {
			return nil, bns.Errorf(bns.CodeBadQuery, "%s wants a %d-byte link code, got %d bytes", req.Path, len(code), len(req.Data))
		}
		copy(code[:], req.Data)
		key = bns.OfferKey(code)
	case bns.QueryHistory:
		return a.history(imm, string(req.Data))
	default:
		return nil, bns.Errorf(bns.CodeUnknownQuery, "unknown query path %q", req.Path)
	}
	value, err := imm.Get(key)
	if err != nil {
		return nil, fmt.Errorf("app: query %s: %w", req.Path, err)
	}
	res := &abci.ResponseQuery{Key: key, Value: value, Height: h}
	if value == nil {
		res.Log = "not found"
	}
	if req.Prove {
		p, err := imm.GetProof(key)
		if err != nil {
			return nil, fmt.Errorf("app: prove %x at %d: %w", key, h, err)
		}
		if res.ProofOps, err = proof.Op(key, p); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// history returns every history entry of a name, in order: the stored
// ones, then the record's own (bns.Record.Latest). The client checks them
// against the proven record's HistoryHash.
func (a *App) history(imm *iavl.ImmutableTree, name string) (*abci.ResponseQuery, error) {
	if err := bns.ValidateName(name); err != nil {
		return nil, bns.Errorf(bns.CodeInvalidName, "%v", err)
	}
	b, err := imm.Get(bns.RecordKey(name))
	if err != nil {
		return nil, fmt.Errorf("app: query history of %q: %w", name, err)
	}
	prefix := bns.HistoryPrefix(name)
	res := &abci.ResponseQuery{Key: prefix, Value: bns.MarshalHistory(nil), Height: imm.Version()}
	if b == nil {
		return res, nil
	}
	rec, err := bns.UnmarshalRecord(b)
	if err != nil {
		return nil, fmt.Errorf("app: stored record of %q: %w", name, err)
	}
	var entries []*bns.HistoryEntry
	var ierr error
	imm.IterateRange(prefix, prefixEnd(prefix), true, func(_, v []byte) bool {
		var e *bns.HistoryEntry
		if e, ierr = bns.UnmarshalHistoryEntry(v); ierr != nil {
			return true
		}
		entries = append(entries, e)
		return false
	})
	if ierr != nil {
		return nil, fmt.Errorf("app: stored history of %q: %w", name, ierr)
	}
	res.Value = bns.MarshalHistory(append(entries, rec.Latest()))
	return res, nil
}
