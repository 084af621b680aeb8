package app

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/internal/await"
)

// snapshotChain is a chain that makes a snapshot every 5 heights, in
// chunks of 1 KiB, keeping 2, in a state of its own on disk. Each
// snapshot is waited for after its block (blocks come faster here than a
// real chain's, and a node skips a snapshot while the last is being made).
func snapshotChain(t *testing.T) *chain {
	t.Helper()
	dir := t.TempDir()
	return waitingForSnapshots(t, newChainWith(t, Config{Dir: filepath.Join(dir, "state"), SnapshotDir: filepath.Join(dir, "snapshots"),
		SnapshotInterval: 5, SnapshotKeep: 2, SnapshotChunkBytes: 1024}))
}

func waitingForSnapshots(t *testing.T, c *chain) *chain {
	c.afterCommit = func() {
		if c.height%c.app.cfg.SnapshotInterval == 0 {
			waitSnapshot(t, c, uint64(c.height))
		}
	}
	return c
}

// waitSnapshot waits until c's app lists a snapshot of height h (they are
// made in the background) and returns it.
func waitSnapshot(t *testing.T, c *chain, h uint64) *abci.Snapshot {
	t.Helper()
	return await.Value(t, time.Minute, fmt.Sprintf("a snapshot of height %d", h), func() (*abci.Snapshot, error) {
		res, err := c.app.ListSnapshots(context.Background(), &abci.RequestListSnapshots{})
		if err != nil {
			return nil, err
		}
		for _, s := range res.Snapshots {
			if s.Height == h {
				return s, nil
			}
		}
		return nil, fmt.Errorf("have %v", res.Snapshots)
	})
}

// chunks returns every chunk of s from c's app.
func chunks(t *testing.T, c *chain, s *abci.Snapshot) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range s.Chunks {
		res, err := c.app.LoadSnapshotChunk(context.Background(), &abci.RequestLoadSnapshotChunk{Height: s.Height, Format: s.Format, Chunk: i})
		if err != nil || len(res.Chunk) == 0 {
			t.Fatalf("chunk %d of snapshot %d: %v (%d bytes)", i, s.Height, err, len(res.Chunk))
		}
		out = append(out, res.Chunk)
	}
	return out
}

// appHashAt is the app hash of the state after block h (which CometBFT's
// light client verifies in header h+1 for a joining node).
func appHashAt(t *testing.T, c *chain, h int64) []byte {
	t.Helper()
	imm, err := c.app.reader.GetImmutable(h)
	if err != nil {
		t.Fatal(err)
	}
	return imm.Hash()
}

// restoreInto offers s to the empty chain fresh with appHash and applies
// chunks; it returns the result of the last chunk.
func restoreInto(t *testing.T, fresh *chain, s *abci.Snapshot, appHash []byte, chunks [][]byte) abci.ResponseApplySnapshotChunk_Result {
	t.Helper()
	ctx := context.Background()
	offer, err := fresh.app.OfferSnapshot(ctx, &abci.RequestOfferSnapshot{Snapshot: s, AppHash: appHash})
	if err != nil || offer.Result != abci.ResponseOfferSnapshot_ACCEPT {
		t.Fatalf("offer: %v %v", offer, err)
	}
	var last abci.ResponseApplySnapshotChunk_Result
	for i, b := range chunks {
		res, err := fresh.app.ApplySnapshotChunk(ctx, &abci.RequestApplySnapshotChunk{Index: uint32(i), Chunk: b, Sender: "peer"})
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		last = res.Result
		if i < len(chunks)-1 && last != abci.ResponseApplySnapshotChunk_ACCEPT {
			t.Fatalf("chunk %d: %v", i, res)
		}
	}
	return last
}

