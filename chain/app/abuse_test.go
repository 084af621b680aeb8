package app

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/parley-im/parley/chain/bns"
)

// TestSquatterCannotSnipe: a squatter holds a standing preorder of a name;
// the victim preorders later and registers it; the squatter then reveals
// its older preorder. The registration is final: the squatter is refused
// and the victim keeps the name.
func TestSquatterCannotSnipe(t *testing.T) {
	c := newChain(t, "")
	squatter, victim := newAccount("squatter"), newAccount("victim")
	c.ok(squatter.preorder("alice"))
	c.ok(victim.preorder("alice"))
	c.age()
	c.ok(c.register(victim, "alice"))
	if got := c.block(c.register(squatter, "alice")); got[0] != bns.CodeNameTaken {
		t.Fatalf("the squatter's register: %s, want %s", got[0], bns.CodeNameTaken)
	}
	if r := c.record("alice"); r.Owner != victim.pub || r.Seq != 1 {
		t.Fatalf("owner %s seq %d, want the victim's first registration", r.Owner, r.Seq)
	}
}

// TestPreordersPerAccountBounded: one key holds at most
// max_preorders_per_account live preorders; a reveal or an expiry frees a
// place.
func TestPreordersPerAccountBounded(t *testing.T) {
	c := newChain(t, "")
	a := newAccount("hoarder")
	var txs [][]byte
	for i := range testParams.MaxPreordersPerAccount + 1 {
		txs = append(txs, a.preorder(fmt.Sprint("n", i)))
	}
	codes := c.block(txs...)
	for i, code := range codes {
		want := bns.CodeOK
		if int64(i) >= testParams.MaxPreordersPerAccount {
			want = bns.CodeTooManyPreorders
		}
		if code != want {
			t.Fatalf("preorder %d: %s, want %s", i, code, want)
		}
	}
	if got := accountOf(c, a).Preorders; got != testParams.MaxPreordersPerAccount {
		t.Fatalf("live preorders %d", got)
	}
	// A reveal frees one place.
	a.nonce-- // the refused one did not use its nonce
	c.age()
	c.ok(c.register(a, "n0"))
	c.ok(a.preorder("after-reveal"))
	// Expiry frees the others.
	c.skip(int(testParams.PreorderTTL) + 2)
	if got := accountOf(c, a).Preorders; got != 0 {
		t.Fatalf("live preorders after expiry %d", got)
	}
	for i := range testParams.MaxPreordersPerAccount {
		c.ok(a.preorder(fmt.Sprint("again", i)))
	}
}

// TestExpiredNamesStopCounting: an owner at max_names_per_owner whose name
// expired may register another; the expired one no longer counts.
func TestExpiredNamesStopCounting(t *testing.T) {
	c := newChain(t, "")
	a := newAccount("a")
	c.claim(a, "n1")
	c.ok(a.preorder("n2"), a.preorder("n3"))
	c.age()
	c.ok(c.register(a, "n2"), c.register(a, "n3"))
	c.ok(a.preorder("n4"))
	c.age()
	if got := c.block(c.register(a, "n4")); got[0] != bns.CodeTooManyNames {
		t.Fatalf("a 4th live name: %s", got[0])
	}
	a.nonce--
	// n1 expires (the others were registered later and live on).
	for c.record("n1").Live(c.height + 1) {
		c.skip(1)
	}
	c.ok(a.preorder("n4"))
	c.age()
	c.ok(c.register(a, "n4"))
	if r := c.record("n4"); r.Owner != a.pub {
		t.Fatal("n4 not registered")
	}
}

