package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cosmos/iavl"
	idb "github.com/cosmos/iavl/db"

	"github.com/parley-im/parley/chain/bns"
)

// Version is reported in Info.
const Version = "0.1.0"

// AppVersion is the application protocol version reported in Info.
const AppVersion = 1

// Config configures an App.
type Config struct {
	// ChainID is the chain's ID from genesis. Transactions are signed for it.
	ChainID string
	// Dir is the directory of the state database. Empty means memory
	// (tests only: nothing survives).
	Dir string
	// KeepRecent is how many recent versions stay queryable; older ones are
	// pruned. Zero keeps every version.
	KeepRecent int64
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
}

// App is the name chain's ABCI application.
type App struct {
	abci.BaseApplication

	mu      sync.Mutex
	cfg     Config
	log     *slog.Logger
	db      idb.DB
	tree    *iavl.MutableTree
	params  bns.Params
	hasGen  bool                // params are loaded (InitChain ran, now or before a restart)
	block   *overlay            // staged writes of the block being finalized
	check   *overlay            // mempool state: last commit plus admitted transactions
	checked *iavl.ImmutableTree // the last committed version; nil before the first
	sigs    *sigCache
}

var _ abci.Application = (*App)(nil)

// New opens (or creates) the state in cfg.Dir and loads its latest version.
func New(cfg Config) (*App, error) {
	if cfg.ChainID == "" || len(cfg.ChainID) > bns.MaxChainIDLen {
		return nil, fmt.Errorf("app: chain ID %q must have 1 to %d characters", cfg.ChainID, bns.MaxChainIDLen)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var db idb.DB
	if cfg.Dir == "" {
		db = idb.NewMemDB()
	} else {
		var err error
		if db, err = idb.NewDB("bns", "goleveldb", cfg.Dir); err != nil {
			return nil, fmt.Errorf("app: open state: %w", err)
		}
	}
	tree := iavl.NewMutableTree(db, 10000, false, iavl.NewNopLogger())
	if _, err := tree.Load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("app: load state: %w", err)
	}
	a := &App{cfg: cfg, log: log, db: db, tree: tree, sigs: newSigCache()}
	if tree.Version() > 0 {
		b, err := tree.Get(bns.ParamsKey)
		if err != nil || b == nil {
			db.Close()
			return nil, fmt.Errorf("app: state at version %d has no params (%v)", tree.Version(), err)
		}
		if a.params, err = bns.UnmarshalParams(b); err != nil {
			db.Close()
			return nil, fmt.Errorf("app: stored params: %w", err)
		}
		a.hasGen = true
	}
	if err := a.resetCheck(); err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

// Close releases the state database.
func (a *App) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.db.Close()
}

// Params returns the genesis parameters (zero before InitChain).
func (a *App) Params() bns.Params {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.params
}

// resetCheck points the mempool state at the last committed version.
func (a *App) resetCheck() error {
	if a.tree.Version() == 0 {
		a.checked, a.check = nil, newOverlay(emptyState{})
		return nil
	}
	imm, err := a.tree.GetImmutable(a.tree.Version())
	if err != nil {
		return fmt.Errorf("app: open version %d: %w", a.tree.Version(), err)
	}
	a.checked = imm
	a.check = newOverlay(imm)
	return nil
}

func (a *App) ctx(st *overlay, height int64) *execCtx {
	return &execCtx{chainID: a.cfg.ChainID, params: a.params, height: height, st: st, sigs: a.sigs}
}

// Info reports the last committed height and app hash.
func (a *App) Info(context.Context, *abci.RequestInfo) (*abci.ResponseInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	res := &abci.ResponseInfo{
		Data:            "parley-bns",
		Version:         Version,
		AppVersion:      AppVersion,
		LastBlockHeight: a.tree.Version(),
	}
	if res.LastBlockHeight > 0 {
		res.LastBlockAppHash = a.tree.Hash()
	}
	return res, nil
}

// InitChain reads the genesis parameters from app_state and stores them.
func (a *App) InitChain(_ context.Context, req *abci.RequestInitChain) (*abci.ResponseInitChain, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if req.ChainId != a.cfg.ChainID {
		return nil, fmt.Errorf("app: genesis chain ID %q, configured %q", req.ChainId, a.cfg.ChainID)
	}
	p, err := bns.ParseGenesisParams(req.AppStateBytes)
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	if req.InitialHeight > 1 {
		a.tree.SetInitialVersion(uint64(req.InitialHeight))
	}
	a.params, a.hasGen = p, true
	if _, err := a.tree.Set(bns.ParamsKey, p.Marshal()); err != nil {
		return nil, fmt.Errorf("app: store params: %w", err)
	}
	a.log.Info("genesis", "chain_id", req.ChainId, "params", fmt.Sprintf("%+v", p))
	return &abci.ResponseInitChain{AppHash: a.tree.WorkingHash()}, nil
}

// CheckTx admits a transaction to the mempool if it is valid against the
// last committed state plus the transactions already admitted.
func (a *App) CheckTx(_ context.Context, req *abci.RequestCheckTx) (*abci.ResponseCheckTx, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.hasGen {
		return &abci.ResponseCheckTx{Code: uint32(bns.CodeInternal), Codespace: bns.Codespace, Log: "chain not initialized"}, nil
	}
	c := a.ctx(a.check, a.tree.Version()+1)
	tx, _, err := c.deliver(req.Tx)
	if err != nil {
		return checkRefusal(err), nil
	}
	return &abci.ResponseCheckTx{Code: 0, GasWanted: 1, Log: tx.Type.String()}, nil
}

