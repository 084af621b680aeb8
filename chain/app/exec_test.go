package app

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/parley-im/parley/chain/bns"
)

func TestRegisterFlow(t *testing.T) {
	c := newChain(t, "")
	alice := newAccount("alice")
	c.ok(alice.preorder("alice"))
	preHeight := c.height
	c.age()
	c.ok(c.register(alice, "alice"))

	r := c.record("alice")
	if r == nil {
		t.Fatal("alice not registered")
	}
	if r.Owner != alice.pub || r.Seq != 1 || r.RegisteredAt != c.height || r.PreorderHeight != preHeight ||
		r.ExpiresAt != c.height+testParams.NameLifetime || r.Revoked {
		t.Fatalf("record = %+v", r)
	}
	if got, want := r.Profile.Hubs, testProfile("alice"+alice.pub.String()).Hubs; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("hubs = %v, want %v", got, want)
	}
	// The preorder is consumed.
	if b, _ := c.app.tree.Get(bns.PreorderKey(preHeight, bns.PreorderCommitment(testChain, "alice", saltOf("alice"), alice.pub))); b != nil {
		t.Fatal("preorder still present after register")
	}
}

// TestRefusals runs every refusal: each case builds the state it needs, then
// one transaction that must fail with the given code and change nothing.
func TestRefusals(t *testing.T) {
	// The refusals that need no state: a block holding one is invalid.
	stateless := map[bns.Code]bool{
		bns.CodeMalformed: true, bns.CodeTooLarge: true, bns.CodeBadSignature: true,
		bns.CodeInvalidName: true, bns.CodeInvalidProfile: true, bns.CodeUnauthorized: false,
		// The expiry depends on the bytes and the block's height only.
		bns.CodeTxExpired: true, bns.CodeExpiryTooFar: true,
	}
	cases := []struct {
		name  string
		setup func(c *chain) []byte // returns the transaction under test
		want  bns.Code
	}{
		{"malformed bytes", func(c *chain) []byte { return []byte{1, 2, 3} }, bns.CodeMalformed},
		{"unknown version", func(c *chain) []byte {
			b := newAccount("a").preorder("alice")
			b[0] = 9
			return b
		}, bns.CodeMalformed},
		{"retired version 1 (no expiry height)", func(c *chain) []byte {
			b := newAccount("a").preorder("alice")
			b[0] = 1
			return b
		}, bns.CodeMalformed},
		{"no expiry height", func(c *chain) []byte {
			a := newAccount("a")
			a.expiresAt = 0
			return a.preorder("alice")
		}, bns.CodeMalformed},
		{"expired transaction", func(c *chain) []byte {
			c.skip(1)
			a := newAccount("a")
			a.expiresAt = c.height // the next block is above it
			return a.preorder("alice")
		}, bns.CodeTxExpired},
		{"expiry beyond max_tx_ttl", func(c *chain) []byte {
			c.skip(1)
			a := newAccount("a")
			a.expiresAt = c.height + 1 + testParams.MaxTxTTL + 1
			return a.preorder("alice")
		}, bns.CodeExpiryTooFar},
		{"preorder without its stamp", func(c *chain) []byte {
			a := newAccount("a")
			commitment := bns.PreorderCommitment(testChain, "alice", saltOf("alice"), a.pub)
			for n := uint64(0); ; n++ {
				if !bns.CheckPreorderPow(testChain, commitment, a.pub, n, testParams.PreorderPowDifficulty) {
					return a.sign(&bns.Tx{Type: bns.TxPreorder, Commitment: commitment, PowNonce: n})
				}
			}
		}, bns.CodeBadPow},
		{"too many live preorders", func(c *chain) []byte {
			a := newAccount("a")
			for i := range testParams.MaxPreordersPerAccount {
				c.ok(a.preorder(fmt.Sprint("n", i)))
			}
			return a.preorder("one-more")
		}, bns.CodeTooManyPreorders},
		{"trailing bytes", func(c *chain) []byte { return append(newAccount("a").preorder("alice"), 0) }, bns.CodeMalformed},
		{"oversized", func(c *chain) []byte { return make([]byte, testParams.MaxTxBytes+1) }, bns.CodeTooLarge},
		{"tampered signature", func(c *chain) []byte {
			b := newAccount("a").preorder("alice")
			b[len(b)-1] ^= 1
			return b
		}, bns.CodeBadSignature},
		{"signed for another chain", func(c *chain) []byte {
			a := newAccount("a")
			tx := &bns.Tx{Type: bns.TxPreorder, Commitment: [32]byte{1}, ExpiresAt: testExpiry}
			tx.Sign("other-chain", a.priv)
			return tx.Marshal()
		}, bns.CodeBadSignature},
		{"replayed nonce", func(c *chain) []byte {
			a := newAccount("a")
			b := a.preorder("alice")
			c.ok(b)
			return b
		}, bns.CodeBadNonce},
		{"nonce gap", func(c *chain) []byte {
			a := newAccount("a")
			a.nonce = 5
			return a.preorder("alice")
		}, bns.CodeBadNonce},
		{"invalid name", func(c *chain) []byte {
			a := newAccount("a")
			return a.sign(&bns.Tx{Type: bns.TxRenew, Name: "Alice"})
		}, bns.CodeInvalidName},
		{"invalid profile", func(c *chain) []byte {
			a := newAccount("a")
			c.claim(a, "alice")
			p := testProfile("x")
			p.Hubs = []string{"ftp://hub"}
			return a.update("alice", p)
		}, bns.CodeInvalidProfile},
		{"register without preorder", func(c *chain) []byte { return newAccount("a").registerAt("alice", c.height) }, bns.CodePreorderNotFound},
		{"front-running: reveal reused by another key", func(c *chain) []byte {
			a, m := newAccount("a"), newAccount("mallory")
			c.ok(a.preorder("alice"))
			return m.registerAt("alice", c.height) // same name, salt and height, Mallory's key
		}, bns.CodePreorderNotFound},
		{"same-block reveal", func(c *chain) []byte {
			a := newAccount("a")
			codes := c.block(a.preorder("alice"), a.registerAt("alice", c.height+1))
			if codes[0] != bns.CodeOK || codes[1] != bns.CodePreorderTooRecent {
				t.Fatalf("same block: codes %v", codes)
			}
			return a.registerAt("alice", c.height) // the next block may reveal: but nonce 1 was not used
		}, bns.CodeBadNonce},
		{"expired preorder", func(c *chain) []byte {
			a := newAccount("a")
			c.ok(a.preorder("alice"))
			c.skip(int(testParams.PreorderTTL))
			return c.register(a, "alice")
		}, bns.CodePreorderExpired},
		{"reveal younger than min_preorder_age", func(c *chain) []byte {
			a := newAccount("a")
			c.ok(a.preorder("alice"))
			return c.register(a, "alice") // the next block: age 1
		}, bns.CodePreorderTooRecent},
		{"bad proof of work", func(c *chain) []byte {
			a := newAccount("a")
			c.ok(a.preorder("alice"))
			preHeight := c.height
			c.age()
			for n := uint64(0); ; n++ {
				if !bns.CheckPow(testChain, "alice", a.pub, n, testParams.PowDifficulty) {
					return a.sign(&bns.Tx{Type: bns.TxRegister, Name: "alice", Salt: saltOf("alice"), PreorderHeight: preHeight, Profile: testProfile("a"), PowNonce: n})
				}
			}
		}, bns.CodeBadPow},
		{"name taken", func(c *chain) []byte {
			a, b := newAccount("a"), newAccount("b")
			c.ok(a.preorder("alice"), b.preorder("alice"))
			c.age()
			c.ok(c.register(a, "alice"))
			return c.register(b, "alice")
		}, bns.CodeNameTaken},
		{"sniping: an older preorder after the registration", func(c *chain) []byte {
			squatter, victim := newAccount("squatter"), newAccount("victim")
			c.ok(squatter.preorder("alice"))
			c.ok(victim.preorder("alice"))
			c.age()
			c.ok(c.register(victim, "alice"))
			return c.register(squatter, "alice")
		}, bns.CodeNameTaken},
		{"update by a stranger", func(c *chain) []byte {
			a, m := newAccount("a"), newAccount("m")
			c.claim(a, "alice")
			return m.update("alice", testProfile("m"))
		}, bns.CodeUnauthorized},
		{"update of a free name", func(c *chain) []byte { return newAccount("a").update("alice", testProfile("a")) }, bns.CodeNameNotFound},
		{"transfer then update by the old owner", func(c *chain) []byte {
			a, b := newAccount("a"), newAccount("b")
			c.claim(a, "alice")
			c.ok(a.transfer("alice", b))
			return a.update("alice", testProfile("a2"))
		}, bns.CodeUnauthorized},
		{"update of a revoked name", func(c *chain) []byte {
			a := newAccount("a")
			c.claim(a, "alice")
			c.ok(a.revoke("alice"))
			return a.update("alice", testProfile("a2"))
		}, bns.CodeNameRevoked},
		{"re-register a revoked name after expiry", func(c *chain) []byte {
			a, b := newAccount("a"), newAccount("b")
			c.claim(a, "alice")
			c.ok(a.revoke("alice"))
			c.skip(int(testParams.NameLifetime + testParams.GracePeriod))
			c.ok(b.preorder("alice"))
			c.age()
			return c.register(b, "alice")
		}, bns.CodeNameRevoked},
		{"update after expiry", func(c *chain) []byte {
			a := newAccount("a")
			c.claim(a, "alice")
			c.skip(int(testParams.NameLifetime))
			return a.update("alice", testProfile("a2"))
		}, bns.CodeNameExpired},
		{"renewal in grace by a stranger", func(c *chain) []byte {
			a, m := newAccount("a"), newAccount("m")
			c.claim(a, "alice")
			c.skip(int(testParams.NameLifetime))
			return m.renew("alice")
		}, bns.CodeUnauthorized},
		{"registration in grace by a stranger", func(c *chain) []byte {
			a, m := newAccount("a"), newAccount("m")
			c.claim(a, "alice")
			c.skip(int(testParams.NameLifetime) - 1)
			c.ok(m.preorder("alice"))
			c.age()
			return c.register(m, "alice")
		}, bns.CodeNameTaken},
		{"renewal after grace", func(c *chain) []byte {
			a := newAccount("a")
			c.claim(a, "alice")
			c.skip(int(testParams.NameLifetime + testParams.GracePeriod))
			return a.renew("alice")
		}, bns.CodeNameExpired},
		{"too many names", func(c *chain) []byte {
			a := newAccount("a")
			for _, n := range []string{"n1", "n2", "n3"} {
				c.claim(a, n)
			}
			c.ok(a.preorder("n4"))
			c.age()
			return c.register(a, "n4")
		}, bns.CodeTooManyNames},
		{"renewal in grace above the live-name limit", func(c *chain) []byte {
			a := newAccount("a")
			c.claim(a, "n1")
			c.skip(int(testParams.NameLifetime) - 2) // n1 expired, in grace
			c.ok(a.preorder("n2"), a.preorder("n3"), a.preorder("n4"))
			c.age()
			c.ok(c.register(a, "n2"), c.register(a, "n3"), c.register(a, "n4"))
			return a.renew("n1")
		}, bns.CodeTooManyNames},
		{"transfer to self", func(c *chain) []byte {
			a := newAccount("a")
			c.claim(a, "alice")
			return a.transfer("alice", a)
		}, bns.CodeMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newChain(t, "")
			c.t = t
			raw := tc.setup(c)
			if c.height == 0 {
				c.block() // so there is an app hash to compare
			}
			before := c.hash()

			// CheckTx refuses it with the same code...
			chk, err := c.app.CheckTx(context.Background(), &abci.RequestCheckTx{Tx: raw})
			if err != nil {
				t.Fatal(err)
			}
			if got := bns.Code(chk.Code); got != tc.want {
				t.Errorf("CheckTx code = %s (%s), want %s", got, chk.Log, tc.want)
			}
			if chk.Log == "" || chk.Codespace != bns.Codespace {
				t.Errorf("CheckTx refusal without log or codespace: %+v", chk)
			}
			// ...ProcessProposal rejects a block holding it if the refusal
			// is stateless (only a faulty proposer makes such a block)...
			pp, _ := c.app.ProcessProposal(context.Background(), &abci.RequestProcessProposal{Height: c.height + 1, Txs: [][]byte{raw}})
			if got, want := pp.Status == abci.ResponseProcessProposal_REJECT, stateless[tc.want]; got != want {
				t.Errorf("ProcessProposal rejected = %v, want %v", got, want)
			}
			// ...and FinalizeBlock refuses it without changing the state.
			if got := c.block(raw); got[0] != tc.want {
				t.Errorf("FinalizeBlock code = %s, want %s", got[0], tc.want)
			}
			if after := c.hash(); !bytes.Equal(before, after) {
				t.Errorf("app hash changed by a refused tx")
			}
		})
	}
}

