// Package chainload puts a registration load on a name chain, for tests
// and benchmarks: accounts with their stamps solved in advance, their
// preorder and register transactions, bulk submission to several nodes,
// and the heights and codes the chain gave them (read from the blocks, so
// it works with the transaction indexer off).
//
// It talks to nodes over their CometBFT RPC only and never verifies what
// they answer: it is for measuring and loading a chain, not for reading
// it as a client (chain/lookup does that).
package chainload

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/cometbft/cometbft/types"

	"github.com/parley-im/parley/chain/bns"
)

// Account is one would-be name holder: a key of its own (derived from the
// name), a salt and the proof-of-work stamps of its preorder and register.
type Account struct {
	Name    string
	Priv    ed25519.PrivateKey
	Owner   bns.PublicKey
	Salt    [32]byte
	Profile bns.Profile

	preStamp, regStamp uint64
}

// Accounts makes n accounts named prefix0 .. prefix<n-1> for chainID,
// solving their stamps at the difficulties of p.
func Accounts(ctx context.Context, chainID, prefix string, n int, p bns.Params) ([]*Account, error) {
	out := make([]*Account, n)
	for i := range out {
		a, err := NewAccount(ctx, chainID, fmt.Sprintf("%s%d", prefix, i), p)
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// NewAccount makes the account of name (its key derived from the name).
func NewAccount(ctx context.Context, chainID, name string, p bns.Params) (*Account, error) {
	seed := sha256.Sum256([]byte("chainload " + name))
	a := &Account{Name: name, Priv: ed25519.NewKeyFromSeed(seed[:])}
	a.Owner = bns.PublicKeyOf(a.Priv)
	a.Salt = sha256.Sum256(append(seed[:], 's'))
	ek, err := hpke.DHKEM(ecdh.X25519()).DeriveKeyPair(seed[:])
	if err != nil {
		return nil, err
	}
	a.Profile = bns.Profile{SigningKey: a.Owner, EncKeys: []bns.EncKey{{KEM: bns.KEMX25519, Key: ek.PublicKey().Bytes()}}, Hubs: []string{"http://127.0.0.1:4000"}}
	commitment := bns.PreorderCommitment(chainID, name, a.Salt, a.Owner)
	if a.preStamp, err = bns.SolvePreorderPow(ctx, chainID, commitment, a.Owner, p.PreorderPowDifficulty); err != nil {
		return nil, err
	}
	if a.regStamp, err = bns.SolvePow(ctx, chainID, name, a.Owner, p.PowDifficulty); err != nil {
		return nil, err
	}
	return a, nil
}

// Preorder is the account's preorder (nonce 0), valid up to height expiry.
func (a *Account) Preorder(chainID string, expiry int64) []byte {
	tx := &bns.Tx{Type: bns.TxPreorder, Nonce: 0, ExpiresAt: expiry, Commitment: bns.PreorderCommitment(chainID, a.Name, a.Salt, a.Owner), PowNonce: a.preStamp}
	tx.Sign(chainID, a.Priv)
	return tx.Marshal()
}

// Register is the account's register (nonce 1) of the preorder committed
// at preorderHeight, valid up to height expiry.
func (a *Account) Register(chainID string, preorderHeight, expiry int64) []byte {
	tx := &bns.Tx{Type: bns.TxRegister, Nonce: 1, ExpiresAt: expiry, Name: a.Name, Salt: a.Salt,
		PreorderHeight: preorderHeight, Profile: a.Profile, PowNonce: a.regStamp}
	tx.Sign(chainID, a.Priv)
	return tx.Marshal()
}

// Nodes are RPC clients of several nodes.
type Nodes []*rpchttp.HTTP

// Dial makes the RPC clients of the nodes at urls.
func Dial(urls ...string) (Nodes, error) {
	var out Nodes
	for _, u := range urls {
		c, err := rpchttp.NewWithTimeout(u, "/websocket", 15)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// ErrRefused is wrapped by Submit when a node's mempool refuses a
// transaction (CheckTx answered a non-zero code).
var ErrRefused = errors.New("chainload: transaction refused")

// Submit sends txs with broadcast_tx_sync round-robin to the nodes from
// workers goroutines; a transaction whose node does not answer (a full
// mempool, a node restarting) is sent again after a pause, for up to a
// minute. It returns once every transaction was admitted to a mempool, or
// the first refusal (ErrRefused) or lasting failure.
func (ns Nodes) Submit(ctx context.Context, txs [][]byte, workers int) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(txs)) || ctx.Err() != nil {
					return
				}
				deadline := time.Now().Add(time.Minute)
				for k := int(i); ; k++ {
					res, err := ns[k%len(ns)].BroadcastTxSync(ctx, txs[i])
					if err == nil && res.Code == 0 {
						break
					}
					if err == nil {
						fail(fmt.Errorf("%w: tx %d: code %d: %s", ErrRefused, i, res.Code, res.Log))
						return
					}
					if time.Now().After(deadline) || ctx.Err() != nil {
						fail(fmt.Errorf("chainload: tx %d: %w", i, err))
						return
					}
					select {
					case <-ctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// Result is where and how the chain took a transaction.
type Result struct {
	Height int64
	Code   uint32
	Log    string
}

// Height is the latest block height node n reports.
func (ns Nodes) Height(ctx context.Context, n int) (int64, error) {
	st, err := ns[n].Status(ctx)
	if err != nil {
		return 0, err
	}
	return st.SyncInfo.LatestBlockHeight, nil
}

// Follow reads node n's blocks from height from+1 on and returns the
// result of each of txs once all are in blocks, or an error once ctx ends.
// A block whose results are not stored yet is read again.
func (ns Nodes) Follow(ctx context.Context, n int, from int64, txs [][]byte) (map[string]Result, error) {
	want := make(map[string]bool, len(txs))
	for _, tx := range txs {
		want[string(types.Tx(tx).Hash())] = true
	}
	out := make(map[string]Result, len(txs))
	h := from + 1
	for len(out) < len(want) {
		head, err := ns.Height(ctx, n)
		if err == nil && head >= h {
			var found map[string]Result
			if found, err = ns.block(ctx, n, h); err == nil {
				for k, r := range found {
					if want[k] {
						out[k] = r
					}
				}
				h++
				continue
			}
		}
		select {
		case <-ctx.Done():
			return out, fmt.Errorf("chainload: %d of %d transactions in blocks %d..%d: %w", len(out), len(want), from+1, h-1, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	byTx := make(map[string]Result, len(txs))
	for _, tx := range txs {
		byTx[string(tx)] = out[string(types.Tx(tx).Hash())]
	}
	return byTx, nil
}

// block returns the results of block h's transactions by hash.
func (ns Nodes) block(ctx context.Context, n int, h int64) (map[string]Result, error) {
	b, err := ns[n].Block(ctx, &h)
	if err != nil {
		return nil, err
	}
	res, err := ns[n].BlockResults(ctx, &h)
	if err != nil {
		return nil, err
	}
	if len(res.TxsResults) != len(b.Block.Txs) {
		return nil, fmt.Errorf("chainload: block %d has %d transactions and %d results", h, len(b.Block.Txs), len(res.TxsResults))
	}
	out := make(map[string]Result, len(b.Block.Txs))
	for i, tx := range b.Block.Txs {
		out[string(tx.Hash())] = Result{Height: h, Code: res.TxsResults[i].Code, Log: res.TxsResults[i].Log}
	}
	return out, nil
}
