package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
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