// TestDuplicatePreorder: the same commitment twice in one block is refused
// the second time. (At another height it is a separate preorder, harmless:
// only its owner can make it, and it expires.)
func TestDuplicatePreorder(t *testing.T) {
	c := newChain(t, "")
	a := newAccount("a")
	if got := c.block(a.preorder("alice"), a.preorder("alice")); got[0] != bns.CodeOK || got[1] != bns.CodePreorderExists {
		t.Fatalf("codes = %v", got)
	}
}

// TestFrontRunningRefused: Mallory sees Alice's register (name and salt)
// in the mempool. Her own preorder of the name, made after seeing it, is
// too young to reveal in any block before Alice's register commits, even
// when Mallory proposes the block that holds both and puts hers first;
// afterwards the name is Alice's for good.
func TestFrontRunningRefused(t *testing.T) {
	c := newChain(t, "")
	alice, mallory := newAccount("alice"), newAccount("mallory")
	c.ok(alice.preorder("alice"))
	c.age()
	aliceReg := c.register(alice, "alice") // seen, and held back by Mallory as proposer
	c.ok(mallory.preorder("alice"))
	// The next block, by any other proposer, holds Alice's register; it
	// may hold Mallory's too, even first: hers is one block old.
	if got := c.block(c.register(mallory, "alice"), aliceReg); got[0] != bns.CodePreorderTooRecent || got[1] != bns.CodeOK {
		t.Fatalf("mallory first, then alice, in one block: %v", got)
	}
	if r := c.record("alice"); r.Owner != alice.pub || r.Seq != 1 {
		t.Fatalf("owner %s seq %d, want alice's registration", r.Owner, r.Seq)
	}
	mallory.nonce-- // her refused register did not use its nonce
	if got := c.block(c.register(mallory, "alice")); got[0] != bns.CodeNameTaken {
		t.Fatalf("mallory's register after alice's: %s", got[0])
	}
}

