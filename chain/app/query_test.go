package app

import (
	"bytes"
	"context"
	"errors"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/proof"
)

func (c *chain) prove(path string, data []byte, height int64) *abci.ResponseQuery {
	c.t.Helper()
	res, err := c.app.Query(context.Background(), &abci.RequestQuery{Path: path, Data: data, Height: height, Prove: true})
	if err != nil || res.Code != 0 {
		c.t.Fatalf("query %s: %v %s", path, err, res.Log)
	}
	return res
}

func TestProofs(t *testing.T) {
	c := newChain(t, "")
	alice := newAccount("alice")
	c.claim(alice, "alice")
	root := c.hash()

	res := c.prove(bns.QueryName, []byte("alice"), 0)
	if res.Height != c.height || !bytes.Equal(res.Key, bns.RecordKey("alice")) {
		t.Fatalf("answer height %d key %q", res.Height, res.Key)
	}
	if err := proof.VerifyValue(res.ProofOps, root, res.Key, res.Value); err != nil {
		t.Fatalf("existence proof: %v", err)
	}

	// A tampered value, a proof for another key, a proof against another
	// root and corrupted proof bytes are all refused.
	bad := bytes.Clone(res.Value)
	bad[len(bad)-1] ^= 1
	if err := proof.VerifyValue(res.ProofOps, root, res.Key, bad); !errors.Is(err, proof.ErrInvalid) {
		t.Errorf("tampered value verified: %v, want proof.ErrInvalid", err)
	}
	if err := proof.VerifyValue(res.ProofOps, root, bns.RecordKey("alicf"), res.Value); !errors.Is(err, proof.ErrInvalid) {
		t.Errorf("proof verified for another key: %v, want proof.ErrInvalid", err)
	}
	other := bytes.Clone(root)
	other[0] ^= 1
	if err := proof.VerifyValue(res.ProofOps, other, res.Key, res.Value); !errors.Is(err, proof.ErrInvalid) {
		t.Errorf("proof verified against another root: %v, want proof.ErrInvalid", err)
	}
	corrupt := *res.ProofOps
	corrupt.Ops = []cmtProofOp{corrupt.Ops[0]}
	corrupt.Ops[0].Data = bytes.Clone(corrupt.Ops[0].Data)
	corrupt.Ops[0].Data[len(corrupt.Ops[0].Data)/2] ^= 0x40
	if err := proof.VerifyValue(&corrupt, root, res.Key, res.Value); !errors.Is(err, proof.ErrInvalid) {
		t.Errorf("corrupted proof verified: %v, want proof.ErrInvalid", err)
	}

	// A free name gets an absence proof, which cannot pass as existence.
	free := c.prove(bns.QueryName, []byte("bob"), 0)
	if free.Value != nil {
		t.Fatalf("free name has value %x", free.Value)
	}
	if err := proof.VerifyAbsence(free.ProofOps, root, bns.RecordKey("bob")); err != nil {
		t.Fatalf("absence proof: %v", err)
	}
	if err := proof.VerifyAbsence(free.ProofOps, other, bns.RecordKey("bob")); !errors.Is(err, proof.ErrInvalid) {
		t.Errorf("absence proof verified against another root: %v, want proof.ErrInvalid", err)
	}
	if err := proof.VerifyAbsence(res.ProofOps, root, bns.RecordKey("alice")); !errors.Is(err, proof.ErrInvalid) {
		t.Errorf("existence proof passed as absence: %v, want proof.ErrInvalid", err)
	}
	if err := proof.VerifyValue(free.ProofOps, root, bns.RecordKey("bob"), []byte{}); !errors.Is(err, proof.ErrInvalid) {
		t.Errorf("absence proof passed as existence: %v, want proof.ErrInvalid", err)
	}

	// Older heights stay provable against their own root.
	oldRoot := c.hash()
	oldHeight := c.height
	c.ok(alice.update("alice", testProfile("v2")))
	old := c.prove(bns.QueryName, []byte("alice"), oldHeight)
	if err := proof.VerifyValue(old.ProofOps, oldRoot, old.Key, old.Value); err != nil {
		t.Fatalf("old height: %v", err)
	}

	for _, q := range []struct {
		path string
		data []byte
		key  []byte
	}{
		{bns.QueryNonce, alice.pub[:], bns.AccountKey(alice.pub)},
		{bns.QueryOwner, alice.pub[:], bns.AccountKey(alice.pub)},
		{bns.QueryParams, nil, bns.ParamsKey},
	} {
		r := c.prove(q.path, q.data, 0)
		if err := proof.VerifyValue(r.ProofOps, c.hash(), q.key, r.Value); err != nil {
			t.Errorf("%s: %v", q.path, err)
		}
	}
	want := testParams
	want.DevicesHeight = 1 // a new chain takes devices from genesis on
	if p, err := bns.UnmarshalParams(c.prove(bns.QueryParams, nil, 0).Value); err != nil || p != want {
		t.Errorf("params = %+v, %v", p, err)
	}
}

func TestQueryRefusals(t *testing.T) {
	c := newChain(t, "")
	c.skip(2)
	for _, q := range []struct {
		req  abci.RequestQuery
		want bns.Code
	}{
		{abci.RequestQuery{Path: "/nope"}, bns.CodeUnknownQuery},
		{abci.RequestQuery{Path: bns.QueryName, Data: []byte("UPPER")}, bns.CodeInvalidName},
		{abci.RequestQuery{Path: bns.QueryNonce, Data: []byte{1, 2}}, bns.CodeBadQuery},
		{abci.RequestQuery{Path: bns.QueryName, Data: []byte("alice"), Height: 99}, bns.CodeBadQuery},
		{abci.RequestQuery{Path: bns.QueryName, Data: []byte("alice"), Height: -1}, bns.CodeBadQuery},
	} {
		res, _ := c.app.Query(context.Background(), &q.req)
		if bns.Code(res.Code) != q.want || res.Log == "" {
			t.Errorf("%s %q h=%d: code %s (%s), want %s", q.req.Path, q.req.Data, q.req.Height, bns.Code(res.Code), res.Log, q.want)
		}
	}
}

type cmtProofOp = cmtcrypto.ProofOp
