package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/cosmos/iavl"
	idb "github.com/cosmos/iavl/db"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/parley-im/parley/chain/bns"
)

// Version is reported in Info.
const Version = "0.1.0"

// AppVersion is the application protocol version: 3 since devices on the
// chain (docs/protocol.md, Devices), which a chain of version 2 takes on
// at its devices height (Config.DevicesHeight); 2 since state layout 2,
// whose state a node of version 1 cannot read.
const AppVersion = 3

// appVersionBeforeDevices is the protocol of a chain before its devices
// height.
const appVersionBeforeDevices = 2

// nodeCacheSize is how many IAVL nodes stay in memory (a few hundred bytes
// each).
const nodeCacheSize = 200_000

// stateDBOptions are goleveldb's options for the state database. They
// change how it is stored, never what it holds, so they may differ from
// node to node. IAVL's nodes are mostly hashes, which do not compress, so
// no compression; a larger memtable and larger tables mean fewer
// compactions of the nodes each block writes (docs/benchmarks.md has what
// each gave).
func stateDBOptions() *opt.Options {
	return &opt.Options{
		Filter:              filter.NewBloomFilter(10),
		Compression:         opt.NoCompression,
		WriteBuffer:         32 * opt.MiB,
		CompactionTableSize: 8 * opt.MiB,
		BlockCacheCapacity:  32 * opt.MiB,
	}
}

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

	// SnapshotDir holds the state sync snapshots this node makes and
	// serves, and the chunks of one it restores. Empty: no snapshots are
	// made, and a restore keeps its chunks in a temporary directory.
	SnapshotDir string
	// SnapshotInterval makes a snapshot every that many heights (0: none).
	SnapshotInterval int64
	// SnapshotKeep is how many snapshots are kept (default
	// DefaultSnapshotKeep); CometBFT keeps the blocks from the oldest on.
	SnapshotKeep int
	// SnapshotChunkBytes is the size of a snapshot's chunks (default
	// DefaultSnapshotChunkBytes, at most 16 MiB).
	SnapshotChunkBytes int
	// Metrics, if set, receives the application's Prometheus metrics
	// (docs/operators.md lists them). A node passes the registry whose
	// metrics CometBFT serves, so both appear on one endpoint.
	Metrics prometheus.Registerer

	// DevicesHeight is the height from which a chain takes device
	// transactions (application protocol 3): 0 or the initial height for
	// a new chain (from genesis on); for a chain that began before
	// protocol 3, the height its validators agreed on (every validator
	// sets the same one; once that height is committed the state keeps
	// it, and the setting no longer matters).
	DevicesHeight int64
}

// App is the name chain's ABCI application.
//
// CometBFT calls it on three connections, which may run at once: consensus
// (InitChain, PrepareProposal, ProcessProposal, FinalizeBlock, Commit),
// mempool (CheckTx) and query (Info, Query). Each has its own state and
// lock, so checking transactions and answering queries never wait for a
// block to execute:
//
//   - mu guards the working tree (consensus);
//   - checkMu guards the mempool state, an overlay over the last saved
//     version (CheckTx; Commit resets it, while CometBFT holds the mempool);
//   - committed points at the last saved version, opened through a
//     separate reader tree, immutable and safe to read concurrently
//     (queries, proofs); CheckTx reads the latest version through the
//     writer's fast index; views is held for reading during both and for
//     writing while Commit saves a version and deletes old ones.
type App struct {
	abci.BaseApplication

	cfg     Config
	log     *slog.Logger
	metrics *metrics // nil: none
	db      idb.DB
	txs     *txCache // stateless checks, shared by every connection
	mu      sync.Mutex
	tree    *iavl.MutableTree
	// reader opens saved versions for queries and CheckTx. It is a second
	// tree over the same database with its own node cache: IAVL's writer
	// modifies nodes that its own saved versions share, so readers must not
	// share them.
	reader *iavl.MutableTree

	checkMu sync.Mutex
	params  bns.Params // set before any transaction: at New or InitChain
	hasGen  bool
	check   *overlay // mempool state: last commit plus admitted transactions

	views     sync.RWMutex
	committed atomic.Pointer[iavl.ImmutableTree] // nil before the first commit

	// State sync: snapshots made in the background (snapMu guards snaps;
	// Close cancels and waits for an export), and a restore under way
	// (under mu).
	snapMu     sync.Mutex
	snaps      snapshots
	snapWG     sync.WaitGroup
	snapCtx    context.Context
	snapCancel context.CancelFunc
	restoring  *restore
	// changes are the record changes of the block finalized and not yet
	// committed (guarded by mu), for the metrics.
	changes []nameChange
}