func (c *chain) query(path string, data []byte) []byte {
	c.t.Helper()
	res, err := c.app.Query(context.Background(), &abci.RequestQuery{Path: path, Data: data})
	if err != nil || res.Code != 0 {
		c.t.Fatalf("query %s: %v %s", path, err, res.Log)
	}
	return res.Value
}

func TestLifecycle(t *testing.T) {
	c := newChain(t, "")
	alice, bob := newAccount("alice"), newAccount("bob")
	c.claim(alice, "alice")

	p2 := testProfile("alice-2")
	c.ok(alice.update("alice", p2))
	if r := c.record("alice"); r.Profile.SigningKey != p2.SigningKey || r.Seq != 2 {
		t.Fatalf("after update: %+v", r)
	}

	// Renewal in grace by the owner extends the expiry.
	c.skip(int(testParams.NameLifetime))
	if r := c.record("alice"); r.Live(c.height + 1) {
		t.Fatal("name should have expired")
	}
	c.ok(alice.renew("alice"))
	if r := c.record("alice"); r.ExpiresAt != c.height+testParams.NameLifetime {
		t.Fatalf("renewed expiry %d", r.ExpiresAt)
	}

	// Transfer clears the keys; the new owner publishes its own.
	c.ok(alice.transfer("alice", bob))
	r := c.record("alice")
	if r.Owner != bob.pub || !r.Profile.IsEmpty() {
		t.Fatalf("after transfer: %+v", r)
	}
	c.ok(bob.update("alice", testProfile("bob")))
	if acct, ok := accountEntry(c, bob); !ok || !slices.Equal(acct.Names, []string{"alice"}) {
		t.Fatalf("bob's account = %+v", acct)
	}

	c.ok(bob.revoke("alice"))
	r = c.record("alice")
	if !r.Revoked || !r.Profile.IsEmpty() || r.Live(c.height) {
		t.Fatalf("after revoke: %+v", r)
	}

	// The whole history is there, in order, and chains to the record.
	entries, err := bns.UnmarshalHistory(c.query(bns.QueryHistory, []byte("alice")))
	if err != nil {
		t.Fatal(err)
	}
	var ops []bns.Op
	for _, e := range entries {
		ops = append(ops, e.Op)
	}
	want := []bns.Op{bns.OpRegister, bns.OpUpdate, bns.OpRenew, bns.OpTransfer, bns.OpUpdate, bns.OpRevoke}
	if len(ops) != len(want) {
		t.Fatalf("history ops = %v, want %v", ops, want)
	}
	for i := range want {
		if ops[i] != want[i] {
			t.Fatalf("history ops = %v, want %v", ops, want)
		}
	}
	if err := bns.VerifyHistory(r, entries); err != nil {
		t.Fatal(err)
	}
	if err := bns.VerifyHistory(r, entries[:len(entries)-1]); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("has %d entries, the record says %d", len(entries)-1, len(entries))) {
		t.Fatalf("a truncated history: %v, want it refused as short", err)
	}
	if a, err := bns.UnmarshalAccount(c.query(bns.QueryNonce, alice.pub[:])); err != nil || a.Nonce != alice.nonce {
		t.Fatalf("alice's account %+v (%v), want nonce %d", a, err, alice.nonce)
	}
}

