package app

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/parley-im/parley/chain/bns"
)

// BenchmarkRegisterBlock measures one validator's work for a block of
// registrations: CheckTx of each, ProcessProposal, FinalizeBlock and Commit,
// with the state on disk. Reported per registration.
func BenchmarkRegisterBlock(b *testing.B) {
	const perBlock = 1000
	c := newChain(b, b.TempDir())
	ctx := context.Background()
	batch := 0
	b.ResetTimer()
	for done := 0; done < b.N; done += perBlock {
		b.StopTimer()
		var pre, reg [][]byte
		var accts []*account
		for i := 0; i < perBlock; i++ {
			a := newAccount(fmt.Sprint("bench", batch, "-", i))
			accts = append(accts, a)
			pre = append(pre, a.preorder(fmt.Sprintf("n%d-%d", batch, i)))
		}
		c.ok(pre...)
		c.age()
		for i, a := range accts {
			reg = append(reg, c.register(a, fmt.Sprintf("n%d-%d", batch, i)))
		}
		batch++
		b.StartTimer()
		for _, tx := range reg {
			if res, _ := c.app.CheckTx(ctx, &abci.RequestCheckTx{Tx: tx}); res.Code != 0 {
				b.Fatal(res.Log)
			}
		}
		if pp, _ := c.app.ProcessProposal(ctx, &abci.RequestProcessProposal{Height: c.height + 1, Txs: reg}); pp.Status != abci.ResponseProcessProposal_ACCEPT {
			b.Fatal("rejected")
		}
		c.ok(reg...)
	}
}

// BenchmarkStateGrowth registers 10,000 names, 1,000 per block, with the
// state on disk, and reports what a name costs: live state bytes (keys and
// values of the latest IAVL version) and IAVL leaves per name at 1k and 10k
// names, and bytes on disk per name (every kept version, LevelDB's files).
// Run with -benchtime 1x.
func BenchmarkStateGrowth(b *testing.B) {
	for range b.N {
		dir := b.TempDir()
		c := newChain(b, dir)
		measure := func(names int) (live, leaves, disk float64) {
			var bytes, n int64
			c.app.mu.Lock()
			c.app.tree.Iterate(func(k, v []byte) bool {
				bytes += int64(len(k) + len(v))
				n++
				return false
			})
			c.app.mu.Unlock()
			filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
				if err == nil && !fi.IsDir() {
					disk += float64(fi.Size())
				}
				return nil
			})
			return float64(bytes) / float64(names), float64(n) / float64(names), disk / float64(names)
		}
		registered := 0
		for _, target := range []int{1000, 10000} {
			for registered < target {
				var pre, reg [][]byte
				var accts []*account
				for i := 0; i < 1000; i++ {
					a := newAccount(fmt.Sprint("growth-", registered+i))
					accts = append(accts, a)
					pre = append(pre, a.preorder(fmt.Sprintf("g%d", registered+i)))
				}
				c.ok(pre...)
				c.age()
				for i, a := range accts {
					reg = append(reg, c.register(a, fmt.Sprintf("g%d", registered+i)))
				}
				c.ok(reg...)
				registered += 1000
			}
			live, leaves, disk := measure(registered)
			k := fmt.Sprint(target/1000, "k")
			b.ReportMetric(live, "live-B/name@"+k)
			b.ReportMetric(leaves, "leaves/name@"+k)
			b.ReportMetric(disk, "disk-B/name@"+k)
		}
	}
}

