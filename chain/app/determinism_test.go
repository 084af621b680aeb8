package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/parley-im/parley/chain/bns"
)

// workload returns blocks exercising every transaction type, with many
// accounts in the same blocks (so map order would show if it leaked).
func workload() [][][]byte {
	var blocks [][][]byte
	accts := make([]*account, 12)
	for i := range accts {
		accts[i] = newAccount(fmt.Sprint("acct", i))
	}
	var pre, reg, upd [][]byte
	for i, a := range accts {
		name := fmt.Sprintf("name-%d", i)
		pre = append(pre, a.preorder(name))
		reg = append(reg, a.registerAt(name, 1))
		upd = append(upd, a.update(name, testProfile(fmt.Sprint("v2-", i))))
	}
	blocks = append(blocks, pre, nil, reg, upd) // the preorders at height 1 may be revealed at 3
	blocks = append(blocks, [][]byte{
		accts[0].transfer("name-0", accts[1]),
		accts[2].renew("name-2"),
		accts[3].revoke("name-3"),
		{0xde, 0xad}, // refused, recorded, no effect
	})
	blocks = append(blocks, nil, nil)
	return blocks
}

func TestDeterminism(t *testing.T) {
	a, b := newChain(t, ""), newChain(t, t.TempDir())
	for i, txs := range workload() {
		ca, cb := a.block(txs...), b.block(txs...)
		if fmt.Sprint(ca) != fmt.Sprint(cb) {
			t.Fatalf("block %d: codes differ: %v vs %v", i+1, ca, cb)
		}
		if ha, hb := a.hash(), b.hash(); !bytes.Equal(ha, hb) {
			t.Fatalf("block %d: app hashes differ: %X vs %X", i+1, ha, hb)
		}
	}
}

func TestRestartFromDisk(t *testing.T) {
	dir := t.TempDir()
	c := newChain(t, dir)
	blocks := workload()
	for _, txs := range blocks[:4] {
		c.block(txs...)
	}
	height, hash := c.height, c.hash()
	if err := c.app.Close(); err != nil {
		t.Fatal(err)
	}

	c2 := newChain(t, dir) // reopens: no InitChain
	info, _ := c2.app.Info(context.Background(), &abci.RequestInfo{})
	if info.LastBlockHeight != height || !bytes.Equal(info.LastBlockAppHash, hash) {
		t.Fatalf("after restart Info = %d %X, want %d %X", info.LastBlockHeight, info.LastBlockAppHash, height, hash)
	}
	want := testParams
	want.DevicesHeight = 1 // a new chain takes devices from genesis on
	if c2.app.Params() != want {
		t.Fatalf("params after restart = %+v", c2.app.Params())
	}
	// It continues exactly as an instance that never stopped.
	ref := newChain(t, "")
	for _, txs := range blocks[:4] {
		ref.block(txs...)
	}
	for _, txs := range blocks[4:] {
		c2.block(txs...)
		ref.block(txs...)
		if !bytes.Equal(c2.hash(), ref.hash()) {
			t.Fatalf("height %d: restarted %X, reference %X", c2.height, c2.hash(), ref.hash())
		}
	}
	if r := c2.record("name-0"); r == nil || r.Owner != newAccount("acct1").pub {
		t.Fatalf("record after restart: %+v", r)
	}
}

// TestBlockWithoutCommitIsReplayed: a crash after FinalizeBlock but before
// Commit loses the staged block; Info reports the previous height, so
// CometBFT replays it and the result is the same.
func TestBlockWithoutCommitIsReplayed(t *testing.T) {
	dir := t.TempDir()
	c := newChain(t, dir)
	blocks := workload()
	c.block(blocks[0]...)
	want := newChain(t, "")
	want.block(blocks[0]...)
	want.block(blocks[1]...)

	if _, err := c.app.FinalizeBlock(context.Background(), &abci.RequestFinalizeBlock{Height: 2, Txs: blocks[1]}); err != nil {
		t.Fatal(err)
	}
	c.app.Close() // crash before Commit
	c2 := newChain(t, dir)
	if c2.height != 1 {
		t.Fatalf("height after crash = %d, want 1", c2.height)
	}
	c2.block(blocks[1]...)
	if !bytes.Equal(c2.hash(), want.hash()) {
		t.Fatal("replayed block gives a different app hash")
	}
}

func TestFinalizeWrongHeight(t *testing.T) {
	c := newChain(t, "")
	_, err := c.app.FinalizeBlock(context.Background(), &abci.RequestFinalizeBlock{Height: 5})
	if err == nil || !strings.Contains(err.Error(), "FinalizeBlock at height 5, state expects 1") {
		t.Fatalf("FinalizeBlock at a wrong height: %v, want it refused naming both heights", err)
	}
}

func TestGenesisRefusesBadParams(t *testing.T) {
	a, err := New(Config{ChainID: testChain})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, state := range []string{`{"preorder_ttl":0}`, `{"bogus":1}`, `[]`} {
		if _, err := a.InitChain(context.Background(), &abci.RequestInitChain{ChainId: testChain, AppStateBytes: []byte(state)}); !errors.Is(err, bns.ErrInvalidParams) {
			t.Errorf("InitChain with app_state %s: %v, want bns.ErrInvalidParams", state, err)
		}
	}
	if _, err := a.InitChain(context.Background(), &abci.RequestInitChain{ChainId: "other", AppStateBytes: mustJSON(testParams)}); err == nil {
		t.Error("InitChain accepted a foreign chain ID")
	} else if !strings.Contains(err.Error(), `genesis chain ID "other", configured "`+testChain+`"`) {
		t.Errorf("InitChain with a foreign chain ID: %v, want it refused naming both", err)
	}
}

// TestConnectionsRunConcurrently drives the mempool and query connections
// while blocks execute, as CometBFT does; run with -race.
func TestConnectionsRunConcurrently(t *testing.T) {
	c := newChain(t, t.TempDir())
	c.app.cfg.KeepRecent = 2 // prune while queries read
	holder := newAccount("holder")
	c.claim(holder, "held") // existing keys for CheckTx to read
	done := make(chan struct{})
	errs := make(chan error, 2)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				errs <- nil
				return
			default:
			}
			a := newAccount(fmt.Sprint("concurrent", i))
			if res, _ := c.app.CheckTx(context.Background(), &abci.RequestCheckTx{Tx: a.preorder("x")}); res.Code != 0 {
				errs <- fmt.Errorf("CheckTx: %s", res.Log)
				return
			}
			// A stranger's update reads the existing record and is refused.
			if res, _ := c.app.CheckTx(context.Background(), &abci.RequestCheckTx{Tx: newAccount(fmt.Sprint("stranger", i)).update("held", testProfile("x"))}); bns.Code(res.Code) != bns.CodeUnauthorized {
				errs <- fmt.Errorf("CheckTx of a stranger's update: %s %s", bns.Code(res.Code), res.Log)
				return
			}
		}
	}()
	go func() {
		for {
			select {
			case <-done:
				errs <- nil
				return
			default:
			}
			res, _ := c.app.Query(context.Background(), &abci.RequestQuery{Path: bns.QueryParams, Prove: true})
			if res.Code != 0 {
				errs <- fmt.Errorf("Query: %s", res.Log)
				return
			}
		}
	}()
	for i := 0; i < 300; i++ {
		c.ok(newAccount(fmt.Sprint("owner", i)).preorder(fmt.Sprint("n", i)))
	}
	close(done)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