// TestIdleAccountsPruned: the flood of throwaway preorders leaves no state
// once its preorders and transactions have expired; a replay of a flood
// transaction is refused by its expiry although the nonce entry is gone.
// An account holding a name keeps its nonce until the name's grace period
// ends. Two instances (memory, disk) reach the same app hashes.
func TestIdleAccountsPruned(t *testing.T) {
	mem, disk := newChain(t, ""), newChain(t, t.TempDir())
	both := func(txs ...[]byte) []bns.Code {
		a, b := mem.block(txs...), disk.block(txs...)
		if fmt.Sprint(a) != fmt.Sprint(b) || !bytes.Equal(mem.hash(), disk.hash()) {
			t.Fatalf("height %d: memory %v %X, disk %v %X", mem.height, a, mem.hash(), b, disk.hash())
		}
		return a
	}
	skip := func(n int) {
		for range n {
			both()
		}
	}
	// Start shortly before a pruning check, so the holder's name is still
	// held when it runs.
	skip(int(nextCheck(0) - 20))
	holder := newAccount("holder")
	holder.expiresAt = mem.height + 3
	var flood [][]byte
	var accts []*account
	for i := range 50 {
		a := newAccount(fmt.Sprint("throwaway", i))
		a.expiresAt = mem.height + 3
		accts = append(accts, a)
		flood = append(flood, a.preorder(fmt.Sprint("t", i)))
	}
	both(append(flood, holder.preorder("held"))...)
	skip(1)
	if got := both(mem.register(holder, "held")); got[0] != bns.CodeOK {
		t.Fatalf("holder's register: %s", got[0])
	}
	if _, ok := accountEntry(mem, accts[0]); !ok {
		t.Fatal("a throwaway account was pruned while its preorder was live")
	}
	// The flood's preorders and transactions have expired from height
	// h+PreorderTTL+2 on; its accounts go at the first pruning check after
	// that, not before.
	expired := mem.height + testParams.PreorderTTL + 2
	skip(int(nextCheck(expired) - 1 - mem.height))
	if _, ok := accountEntry(mem, accts[0]); !ok {
		t.Fatalf("a throwaway account was pruned at height %d, before the check at %d", mem.height, nextCheck(expired))
	}
	skip(1)
	for i, a := range accts {
		if _, ok := accountEntry(mem, a); ok {
			t.Fatalf("throwaway account %d still in the state", i)
		}
	}
	if n := countPrefix(mem, bns.PrunePrefix); n != 1 {
		t.Fatalf("%d pruning checks scheduled, want the holder's", n)
	}
	// The replayed preorder is refused by its expiry, not by its nonce.
	if got := mem.block(flood[0]); got[0] != bns.CodeTxExpired {
		t.Fatalf("replayed flood preorder: %s", got[0])
	}
	disk.block(flood[0])
	// The holder keeps its nonce while it holds the name, in grace too...
	for r := mem.record("held"); mem.height < r.ExpiresAt+testParams.GracePeriod; {
		skip(1)
		if _, ok := accountEntry(mem, holder); !ok {
			t.Fatalf("the holder was pruned at height %d; its name is held until %d", mem.height, r.ExpiresAt+testParams.GracePeriod)
		}
	}
	// ...and not after, from the next pruning check on.
	skip(int(nextCheck(mem.height) - mem.height))
	if _, ok := accountEntry(mem, holder); ok {
		t.Fatal("the holder's account outlived its name's grace period")
	}
	if got := mem.query(bns.QueryOwner, holder.pub[:]); got != nil {
		t.Fatalf("the holder's name list outlived it: %x", got)
	}
	if n := countPrefix(mem, bns.PrunePrefix); n != 0 {
		t.Fatalf("%d pruning checks left", n)
	}
}

func accountEntry(c *chain, a *account) (*bns.Account, bool) {
	c.t.Helper()
	res, err := c.app.Query(context.Background(), &abci.RequestQuery{Path: bns.QueryNonce, Data: a.pub[:]})
	if err != nil || res.Code != 0 {
		c.t.Fatalf("query nonce: %v %s", err, res.Log)
	}
	if res.Value == nil {
		return &bns.Account{}, false
	}
	acct, err := bns.UnmarshalAccount(res.Value)
	if err != nil {
		c.t.Fatal(err)
	}
	return acct, true
}