// BenchmarkThrowawayPreorders replays the squatter's flood: 39,000
// preorders from 39,000 throwaway keys, 1,000 per block, never revealed.
// It reports the live state (bytes of keys and values, and IAVL leaves)
// right after the flood and once every preorder and every transaction of
// the flood has expired (each signed to expire ttl blocks after its block),
// and the state on disk then. Run with -benchtime 1x.
func BenchmarkThrowawayPreorders(b *testing.B) {
	const total, perBlock, ttl = 39000, 1000, 50
	for range b.N {
		dir := b.TempDir()
		c := newChain(b, dir)
		live := func() (bytes, leaves float64) {
			c.app.mu.Lock()
			defer c.app.mu.Unlock()
			c.app.tree.Iterate(func(k, v []byte) bool {
				bytes += float64(len(k) + len(v))
				leaves++
				return false
			})
			return bytes, leaves
		}
		before, _ := live()
		for sent := 0; sent < total; sent += perBlock {
			var txs [][]byte
			for i := range perBlock {
				a := newAccount(fmt.Sprint("throwaway-", sent+i))
				a.expiresAt = c.height + 1 + ttl
				txs = append(txs, a.preorder(fmt.Sprint("t", sent+i)))
			}
			c.block(txs...)
		}
		flood, floodLeaves := live()
		c.skip(int(max(testParams.PreorderTTL+2, ttl+1)) + 1)
		for c.height%bns.PruneInterval != 0 { // the accounts' pruning check
			c.block()
		}
		c.skip(total / maintenanceBatch) // at most 2000 checks per block
		after, afterLeaves := live()
		var disk float64
		filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				disk += float64(fi.Size())
			}
			return nil
		})
		b.ReportMetric(before, "live-B-before")
		b.ReportMetric(flood, "live-B-flood")
		b.ReportMetric(floodLeaves, "leaves-flood")
		b.ReportMetric(after, "live-B-expired")
		b.ReportMetric(afterLeaves, "leaves-expired")
		b.ReportMetric(disk, "disk-B-expired")
	}
}

// BenchmarkRegisterState measures the state work of one validator per
// registration, in a state that already holds 20,000 names: the stateful
// part of CheckTx for each register, then FinalizeBlock and Commit of
// blocks of 1,000 registrations, the state on disk. Signatures are not
// made or verified (each transaction is entered in the checked cache as
// CheckTx would after verifying it), so the figure is what the key layout
// and IAVL cost, apart from Ed25519. Under callgrind, count the
// instructions of registerStateWork only (1,000 registrations with
// -benchtime 1x):
//
//	GODEBUG=asyncpreemptoff=1,gcshrinkstackoff=1 valgrind --tool=callgrind --collect-atstart=no \
//	  --toggle-collect='*chain/app.registerStateWork' \
//	  ./app.test -test.run '^$' -test.bench RegisterState -test.benchtime 1x
//
// Callgrind follows a function by its thread's calls and returns, which a
// goroutine breaks when it moves to another thread or grows its stack:
// so the benchmark locks its goroutine to its thread and grows its stack
// beforehand (and GODEBUG keeps the collector from shrinking it, and the
// scheduler from preempting by signals, which callgrind does not survive).
func BenchmarkRegisterState(b *testing.B) {
	const perBlock, prefill = 1000, 20000
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	growStack(32)
	c := newChain(b, b.TempDir())
	n := 0
	round := func() (regs [][]byte) {
		var accts []*account
		var pre [][]byte
		for i := 0; i < perBlock; i++ {
			a := newAccount(fmt.Sprint("state-", n+i))
			accts = append(accts, a)
			pre = append(pre, c.unsigned(a, a.preorderTx(fmt.Sprintf("s%d", n+i))))
		}
		c.ok(pre...)
		c.age()
		for i, a := range accts {
			regs = append(regs, c.unsigned(a, c.registerTx(a, fmt.Sprintf("s%d", n+i))))
		}
		n += perBlock
		return regs
	}
	for n < prefill {
		c.ok(round()...)
	}
	b.ResetTimer()
	var cpu time.Duration
	done := 0
	for ; done < b.N; done += perBlock {
		b.StopTimer()
		regs := round()
		b.StartTimer()
		before := processCPU()
		registerStateWork(c, regs)
		cpu += processCPU() - before
	}
	// CPU time of every thread of the process (the collector's and
	// LevelDB's compactions included): unlike ns/op, it hardly moves with
	// what else runs on the machine.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(done), "cpu-ns/reg")
}

// growStack grows the goroutine's stack by n times 32 KiB.
//
//go:noinline
func growStack(n int) byte {
	var buf [32 << 10]byte
	buf[n%len(buf)] = byte(n)
	if n > 0 {
		return growStack(n-1) + buf[n%len(buf)]
	}
	return buf[0]
}