func TestReregisterAfterGrace(t *testing.T) {
	c := newChain(t, "")
	alice, bob := newAccount("alice"), newAccount("bob")
	c.claim(alice, "alice")
	c.skip(int(testParams.NameLifetime + testParams.GracePeriod))
	c.claim(bob, "alice")
	r := c.record("alice")
	if r.Owner != bob.pub || r.Seq != 2 {
		t.Fatalf("record %+v", r)
	}
	if acct, _ := accountEntry(c, alice); len(acct.Names) != 0 {
		t.Fatalf("alice still lists %v", acct.Names)
	}
}

func TestPreordersExpireFromState(t *testing.T) {
	c := newChain(t, "")
	a := newAccount("a")
	c.ok(a.preorder("alice"))
	key := bns.PreorderKey(c.height, bns.PreorderCommitment(testChain, "alice", saltOf("alice"), a.pub))
	c.skip(int(testParams.PreorderTTL) + 2)
	if b, _ := c.app.tree.Get(key); b != nil {
		t.Fatal("expired preorder still in state")
	}
}

func TestMempoolNonces(t *testing.T) {
	c := newChain(t, "")
	a := newAccount("a")
	tx0, tx1 := a.preorder("n1"), a.preorder("n2")
	check := func(raw []byte, want bns.Code, typ abci.CheckTxType) {
		t.Helper()
		res, _ := c.app.CheckTx(context.Background(), &abci.RequestCheckTx{Tx: raw, Type: typ})
		if bns.Code(res.Code) != want {
			t.Fatalf("CheckTx = %s (%s), want %s", bns.Code(res.Code), res.Log, want)
		}
	}
	check(tx0, bns.CodeOK, abci.CheckTxType_New)
	check(tx1, bns.CodeOK, abci.CheckTxType_New) // nonce 1 follows the admitted nonce 0
	check(tx0, bns.CodeBadNonce, abci.CheckTxType_New)

	// The proposer keeps the well-formed ones, in order, and drops garbage.
	prep, _ := c.app.PrepareProposal(context.Background(), &abci.RequestPrepareProposal{Height: c.height + 1, Txs: [][]byte{tx0, tx1, {7}}, MaxTxBytes: 1 << 20})
	if len(prep.Txs) != 2 || !bytes.Equal(prep.Txs[0], tx0) || !bytes.Equal(prep.Txs[1], tx1) {
		t.Fatalf("prepared %d txs", len(prep.Txs))
	}
	c.ok(tx0)
	// After the commit, the mempool's recheck of tx1 still passes, tx0 does not.
	check(tx1, bns.CodeOK, abci.CheckTxType_Recheck)
	check(tx0, bns.CodeBadNonce, abci.CheckTxType_Recheck)
}