// TestSnapshotRestore: a node that joins by restoring a snapshot has the
// state of its height (same app hash, same answers with proofs), goes on
// with the chain's next blocks to the same app hashes, and serves
// snapshots itself.
func TestSnapshotRestore(t *testing.T) {
	src := snapshotChain(t)
	accts := make([]*account, 12)
	for i := range accts {
		accts[i] = newAccount(fmt.Sprint("snap", i))
		src.claim(accts[i], fmt.Sprintf("name-%d", i))
	}
	for src.height%5 != 0 {
		src.skip(1)
	}
	s := waitSnapshot(t, src, uint64(src.height))
	if s.Chunks < 2 {
		t.Fatalf("snapshot of %d chunks: want several of 1 KiB", s.Chunks)
	}

	dir := t.TempDir()
	dst := newChainWith(t, Config{Dir: filepath.Join(dir, "state"), SnapshotDir: filepath.Join(dir, "snapshots"), SnapshotInterval: 5, SnapshotChunkBytes: 1024})
	waitingForSnapshots(t, dst)
	if got := restoreInto(t, dst, s, appHashAt(t, src, int64(s.Height)), chunks(t, src, s)); got != abci.ResponseApplySnapshotChunk_ACCEPT {
		t.Fatalf("last chunk: %v", got)
	}
	dst.height = int64(s.Height)
	if !bytes.Equal(dst.hash(), src.hash()) {
		t.Fatalf("restored app hash %X, source %X", dst.hash(), src.hash())
	}
	if info, _ := dst.app.Info(context.Background(), &abci.RequestInfo{}); info.LastBlockHeight != int64(s.Height) {
		t.Fatalf("restored node reports height %d, want %d", info.LastBlockHeight, s.Height)
	}
	for i := range accts {
		name := fmt.Sprintf("name-%d", i)
		want := src.provenQuery(t, name)
		got := dst.provenQuery(t, name)
		if !bytes.Equal(got.Value, want.Value) || got.Height != want.Height || len(got.ProofOps.Ops) != 1 ||
			!bytes.Equal(got.ProofOps.Ops[0].Data, want.ProofOps.Ops[0].Data) {
			t.Fatalf("%s: restored node answers %v, source %v", name, got, want)
		}
	}

	// Both go on with the same blocks to the same state; the restored node
	// makes its own snapshots, the same as the source's.
	late := newAccount("late")
	for _, c := range []*chain{src, dst} {
		c.ok(late.preorder("late"))
		c.age()
		c.ok(c.register(late, "late"))
		late.nonce = 0
		for c.height%5 != 0 {
			c.skip(1)
		}
	}
	if !bytes.Equal(dst.hash(), src.hash()) || dst.height != src.height {
		t.Fatalf("after more blocks: restored %d %X, source %d %X", dst.height, dst.hash(), src.height, src.hash())
	}
	if a, b := waitSnapshot(t, dst, uint64(dst.height)), waitSnapshot(t, src, uint64(src.height)); !bytes.Equal(a.Hash, b.Hash) {
		t.Fatalf("snapshots of height %d differ: restored %X, source %X", a.Height, a.Hash, b.Hash)
	}
}

func (c *chain) provenQuery(t *testing.T, name string) *abci.ResponseQuery {
	t.Helper()
	res, err := c.app.Query(context.Background(), &abci.RequestQuery{Path: bns.QueryName, Data: []byte(name), Prove: true})
	if err != nil || res.Code != 0 {
		t.Fatalf("query %s: %v %v", name, res, err)
	}
	return res
}