func checkRefusal(err error) *abci.ResponseCheckTx {
	code, log := refusal(err)
	return &abci.ResponseCheckTx{Code: code, Codespace: bns.Codespace, Log: log}
}

// refusal turns a validation error into an ABCI code and log line.
func refusal(err error) (uint32, string) {
	var ce *bns.CodeError
	if errors.As(err, &ce) {
		return uint32(ce.Code), ce.Msg
	}
	return uint32(bns.CodeInternal), err.Error()
}

// PrepareProposal keeps the mempool's transactions, in order, that execute
// validly one after the other and fit in the block.
func (a *App) PrepareProposal(_ context.Context, req *abci.RequestPrepareProposal) (*abci.ResponsePrepareProposal, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.ctx(newOverlay(a.tree), req.Height)
	a.expirePreorders(c)
	var (
		out  [][]byte
		size int64
	)
	for _, raw := range req.Txs {
		if size+int64(len(raw)) > req.MaxTxBytes {
			break
		}
		c.index = int64(len(out))
		if _, _, err := c.deliver(raw); err != nil {
			continue
		}
		out = append(out, raw)
		size += int64(len(raw))
	}
	return &abci.ResponsePrepareProposal{Txs: out}, nil
}

// ProcessProposal accepts a block only if every transaction in it executes
// validly in order.
func (a *App) ProcessProposal(_ context.Context, req *abci.RequestProcessProposal) (*abci.ResponseProcessProposal, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.ctx(newOverlay(a.tree), req.Height)
	a.expirePreorders(c)
	for i, raw := range req.Txs {
		c.index = int64(i)
		if _, _, err := c.deliver(raw); err != nil {
			a.log.Warn("rejecting proposal", "height", req.Height, "tx", i, "err", err)
			return &abci.ResponseProcessProposal{Status: abci.ResponseProcessProposal_REJECT}, nil
		}
	}
	return &abci.ResponseProcessProposal{Status: abci.ResponseProcessProposal_ACCEPT}, nil
}

// FinalizeBlock executes a decided block and returns the new app hash.
func (a *App) FinalizeBlock(_ context.Context, req *abci.RequestFinalizeBlock) (*abci.ResponseFinalizeBlock, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.hasGen {
		return nil, errors.New("app: FinalizeBlock before InitChain")
	}
	if want := a.tree.WorkingVersion(); req.Height != want {
		return nil, fmt.Errorf("app: FinalizeBlock at height %d, state expects %d", req.Height, want)
	}
	a.block = newOverlay(a.tree)
	c := a.ctx(a.block, req.Height)
	a.expirePreorders(c)
	results := make([]*abci.ExecTxResult, len(req.Txs))
	for i, raw := range req.Txs {
		c.index = int64(i)
		tx, events, err := c.deliver(raw)
		if err != nil {
			code, log := refusal(err)
			results[i] = &abci.ExecTxResult{Code: code, Codespace: bns.Codespace, Log: log}
			continue
		}
		results[i] = &abci.ExecTxResult{Code: 0, Log: tx.Type.String(), Events: events, GasUsed: 1}
	}
	if err := a.block.flush(a.tree); err != nil {
		return nil, fmt.Errorf("app: stage block %d: %w", req.Height, err)
	}
	return &abci.ResponseFinalizeBlock{TxResults: results, AppHash: a.tree.WorkingHash()}, nil
}

// expirePreorders drops, at the start of a block, the preorders that can no
// longer be revealed. It reads the committed tree, so it runs before any
// transaction of the block is staged.
func (a *App) expirePreorders(c *execCtx) {
	// A preorder made at p is usable up to p+PreorderTTL. Keep it one block
	// longer, so a register that is just late is told "expired" rather than
	// "not found".
	cutoff := c.height - c.params.PreorderTTL - 1
	if cutoff <= 0 {
		return
	}
	end := bns.PreorderQueueKey(cutoff, [32]byte{})
	it, err := a.tree.Iterator(bns.PreorderQueuePrefix, end, true)
	if err != nil {
		panic("app: iterate preorders: " + err.Error())
	}
	defer it.Close()
	for ; it.Valid(); it.Next() {
		k := bytes.Clone(it.Key())
		var commitment [32]byte
		copy(commitment[:], k[len(k)-32:])
		c.st.delete(k)
		c.st.delete(bns.PreorderKey(commitment))
	}
}

// Commit saves the finalized block's state as the version of its height.
func (a *App) Commit(context.Context, *abci.RequestCommit) (*abci.ResponseCommit, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, version, err := a.tree.SaveVersion()
	if err != nil {
		return nil, fmt.Errorf("app: commit: %w", err)
	}
	a.block = nil
	var retain int64
	if k := a.cfg.KeepRecent; k > 0 && version > k {
		retain = version - k + 1
		if version%100 == 0 {
			if err := a.tree.DeleteVersionsTo(version - k); err != nil {
				a.log.Error("prune", "to", version-k, "err", err)
			}
		}
	}
	if err := a.resetCheck(); err != nil {
		return nil, err
	}
	return &abci.ResponseCommit{RetainHeight: retain}, nil
}