// registerStateWork runs CheckTx of each transaction, then one block of
// them.
//
//go:noinline
func registerStateWork(c *chain, txs [][]byte) {
	for _, tx := range txs {
		if res, _ := c.app.CheckTx(context.Background(), &abci.RequestCheckTx{Tx: tx}); res.Code != 0 {
			c.t.Fatal(res.Log)
		}
	}
	c.ok(txs...)
}

// unsigned completes tx for a (nonce, expiry) with a zero signature and
// enters it in the app's cache of checked transactions, as if its
// signature had been verified.
func (c *chain) unsigned(a *account, tx *bns.Tx) []byte {
	tx.Signer, tx.Nonce, tx.ExpiresAt = a.pub, a.nonce, a.expiresAt
	a.nonce++
	raw := tx.Marshal()
	c.app.txs.mu.Lock()
	c.app.txs.ok[sha256.Sum256(raw)] = tx
	c.app.txs.mu.Unlock()
	return raw
}

// BenchmarkSnapshot registers 20,000 names (1,000 per block, state on
// disk), then measures a state sync snapshot of that state: the export
// (IAVL's Exporter, zlib, 4 MiB chunks on disk) and its restore into an
// empty node (every chunk checked, IAVL's Importer, the root compared with
// the app hash, the fast index built). Run with -benchtime 1x.
func BenchmarkSnapshot(b *testing.B) {
	const names, perBlock = 20000, 1000
	for range b.N {
		dir := b.TempDir()
		c := newChainWith(b, Config{Dir: filepath.Join(dir, "state"), SnapshotDir: filepath.Join(dir, "snapshots")})
		for batch := 0; batch < names/perBlock; batch++ {
			var pre, reg [][]byte
			var accts []*account
			for i := range perBlock {
				a := newAccount(fmt.Sprint("snap", batch, "-", i))
				accts = append(accts, a)
				pre = append(pre, a.preorder(fmt.Sprintf("s%d-%d", batch, i)))
			}
			c.ok(pre...)
			c.age()
			for i, a := range accts {
				reg = append(reg, c.register(a, fmt.Sprintf("s%d-%d", batch, i)))
			}
			c.ok(reg...)
		}
		b.ResetTimer()
		start := time.Now()
		s, size, err := c.app.makeSnapshot(context.Background(), c.height)
		if err != nil {
			b.Fatal(err)
		}
		export := time.Since(start)
		c.app.snapMu.Lock()
		c.app.snaps.list = append(c.app.snaps.list, s) // as maybeSnapshot does once made
		c.app.snapMu.Unlock()
		var chunks [][]byte
		for i := range s.Chunks {
			res, err := c.app.LoadSnapshotChunk(context.Background(), &abci.RequestLoadSnapshotChunk{Height: s.Height, Format: s.Format, Chunk: i})
			if err != nil || len(res.Chunk) == 0 {
				b.Fatalf("chunk %d of the snapshot: %v (%d bytes)", i, err, len(res.Chunk))
			}
			chunks = append(chunks, res.Chunk)
		}
		fresh := newChainWith(b, Config{Dir: filepath.Join(dir, "fresh"), SnapshotDir: filepath.Join(dir, "fresh-snapshots"),
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		start = time.Now()
		imm, err := c.app.reader.GetImmutable(int64(s.Height))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := fresh.app.OfferSnapshot(context.Background(), &abci.RequestOfferSnapshot{Snapshot: s, AppHash: imm.Hash()}); err != nil {
			b.Fatal(err)
		}
		for i, ch := range chunks {
			res, err := fresh.app.ApplySnapshotChunk(context.Background(), &abci.RequestApplySnapshotChunk{Index: uint32(i), Chunk: ch})
			if err != nil || res.Result != abci.ResponseApplySnapshotChunk_ACCEPT {
				b.Fatalf("chunk %d: %v %v", i, res, err)
			}
		}
		restore := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(export.Milliseconds()), "export-ms")
		b.ReportMetric(float64(restore.Milliseconds()), "restore-ms")
		b.ReportMetric(float64(size)/names, "snapshot-bytes/name")
		b.ReportMetric(float64(s.Chunks), "chunks")
	}
}
