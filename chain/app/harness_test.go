package app

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/parley-im/parley/chain/bns"
)

const testChain = "parley-test"

var testParams = bns.Params{
	PreorderTTL:            5,
	MinPreorderAge:         2,
	PowDifficulty:          4,
	PreorderPowDifficulty:  4,
	MaxPreordersPerAccount: 3,
	NameLifetime:           20,
	GracePeriod:            5,
	MaxTxBytes:             8192,
	MaxNamesPerOwner:       3,
	MaxTxTTL:               testExpiry,
	MaxDevices:             3,
}

// testExpiry is the expiry height test accounts sign with unless told
// otherwise: every test chain stays below it.
const testExpiry = 1000

// chain drives an App directly, one block per call.
type chain struct {
	t      testing.TB
	app    *App
	height int64
	// preorders maps each committed preorder's commitment to its height,
	// so registers can name it.
	preorders map[[32]byte]int64
	// afterCommit, if set, runs after each block's commit.
	afterCommit func()
}

func newChain(t testing.TB, dir string) *chain {
	t.Helper()
	return newChainWith(t, Config{ChainID: testChain, Dir: dir})
}

// newChainWith is newChain with a whole configuration (its chain ID is
// set here).
func newChainWith(t testing.TB, cfg Config) *chain {
	t.Helper()
	cfg.ChainID = testChain
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	c := &chain{t: t, app: a, preorders: make(map[[32]byte]int64)}
	info, _ := a.Info(context.Background(), &abci.RequestInfo{})
	c.height = info.LastBlockHeight
	if c.height == 0 {
		if _, err := a.InitChain(context.Background(), &abci.RequestInitChain{ChainId: testChain, AppStateBytes: mustJSON(testParams), InitialHeight: 1}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func mustJSON(p bns.Params) []byte {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return b
}

// block finalizes and commits one block of raw transactions and returns each
// transaction's result code.
func (c *chain) block(txs ...[]byte) []bns.Code {
	c.t.Helper()
	c.height++
	res, err := c.app.FinalizeBlock(context.Background(), &abci.RequestFinalizeBlock{
		Height: c.height, Txs: txs, Time: time.Unix(1700000000+c.height, 0),
	})
	if err != nil {
		c.t.Fatalf("finalize %d: %v", c.height, err)
	}
	if _, err := c.app.Commit(context.Background(), &abci.RequestCommit{}); err != nil {
		c.t.Fatalf("commit %d: %v", c.height, err)
	}
	if c.afterCommit != nil {
		c.afterCommit()
	}
	codes := make([]bns.Code, len(res.TxResults))
	for i, r := range res.TxResults {
		codes[i] = bns.Code(r.Code)
		if tx, err := bns.DecodeTx(txs[i]); err == nil && tx.Type == bns.TxPreorder && r.Code == 0 {
			c.preorders[tx.Commitment] = c.height
		}
	}
	return codes
}

// ok runs a block and fails the test unless every transaction succeeded.
func (c *chain) ok(txs ...[]byte) {
	c.t.Helper()
	for i, code := range c.block(txs...) {
		if code != bns.CodeOK {
			c.t.Fatalf("height %d tx %d: code %s", c.height, i, code)
		}
	}
}

// skip commits n empty blocks.
func (c *chain) skip(n int) {
	for range n {
		c.block()
	}
}

// nextCheck is the first height after h at which pruning checks run
// (a multiple of bns.PruneInterval).
func nextCheck(h int64) int64 { return (h/bns.PruneInterval + 1) * bns.PruneInterval }

func (c *chain) record(name string) *bns.Record {
	c.t.Helper()
	res, err := c.app.Query(context.Background(), &abci.RequestQuery{Path: bns.QueryName, Data: []byte(name)})
	if err != nil || res.Code != 0 {
		c.t.Fatalf("query %q: %v %s", name, err, res.Log)
	}
	if res.Value == nil {
		return nil
	}
	r, err := bns.UnmarshalRecord(res.Value)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

func (c *chain) hash() []byte {
	info, _ := c.app.Info(context.Background(), &abci.RequestInfo{})
	return info.LastBlockAppHash
}

// account is a test key with its own nonce counter, and the expiry height
// it signs with.
type account struct {
	priv      ed25519.PrivateKey
	pub       bns.PublicKey
	nonce     uint64
	expiresAt int64
}

func newAccount(seed string) *account {
	s := sha256.Sum256([]byte(seed))
	priv := ed25519.NewKeyFromSeed(s[:])
	return &account{priv: priv, pub: bns.PublicKeyOf(priv), expiresAt: testExpiry}
}

func (a *account) sign(tx *bns.Tx) []byte {
	tx.Nonce = a.nonce
	tx.ExpiresAt = a.expiresAt
	a.nonce++
	tx.Sign(testChain, a.priv)
	return tx.Marshal()
}

func testProfile(seed string) bns.Profile {
	s := sha256.Sum256([]byte("sig" + seed))
	sk := ed25519.NewKeyFromSeed(s[:])
	ek, err := hpke.DHKEM(ecdhX25519()).DeriveKeyPair([]byte("enc-key-material-" + seed))
	if err != nil {
		panic(err)
	}
	return bns.Profile{
		SigningKey: bns.PublicKeyOf(sk),
		EncKeys:    []bns.EncKey{{KEM: bns.KEMX25519, Key: ek.PublicKey().Bytes()}},
		Hubs:       []string{"http://127.0.0.1:4000"},
	}
}

func saltOf(s string) [32]byte { return sha256.Sum256([]byte("salt" + s)) }

func (a *account) preorder(name string) []byte { return a.sign(a.preorderTx(name)) }

// preorderTx is a's preorder of name, unsigned.
func (a *account) preorderTx(name string) *bns.Tx {
	commitment := bns.PreorderCommitment(testChain, name, saltOf(name), a.pub)
	stamp, err := bns.SolvePreorderPow(context.Background(), testChain, commitment, a.pub, testParams.PreorderPowDifficulty)
	if err != nil {
		panic(err)
	}
	return &bns.Tx{Type: bns.TxPreorder, Commitment: commitment, PowNonce: stamp}
}

// register makes a's register of name, naming the height at which a's
// preorder of it committed (0 if it did not).
func (c *chain) register(a *account, name string) []byte {
	return a.registerAt(name, c.preorders[bns.PreorderCommitment(testChain, name, saltOf(name), a.pub)])
}

func (a *account) registerAt(name string, preorderHeight int64) []byte {
	return a.sign(a.registerTxAt(name, preorderHeight))
}

// registerTx is a's register of name, unsigned, naming the height at which
// a's preorder of it committed.
func (c *chain) registerTx(a *account, name string) *bns.Tx {
	return a.registerTxAt(name, c.preorders[bns.PreorderCommitment(testChain, name, saltOf(name), a.pub)])
}

func (a *account) registerTxAt(name string, preorderHeight int64) *bns.Tx {
	nonce, err := bns.SolvePow(context.Background(), testChain, name, a.pub, testParams.PowDifficulty)
	if err != nil {
		panic(err)
	}
	return &bns.Tx{Type: bns.TxRegister, Name: name, Salt: saltOf(name), PreorderHeight: preorderHeight, Profile: testProfile(name + a.pub.String()), PowNonce: nonce}
}

func (a *account) update(name string, p bns.Profile) []byte {
	return a.sign(&bns.Tx{Type: bns.TxUpdate, Name: name, Profile: p})
}

func (a *account) transfer(name string, to *account) []byte {
	return a.sign(&bns.Tx{Type: bns.TxTransfer, Name: name, NewOwner: to.pub})
}

func (a *account) renew(name string) []byte  { return a.sign(&bns.Tx{Type: bns.TxRenew, Name: name}) }
func (a *account) revoke(name string) []byte { return a.sign(&bns.Tx{Type: bns.TxRevoke, Name: name}) }

// claim preorders name for a, waits until the preorder is old enough and
// registers it.
func (c *chain) claim(a *account, name string) {
	c.t.Helper()
	c.ok(a.preorder(name))
	c.age()
	c.ok(c.register(a, name))
}

// age commits the empty blocks after a preorder's that make it old enough
// to reveal in the next block.
func (c *chain) age() { c.skip(int(testParams.MinPreorderAge) - 1) }
