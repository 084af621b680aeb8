package app

import (
	"context"
	"fmt"
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