// TestSnapshotRefusals: a chunk that does not match its hash is fetched
// again from another peer; a snapshot whose state does not lead to the
// verified app hash (a lying peer's, consistent with itself) is refused
// and leaves nothing behind, so the next one restores; inconsistent or
// unknown offers are refused.
func TestSnapshotRefusals(t *testing.T) {
	src := snapshotChain(t)
	for i := range 6 {
		src.claim(newAccount(fmt.Sprint("r", i)), fmt.Sprintf("r-%d", i))
	}
	for src.height%5 != 0 {
		src.skip(1)
	}
	s := waitSnapshot(t, src, uint64(src.height))
	good := chunks(t, src, s)
	hash := appHashAt(t, src, int64(s.Height))
	dst := newChainWith(t, Config{Dir: filepath.Join(t.TempDir(), "state")})
	ctx := context.Background()

	// A tampered chunk: fetched again, its sender rejected.
	if res, _ := dst.app.OfferSnapshot(ctx, &abci.RequestOfferSnapshot{Snapshot: s, AppHash: hash}); res.Result != abci.ResponseOfferSnapshot_ACCEPT {
		t.Fatalf("offer: %v", res)
	}
	bad := bytes.Clone(good[0])
	bad[len(bad)/2] ^= 1
	res, err := dst.app.ApplySnapshotChunk(ctx, &abci.RequestApplySnapshotChunk{Index: 0, Chunk: bad, Sender: "liar"})
	if err != nil || res.Result != abci.ResponseApplySnapshotChunk_RETRY || len(res.RefetchChunks) != 1 || res.RefetchChunks[0] != 0 ||
		len(res.RejectSenders) != 1 || res.RejectSenders[0] != "liar" {
		t.Fatalf("tampered chunk: %v %v", res, err)
	}

	// The right snapshot offered with another app hash (as a snapshot of
	// another state would be): every chunk matches the metadata, the root
	// does not match, and the state is emptied.
	other := bytes.Clone(hash)
	other[0] ^= 1
	if got := restoreInto(t, dst, s, other, good); got != abci.ResponseApplySnapshotChunk_REJECT_SNAPSHOT {
		t.Fatalf("snapshot with the wrong root: %v", got)
	}
	if info, _ := dst.app.Info(ctx, &abci.RequestInfo{}); info.LastBlockHeight != 0 {
		t.Fatalf("a refused snapshot left state at height %d", info.LastBlockHeight)
	}
	if got := restoreInto(t, dst, s, hash, good); got != abci.ResponseApplySnapshotChunk_ACCEPT {
		t.Fatalf("restore after a refused one: %v", got)
	}
	dst.height = int64(s.Height)
	if !bytes.Equal(dst.hash(), hash) {
		t.Fatalf("restored app hash %X, want %X", dst.hash(), hash)
	}

	// Offers that cannot be taken.
	fresh := newChainWith(t, Config{})
	altered := *s
	altered.Metadata = bytes.Clone(s.Metadata)
	altered.Metadata[0] ^= 1
	for _, tc := range []struct {
		name string
		s    *abci.Snapshot
		want abci.ResponseOfferSnapshot_Result
	}{
		{"metadata not matching the hash", &altered, abci.ResponseOfferSnapshot_REJECT},
		{"another format", &abci.Snapshot{Height: s.Height, Format: 2, Chunks: s.Chunks, Hash: s.Hash, Metadata: s.Metadata}, abci.ResponseOfferSnapshot_REJECT_FORMAT},
		{"no chunks", &abci.Snapshot{Height: s.Height, Format: SnapshotFormat, Hash: snapshotHash(s.Height, nil)}, abci.ResponseOfferSnapshot_REJECT},
	} {
		res, err := fresh.app.OfferSnapshot(ctx, &abci.RequestOfferSnapshot{Snapshot: tc.s, AppHash: hash})
		if err != nil || res.Result != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.name, res, err, tc.want)
		}
	}
	// A node that has state takes no snapshot.
	if res, _ := src.app.OfferSnapshot(ctx, &abci.RequestOfferSnapshot{Snapshot: s, AppHash: hash}); res.Result != abci.ResponseOfferSnapshot_ABORT {
		t.Errorf("offer to a node with state: %v", res)
	}
}