func accountOf(c *chain, a *account) *bns.Account {
	acct, _ := accountEntry(c, a)
	return acct
}

func countPrefix(c *chain, prefix []byte) int {
	c.app.mu.Lock()
	defer c.app.mu.Unlock()
	n := 0
	c.app.tree.IterateRange(prefix, prefixEnd(prefix), true, func(k, v []byte) bool {
		n++
		return false
	})
	return n
}

// TestExpiredLeaveTheMempool: a transaction admitted to the mempool that
// expires before a block takes it is evicted by the recheck and left out
// of proposals.
func TestExpiredLeaveTheMempool(t *testing.T) {
	c := newChain(t, "")
	c.skip(1)
	a := newAccount("a")
	a.expiresAt = c.height + 1
	tx := a.preorder("alice")
	if res, _ := c.app.CheckTx(context.Background(), &abci.RequestCheckTx{Tx: tx}); res.Code != 0 {
		t.Fatalf("CheckTx: %s", res.Log)
	}
	c.skip(1) // a block without it: it expires
	if res, _ := c.app.CheckTx(context.Background(), &abci.RequestCheckTx{Tx: tx, Type: abci.CheckTxType_Recheck}); bns.Code(res.Code) != bns.CodeTxExpired {
		t.Fatalf("recheck of an expired transaction: %s %s", bns.Code(res.Code), res.Log)
	}
	prep, _ := c.app.PrepareProposal(context.Background(), &abci.RequestPrepareProposal{Height: c.height + 1, Txs: [][]byte{tx}, MaxTxBytes: 1 << 20})
	if len(prep.Txs) != 0 {
		t.Fatal("an expired transaction was proposed")
	}
}

// TestPruneChecksSpacedFromTheDevicesHeight: before the devices height
// (protocol 2) an account's pruning check is due right after its
// transactions' expiry and moves with each; from it on (protocol 3) the
// check falls on the next multiple of bns.PruneInterval, so a later
// transaction whose expiry stays below it writes no check; an account is
// pruned at that check, not before.
func TestPruneChecksSpacedFromTheDevicesHeight(t *testing.T) {
	const upgrade = 10
	c := newChainWith(t, Config{DevicesHeight: upgrade})
	checkOf := func(a *account) int64 {
		t.Helper()
		acct, ok := accountEntry(c, a)
		if !ok {
			t.Fatal("no account")
		}
		return acct.PruneAt
	}
	before := newAccount("before")
	before.expiresAt = 30
	c.ok(before.preorder("before"))
	if got := checkOf(before); got != 31 {
		t.Fatalf("check before the devices height at %d, want 31", got)
	}
	for c.height < upgrade {
		c.block()
	}
	after := newAccount("after")
	after.expiresAt = 40
	c.ok(after.preorder("after"))
	if got, want := checkOf(after), nextCheck(40); got != want {
		t.Fatalf("check after the devices height at %d, want %d", got, want)
	}
	after.expiresAt = 50
	c.ok(after.preorder("after2"))
	if got, want := checkOf(after), nextCheck(40); got != want {
		t.Fatalf("a later expiry moved the check to %d, want it at %d", got, want)
	}
	if n := countPrefix(c, bns.PrunePrefix); n != 2 {
		t.Fatalf("%d pruning checks, want one per account", n)
	}
	for c.height < nextCheck(40)-1 {
		c.block()
	}
	if _, ok := accountEntry(c, after); !ok {
		t.Fatalf("pruned at height %d, before its check", c.height)
	}
	c.block()
	if _, ok := accountEntry(c, after); ok {
		t.Fatal("not pruned at its check")
	}
	if _, ok := accountEntry(c, before); ok {
		t.Fatal("the account checked before the devices height was not pruned")
	}
}