// TestStateLayout: what each transaction writes is what docs/protocol.md
// ("State") says: a registration writes its record and its account and
// deletes the spent preorder (its account's pruning check moves only when
// its expiry crosses a multiple of bns.PruneInterval); its
// history entry is the record itself until the next change stores it
// next to the record.
func TestStateLayout(t *testing.T) {
	c := newChain(t, "")
	alice, bob := newAccount("alice"), newAccount("bob")
	written := func(raw []byte) map[string]bool {
		t.Helper()
		c.app.mu.Lock()
		x := c.app.execute(c.height+1, [][]byte{raw})
		c.app.mu.Unlock()
		if x.results[0].Code != 0 {
			t.Fatalf("code %d: %s", x.results[0].Code, x.results[0].Log)
		}
		got := make(map[string]bool) // key → deleted
		for k, v := range x.st.writes {
			got[k] = v == nil
		}
		c.ok(raw)
		return got
	}
	same := func(what string, got, want map[string]bool) {
		t.Helper()
		if !maps.Equal(got, want) {
			t.Errorf("%s writes (key: deleted):\n got  %v\n want %v", what, got, want)
		}
	}
	pre := alice.preorder("alice")
	h := c.height + 1
	// The pruning check falls on the first multiple of PruneInterval after
	// the expiry.
	check := nextCheck(testExpiry)
	same("preorder", written(pre), map[string]bool{
		string(bns.AccountKey(alice.pub)):      false,
		string(bns.PruneKey(check, alice.pub)): false,
		string(bns.PreorderKey(h, bns.PreorderCommitment(testChain, "alice", saltOf("alice"), alice.pub))): false,
	})
	c.age()
	alice.expiresAt = testExpiry + 1 // a later expiry, the same check
	same("register", written(c.register(alice, "alice")), map[string]bool{
		string(bns.RecordKey("alice")):    false,
		string(bns.AccountKey(alice.pub)): false,
		string(bns.PreorderKey(h, bns.PreorderCommitment(testChain, "alice", saltOf("alice"), alice.pub))): true,
	})
	same("update", written(alice.update("alice", testProfile("v2"))), map[string]bool{
		string(bns.RecordKey("alice")):     false,
		string(bns.HistoryKey("alice", 1)): false,
		string(bns.AccountKey(alice.pub)):  false,
	})
	same("transfer", written(alice.transfer("alice", bob)), map[string]bool{
		string(bns.RecordKey("alice")):     false,
		string(bns.HistoryKey("alice", 2)): false,
		string(bns.AccountKey(alice.pub)):  false,
		string(bns.AccountKey(bob.pub)):    false,
		string(bns.PruneKey(nextCheck(c.record("alice").ExpiresAt+testParams.GracePeriod), bob.pub)): false,
	})
	// The history is the stored entries, then the record's own.
	entries, err := bns.UnmarshalHistory(c.query(bns.QueryHistory, []byte("alice")))
	if err != nil {
		t.Fatal(err)
	}
	if err := bns.VerifyHistory(c.record("alice"), entries); err != nil || len(entries) != 3 {
		t.Fatalf("%d entries: %v", len(entries), err)
	}
	if acct, _ := accountEntry(c, bob); !slices.Equal(acct.Names, []string{"alice"}) {
		t.Fatalf("bob's account %+v", acct)
	}
	if acct, _ := accountEntry(c, alice); len(acct.Names) != 0 {
		t.Fatalf("alice's account %+v", acct)
	}
}