// TestSnapshotRetention: a node keeps its newest SnapshotKeep snapshots
// (their files too), lists them after a restart, and tells CometBFT to
// keep the blocks from the oldest one on, however few heights it keeps.
func TestSnapshotRetention(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: filepath.Join(dir, "state"), SnapshotDir: filepath.Join(dir, "snapshots"),
		SnapshotInterval: 5, SnapshotKeep: 2, KeepRecent: 3}
	c := waitingForSnapshots(t, newChainWith(t, cfg))
	c.skip(20)
	list := func(a *App) []uint64 {
		res, _ := a.ListSnapshots(context.Background(), &abci.RequestListSnapshots{})
		var hs []uint64
		for _, s := range res.Snapshots {
			hs = append(hs, s.Height)
		}
		return hs
	}
	if got := fmt.Sprint(list(c.app)); got != "[15 20]" {
		t.Fatalf("snapshots kept: %s, want [15 20]", got)
	}
	entries, _ := os.ReadDir(cfg.SnapshotDir)
	if len(entries) != 2 {
		t.Fatalf("snapshot directory holds %d entries, want 2", len(entries))
	}
	c.height++
	if _, err := c.app.FinalizeBlock(context.Background(), &abci.RequestFinalizeBlock{Height: c.height, Time: time.Unix(1700000000+c.height, 0)}); err != nil {
		t.Fatal(err)
	}
	res, err := c.app.Commit(context.Background(), &abci.RequestCommit{})
	if err != nil || res.RetainHeight != 15 {
		t.Fatalf("retain height %d (%v), want 15: the oldest snapshot's", res.RetainHeight, err)
	}
	c.app.Close()
	a, err := New(Config{ChainID: testChain, Dir: cfg.Dir, SnapshotDir: cfg.SnapshotDir, SnapshotInterval: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got := fmt.Sprint(list(a)); got != "[15 20]" {
		t.Fatalf("snapshots after a restart: %s", got)
	}
}

// TestSnapshotWhileCommitting: snapshots are made while blocks go on being
// committed and old versions pruned (a node keeping 2 heights): the
// version being exported is not pruned under it, and every snapshot
// restores to the app hash of its height. (Run with -race in CI.)
func TestSnapshotWhileCommitting(t *testing.T) {
	dir := t.TempDir()
	c := newChainWith(t, Config{Dir: filepath.Join(dir, "state"), SnapshotDir: filepath.Join(dir, "snapshots"),
		SnapshotInterval: 50, SnapshotKeep: 10, SnapshotChunkBytes: 4096, KeepRecent: 2})
	hashes := map[int64][]byte{}
	c.afterCommit = func() { hashes[c.height] = c.hash() }
	for i := 0; c.height < 310; i++ {
		if i%10 == 0 {
			c.claim(newAccount(fmt.Sprint("busy", i)), fmt.Sprintf("busy-%d", i))
		} else {
			c.skip(1)
		}
	}
	c.app.snapWG.Wait()
	res, _ := c.app.ListSnapshots(context.Background(), &abci.RequestListSnapshots{})
	if len(res.Snapshots) == 0 {
		t.Fatal("no snapshot made")
	}
	for _, s := range res.Snapshots {
		fresh := newChainWith(t, Config{Dir: filepath.Join(t.TempDir(), "state")})
		if got := restoreInto(t, fresh, s, hashes[int64(s.Height)], chunks(t, c, s)); got != abci.ResponseApplySnapshotChunk_ACCEPT {
			t.Fatalf("snapshot %d: %v", s.Height, got)
		}
	}
}

// TestSnapshotRestoreLargeState: a restored state of more than 10,000 IAVL
// nodes (2,000 names) is whole in the index that execution and CheckTx
// read, not only in the tree the proofs come from. iavl v1.2.4's importer
// writes such a state in batches, the last asynchronously, and built that
// index before the batch was surely written, with an iterator that stops
// silently at a node it cannot read: the restored node then had no params
// ("bad snapshot: no params") or, worse, missing names, so it would take a
// register of a taken name and leave the chain's app hash.
func TestSnapshotRestoreLargeState(t *testing.T) {
	const names, perBlock = 2000, 1000
	dir := t.TempDir()
	src := newChainWith(t, Config{Dir: filepath.Join(dir, "src"), SnapshotDir: filepath.Join(dir, "src-snapshots")})
	var accts []*account
	for batch := range names / perBlock {
		var pre, reg [][]byte
		for i := range perBlock {
			a := newAccount(fmt.Sprint("large", batch, "-", i))
			accts = append(accts, a)
			pre = append(pre, a.preorder(fmt.Sprintf("l%d-%d", batch, i)))
		}
		src.ok(pre...)
		src.age()
		for i, a := range accts[batch*perBlock:] {
			reg = append(reg, src.register(a, fmt.Sprintf("l%d-%d", batch, i)))
		}
		src.ok(reg...)
	}
	s, _, err := src.app.makeSnapshot(context.Background(), src.height)
	if err != nil {
		t.Fatal(err)
	}
	src.app.snapMu.Lock()
	src.app.snaps.list = append(src.app.snaps.list, s)
	src.app.snapMu.Unlock()

	dst := newChainWith(t, Config{Dir: filepath.Join(dir, "dst"), SnapshotDir: filepath.Join(dir, "dst-snapshots")})
	if got := restoreInto(t, dst, s, appHashAt(t, src, int64(s.Height)), chunks(t, src, s)); got != abci.ResponseApplySnapshotChunk_ACCEPT {
		t.Fatalf("last chunk: %v", got)
	}
	dst.height = int64(s.Height)
	var indexed int64
	if _, err := dst.app.tree.Iterate(func(_, _ []byte) bool { indexed++; return false }); err != nil {
		t.Fatal(err)
	}
	if size := dst.app.tree.Size(); indexed != size {
		t.Fatalf("the restored index holds %d of the state's %d entries", indexed, size)
	}
	// Execution reads every name on the restored node, as on the source.
	for i := range accts {
		name := fmt.Sprintf("l%d-%d", i/perBlock, i%perBlock)
		rec, err := dst.app.tree.Get(bns.RecordKey(name))
		if err != nil || rec == nil {
			t.Fatalf("name %s (%d of %d) is missing from the restored node's index (%v)", name, i+1, names, err)
		}
	}
	// Both go on with the same block to the same app hash.
	late := newAccount("late")
	for _, c := range []*chain{src, dst} {
		c.ok(late.preorder("late"))
		late.nonce = 0
	}
	if !bytes.Equal(dst.hash(), src.hash()) {
		t.Fatalf("after a block: restored %X, source %X", dst.hash(), src.hash())
	}
}