// execution is a block executed over the last committed state.
type execution struct {
	height  int64
	st      *overlay
	results []*abci.ExecTxResult
	// changes are the records the block changed; prunedPreorders and
	// prunedAccounts what its maintenance dropped. For the metrics only.
	changes                         []nameChange
	prunedPreorders, prunedAccounts int
	// params, if set, are the params the block changed to (the devices
	// height reached).
	params *bns.Params
}

var _ abci.Application = (*App)(nil)

// New opens (or creates) the state in cfg.Dir and loads its latest version.
func New(cfg Config) (*App, error) {
	if cfg.ChainID == "" || len(cfg.ChainID) > bns.MaxChainIDLen {
		return nil, fmt.Errorf("app: chain ID %q must have 1 to %d characters", cfg.ChainID, bns.MaxChainIDLen)
	}
	if cfg.SnapshotKeep <= 0 {
		cfg.SnapshotKeep = DefaultSnapshotKeep
	}
	if cfg.SnapshotChunkBytes <= 0 {
		cfg.SnapshotChunkBytes = DefaultSnapshotChunkBytes
	}
	if cfg.SnapshotChunkBytes > maxSnapshotChunkBytes || cfg.SnapshotInterval < 0 {
		return nil, fmt.Errorf("app: snapshot chunks of %d bytes (at most %d), every %d heights", cfg.SnapshotChunkBytes, maxSnapshotChunkBytes, cfg.SnapshotInterval)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var db idb.DB
	if cfg.Dir == "" {
		db = idb.NewMemDB()
	} else {
		ldb, err := dbm.NewGoLevelDBWithOpts("bns", cfg.Dir, stateDBOptions())
		if err != nil {
			return nil, fmt.Errorf("app: open state: %w", err)
		}
		db = idb.NewWrapper(ldb)
	}
	tree := iavl.NewMutableTree(db, nodeCacheSize, false, iavl.NewNopLogger())
	if _, err := tree.Load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("app: load state: %w", err)
	}
	reader := iavl.NewMutableTree(db, nodeCacheSize, true, iavl.NewNopLogger())
	a := &App{cfg: cfg, log: log, db: db, tree: tree, reader: reader, txs: newTxCache()}
	a.snaps.pinned = make(map[int64]bool)
	a.snapCtx, a.snapCancel = context.WithCancel(context.Background())
	if err := a.loadSnapshots(); err != nil {
		db.Close()
		return nil, err
	}
	if cfg.Metrics != nil {
		var err error
		if a.metrics, err = newMetrics(cfg.Metrics, stateDir(cfg.Dir)); err != nil {
			db.Close()
			return nil, fmt.Errorf("app: metrics: %w", err)
		}
	}
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
	if err := a.publish(); err != nil {
		db.Close()
		return nil, err
	}
	if imm := a.committed.Load(); imm != nil {
		a.metrics.committed(imm, nil, a.params.GracePeriod)
	}
	return a, nil
}

// Close stops a snapshot being made and releases the state database.
func (a *App) Close() error {
	a.snapCancel()
	a.snapWG.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.views.Lock()
	defer a.views.Unlock()
	return a.db.Close()
}

// Params returns the genesis parameters (zero before InitChain).
func (a *App) Params() bns.Params {
	a.checkMu.Lock()
	defer a.checkMu.Unlock()
	return a.params
}

// publish makes the last saved version the one queries and CheckTx read,
// and resets the mempool state to it. The caller holds mu (or is New).
func (a *App) publish() error {
	var base reader = emptyState{}
	if v := a.tree.Version(); v > 0 {
		imm, err := a.reader.GetImmutable(v)
		if err != nil {
			return fmt.Errorf("app: open version %d: %w", v, err)
		}
		a.committed.Store(imm)
		// CheckTx makes point reads of the latest version, which IAVL's
		// fast index answers without walking the nodes the writer shares;
		// only SaveVersion's bookkeeping conflicts with it, and Commit
		// holds views for that.
		if base, err = a.tree.GetImmutable(v); err != nil {
			return fmt.Errorf("app: open version %d: %w", v, err)
		}
	}
	a.checkMu.Lock()
	a.check = newOverlay(base)
	a.checkMu.Unlock()
	return nil
}

// lastHeight is the last committed height.
func (a *App) lastHeight() int64 {
	if imm := a.committed.Load(); imm != nil {
		return imm.Version()
	}
	return 0
}

func (a *App) ctx(st *overlay, height int64) *execCtx {
	return &execCtx{chainID: a.cfg.ChainID, params: a.params, height: height, st: st, txs: a.txs}
}

// Info reports the last committed height and app hash.
func (a *App) Info(context.Context, *abci.RequestInfo) (*abci.ResponseInfo, error) {
	res := &abci.ResponseInfo{Data: "parley-bns", Version: Version, AppVersion: AppVersion}
	a.checkMu.Lock()
	if a.hasGen && a.params.DevicesHeight == 0 || !a.hasGen && a.cfg.DevicesHeight > 1 {
		res.AppVersion = appVersionBeforeDevices
	}
	a.checkMu.Unlock()
	if imm := a.committed.Load(); imm != nil {
		res.LastBlockHeight, res.LastBlockAppHash = imm.Version(), imm.Hash()
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
	if first := max(req.InitialHeight, 1); a.cfg.DevicesHeight <= first {
		p.DevicesHeight = first
	} else {
		// Params of version 2 hold no max_devices: the chain takes
		// devices on at its devices height with the default, as one that
		// began before protocol 3 does.
		p.MaxDevices = bns.DefaultMaxDevices
	}
	a.checkMu.Lock()
	a.params, a.hasGen = p, true
	a.checkMu.Unlock()
	if _, err := a.tree.Set(bns.ParamsKey, p.Marshal()); err != nil {
		return nil, fmt.Errorf("app: store params: %w", err)
	}
	a.log.Info("genesis", "chain_id", req.ChainId, "params", fmt.Sprintf("%+v", p))
	return &abci.ResponseInitChain{AppHash: a.tree.WorkingHash()}, nil
}

// CheckTx admits a transaction to the mempool if it is valid against the
// last committed state plus the transactions already admitted.
func (a *App) CheckTx(_ context.Context, req *abci.RequestCheckTx) (*abci.ResponseCheckTx, error) {
	a.checkMu.Lock()
	p, ok := a.params, a.hasGen
	a.checkMu.Unlock()
	if !ok {
		return &abci.ResponseCheckTx{Code: uint32(bns.CodeInternal), Codespace: bns.Codespace, Log: "chain not initialized"}, nil
	}
	// The stateless checks (the signature above all) run outside the lock,
	// so several transactions are verified at once; the stateful ones then
	// find them in the cache.
	if _, err := a.txs.check(req.Tx, a.cfg.ChainID, p.MaxTxBytes); err != nil {
		res := checkRefusal(err)
		if req.Type == abci.CheckTxType_New {
			a.metrics.tx(stageCheck, req.Tx, res.Code)
		}
		return res, nil
	}
	a.views.RLock()
	defer a.views.RUnlock()
	a.checkMu.Lock()
	defer a.checkMu.Unlock()
	c := a.ctx(a.check, a.lastHeight()+1)
	if req.Type == abci.CheckTxType_Recheck {
		// After each block CometBFT rechecks the whole mempool while
		// consensus waits, so a recheck only confirms the expiry and the
		// nonce: that evicts every transaction the block included or
		// replaced, and every one that expired. One that the block made
		// invalid otherwise is refused when it reaches a block, with its
		// code, and changes nothing.
		return a.recheck(c, req.Tx), nil
	}
	tx, _, err := c.deliver(req.Tx)
	if err != nil {
		res := checkRefusal(err)
		a.metrics.tx(stageCheck, req.Tx, res.Code)
		return res, nil
	}
	a.metrics.tx(stageCheck, req.Tx, 0)
	return &abci.ResponseCheckTx{Code: 0, GasWanted: 1, Log: tx.Type.String()}, nil
}

func (a *App) recheck(c *execCtx, raw []byte) *abci.ResponseCheckTx {
	tx, err := c.txs.check(raw, c.chainID, c.params.MaxTxBytes)
	if err != nil {
		return checkRefusal(err)
	}
	if err := checkExpiry(tx, c.height, c.params); err != nil {
		return checkRefusal(err)
	}
	acct := c.account(tx.Signer)
	if tx.Nonce != acct.Nonce {
		return checkRefusal(badNonce(tx, acct.Nonce))
	}
	acct.Nonce++
	c.setAccount(tx.Signer, acct)
	return &abci.ResponseCheckTx{Code: 0, GasWanted: 1, Log: tx.Type.String()}
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

// PrepareProposal keeps the mempool's transactions, in order, that pass
// the stateless checks, have not expired at the block's height and fit in
// the block. It does not execute them: the
// mempool already admitted them one after the other, and FinalizeBlock
// records any that a state change has made invalid since.
func (a *App) PrepareProposal(_ context.Context, req *abci.RequestPrepareProposal) (*abci.ResponsePrepareProposal, error) {
	a.mu.Lock()
	p := a.params
	a.mu.Unlock()
	var (
		out  [][]byte
		size int64
	)
	for _, raw := range req.Txs {
		if size+int64(len(raw)) > req.MaxTxBytes {
			break
		}
		if _, err := a.proposable(raw, req.Height, p); err != nil {
			continue
		}
		out = append(out, raw)
		size += int64(len(raw))
	}
	return &abci.ResponsePrepareProposal{Txs: out}, nil
}

// ProcessProposal rejects a block holding a transaction that fails the
// stateless checks (malformed, oversized, badly signed, invalid name or
// profile) or whose expiry rules out the block's height (expired, or
// expiring too far ahead): only a faulty proposer makes one. A transaction that is
// well-formed but invalid against the state (a spent nonce, a taken name)
// does not make the block invalid: FinalizeBlock refuses it with its code
// and it changes nothing.
func (a *App) ProcessProposal(_ context.Context, req *abci.RequestProcessProposal) (*abci.ResponseProcessProposal, error) {
	a.mu.Lock()
	p := a.params
	a.mu.Unlock()
	for i, raw := range req.Txs {
		if _, err := a.proposable(raw, req.Height, p); err != nil {
			a.log.Warn("rejecting proposal", "height", req.Height, "tx", i, "err", err)
			return &abci.ResponseProcessProposal{Status: abci.ResponseProcessProposal_REJECT}, nil
		}
	}
	return &abci.ResponseProcessProposal{Status: abci.ResponseProcessProposal_ACCEPT}, nil
}

// proposable applies the checks that depend on the bytes and the block's
// height only.
func (a *App) proposable(raw []byte, height int64, p bns.Params) (*bns.Tx, error) {
	tx, err := a.txs.check(raw, a.cfg.ChainID, p.MaxTxBytes)
	if err != nil {
		return nil, err
	}
	return tx, checkExpiry(tx, height, p)
}

// execute runs a block's transactions in order over the last committed
// state, staging their effects, and returns the result of each.
func (a *App) execute(height int64, txs [][]byte) *execution {
	x := &execution{height: height, st: newOverlay(a.tree), results: make([]*abci.ExecTxResult, len(txs))}
	c := a.ctx(x.st, height)
	if a.metrics != nil {
		c.changes = &x.changes
	}
	if p := a.params; p.DevicesHeight == 0 && a.cfg.DevicesHeight > 0 && height >= a.cfg.DevicesHeight {
		// The chain takes devices on (application protocol 3).
		p.DevicesHeight = height
		x.st.set(bns.ParamsKey, p.Marshal())
		x.params, c.params = &p, p
	}
	x.prunedPreorders = a.expirePreorders(c) + a.expireOffers(c)
	x.prunedAccounts = a.pruneAccounts(c)
	for i, raw := range txs {
		c.index = int64(i)
		tx, events, err := c.deliver(raw)
		if err != nil {
			code, log := refusal(err)
			x.results[i] = &abci.ExecTxResult{Code: code, Codespace: bns.Codespace, Log: log}
			continue
		}
		x.results[i] = &abci.ExecTxResult{Code: 0, Log: tx.Type.String(), Events: events, GasUsed: 1}
	}
	return x
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
	start := time.Now()
	x := a.execute(req.Height, req.Txs)
	if err := x.st.flush(a.tree); err != nil {
		return nil, fmt.Errorf("app: stage block %d: %w", req.Height, err)
	}
	res := &abci.ResponseFinalizeBlock{TxResults: x.results, AppHash: a.tree.WorkingHash()}
	if x.params != nil {
		a.checkMu.Lock()
		a.params = *x.params
		a.checkMu.Unlock()
		res.ConsensusParamUpdates = &cmtproto.ConsensusParams{Version: &cmtproto.VersionParams{App: AppVersion}}
		a.log.Info("devices on: application protocol 3", "height", req.Height)
	}
	if a.metrics != nil {
		for i, r := range x.results {
			a.metrics.tx(stageBlock, req.Txs[i], r.Code)
		}
		a.metrics.prune(x.prunedPreorders, x.prunedAccounts)
		a.changes = x.changes
		a.metrics.block("finalize", start)
	}
	return res, nil
}

// maintenanceBatch bounds the preorders dropped, and the accounts checked
// for pruning, at the start of one block; what is left waits for the next
// block, in key order, so the work of a block stays bounded whatever a
// flood left behind.
const maintenanceBatch = 2000

// expirePreorders drops, at the start of a block, the preorders that can no
// longer be revealed, and counts them off their owners' live preorders. It
// reads the committed tree, so it runs before any transaction of the block
// is staged.
func (a *App) expirePreorders(c *execCtx) (dropped int) {
	// A preorder made at p is usable up to p+PreorderTTL. Keep it one block
	// longer, so a register that is just late is told "expired" rather than
	// "not found".
	cutoff := c.height - c.params.PreorderTTL - 1
	if cutoff <= 0 {
		return 0
	}
	it, err := a.tree.Iterator(bns.PreorderPrefix, bns.PreorderKey(cutoff, [32]byte{}), true)
	if err != nil {
		panic("app: iterate preorders: " + err.Error())
	}
	defer it.Close()
	for n := 0; it.Valid() && n < maintenanceBatch; it.Next() {
		key := bytes.Clone(it.Key())
		p, err := bns.UnmarshalPreorder(it.Value(), 0)
		if err != nil {
			panic("app: stored preorder: " + err.Error())
		}
		c.st.delete(key)
		acct := c.account(p.Owner)
		acct.Preorders--
		c.setAccount(p.Owner, acct)
		n++
		dropped++
	}
	return dropped
}

// expireOffers drops, at the start of a block, the link offers whose
// expiry (OfferExpiryKey) is due, and counts them off their signers' live
// preorders, at most maintenanceBatch of them.
func (a *App) expireOffers(c *execCtx) (dropped int) {
	it, err := a.tree.Iterator(bns.OfferExpiryPrefix, bns.OfferExpiryKey(c.height+1, bns.LinkCode{}), true)
	if err != nil {
		panic("app: iterate offers: " + err.Error())
	}
	defer it.Close()
	for n := 0; it.Valid() && n < maintenanceBatch; it.Next() {
		key := bytes.Clone(it.Key())
		var code bns.LinkCode
		copy(code[:], key[len(bns.OfferExpiryPrefix)+8:])
		if off := c.offer(code); off != nil {
			acct := c.account(off.Device.SigningKey)
			acct.Preorders--
			c.setAccount(off.Device.SigningKey, acct)
			c.st.delete(bns.OfferKey(code))
		}
		c.st.delete(key)
		n++
		dropped++
	}
	return dropped
}

// pruneAccounts runs, at the start of a block, the pruning checks due at
// its height: an account whose every transaction has expired and that
// holds nothing (no live preorder, no name live or in grace) is deleted
// (with the names it lists, which it no longer holds); one that holds something is checked again when that
// may have changed. See bns.Account.
func (a *App) pruneAccounts(c *execCtx) (pruned int) {
	it, err := a.tree.Iterator(bns.PrunePrefix, bns.PruneKey(c.height+1, bns.PublicKey{}), true)
	if err != nil {
		panic("app: iterate pruning schedule: " + err.Error())
	}
	defer it.Close()
	for n := 0; it.Valid() && n < maintenanceBatch; it.Next() {
		key := bytes.Clone(it.Key())
		var pub bns.PublicKey
		copy(pub[:], key[len(bns.PrunePrefix)+8:])
		acct := c.account(pub)
		if held, next := c.holds(pub, acct); held {
			c.schedule(pub, acct, next)
			c.setAccount(pub, acct)
		} else {
			c.st.delete(key)
			c.st.delete(bns.AccountKey(pub))
			pruned++
		}
		n++
	}
	return pruned
}

// Commit saves the finalized block's state as the version of its height.
func (a *App) Commit(context.Context, *abci.RequestCommit) (*abci.ResponseCommit, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	start := time.Now()
	a.views.Lock()
	defer a.views.Unlock()
	_, version, err := a.tree.SaveVersion()
	if err != nil {
		return nil, fmt.Errorf("app: commit: %w", err)
	}
	if err := a.publish(); err != nil {
		return nil, err
	}
	if a.metrics != nil {
		a.metrics.committed(a.committed.Load(), a.changes, a.params.GracePeriod)
		a.changes = nil
		a.metrics.block("commit", start)
	}
	var retain int64
	if k := a.cfg.KeepRecent; k > 0 && version > k {
		retain = version - k + 1
		if version%100 == 0 {
			// Not a version being exported into a snapshot.
			if to := a.prunable(version - k); to > 0 {
				if err := a.tree.DeleteVersionsTo(to); err != nil {
					a.log.Error("prune", "to", to, "err", err)
				}
			}
		}
		// A node restoring a snapshot needs the blocks from its height on.
		if oldest := a.oldestSnapshot(); oldest > 0 {
			retain = min(retain, oldest)
		}
	}
	a.maybeSnapshot(version)
	return &abci.ResponseCommit{RetainHeight: retain}, nil
}
