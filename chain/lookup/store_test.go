package lookup_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	lightdb "github.com/cometbft/cometbft/light/store/db"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/cometbft/cometbft/types"

	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/chain/node"
	"github.com/parley-im/parley/chain/node/nodetest"
	"github.com/parley-im/parley/internal/await"
)

// earliest returns the oldest block the node at url still keeps.
func earliest(t *testing.T, url string) int64 {
	t.Helper()
	rpc, err := rpchttp.New(url, "/websocket")
	if err != nil {
		t.Fatal(err)
	}
	st, err := rpc.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.SyncInfo.EarliestBlockHeight
}

// storeSize counts the headers in the header store of dir.
func storeSize(t *testing.T, dir, chainID string) int {
	t.Helper()
	db, err := dbm.NewDB("light", dbm.GoLevelDBBackend, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return int(lightdb.New(db, chainID).Size())
}

// TestVerifiesForwardFromStore: a client last ran at height h; the chain
// moves on and its node prunes every block below h+20 (it keeps 5). A
// client started from the stored trust root alone cannot start (the
// nodes no longer serve that header: ErrRootPruned, not a silent trust on
// first use); one with the header store verifies forward from the
// newest header it verified and keeps only the newest StoreHeaders.
func TestVerifiesForwardFromStore(t *testing.T) {
	const chainID = "prune-test"
	n := nodetest.StartNode(t, chainID, nil, node.StartOptions{KeepRecent: 5})
	dir := t.TempDir()
	ctx := context.Background()
	var first *lookup.Client
	await.True(t, 2*time.Minute, "a light client with a store", func() bool {
		var err error
		first, err = lookup.New(ctx, lookup.Config{ChainID: chainID, Primary: n.URL, StoreDir: dir, MaxAge: time.Nanosecond})
		return err == nil
	})
	lb, err := first.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, hash := lb.Height, lb.Hash()
	for range lookup.StoreHeaders + 8 { // more updates than the store keeps
		if _, err := first.Latest(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// At least one header past the first (the loop may run within a block).
	await.True(t, 2*time.Minute, "a header past the trust root", func() bool {
		lb, err := first.Latest(ctx)
		return err == nil && lb.Height > h
	})
	first.Close()
	if got := storeSize(t, dir, chainID); got > lookup.StoreHeaders || got < 2 {
		t.Fatalf("the header store holds %d headers, want 2 to %d", got, lookup.StoreHeaders)
	}

	await.True(t, 2*time.Minute, "the node to prune past the trust root", func() bool { return earliest(t, n.URL) > h+20 })

	// From the trust root alone (what parley did before it kept a store).
	_, err = lookup.New(ctx, lookup.Config{ChainID: chainID, Primary: n.URL, TrustHeight: h, TrustHash: hash})
	if !errors.Is(err, lookup.ErrRootPruned) {
		t.Fatalf("from a pruned trust root: %v, want ErrRootPruned", err)
	}

	// From the store: forward from its newest header.
	c, err := lookup.New(ctx, lookup.Config{ChainID: chainID, Primary: n.URL, StoreDir: dir, TrustHeight: h, TrustHash: hash})
	if err != nil {
		t.Fatalf("from the header store after pruning: %v", err)
	}
	defer c.Close()
	now, err := c.Latest(ctx)
	if err != nil {
		t.Fatalf("verifying forward after pruning: %v", err)
	}
	if now.Height <= h+20 {
		t.Fatalf("verified height %d, want past %d", now.Height, h+20)
	}
	if _, err := c.Lookup(ctx, "nobody"); !errors.Is(err, lookup.ErrNotFound) {
		t.Fatalf("a verified lookup after pruning: %v", err)
	}
	if rh, rk := c.TrustRoot(); rh != h || !bytes.Equal(rk, hash) {
		t.Fatalf("trust root %d %X, want %d %X", rh, rk, h, hash)
	}
}

// TestTrustPeriodExpired: a client whose newest verified header is older
// than the trusting period refuses to start, with ErrTrustExpired, and
// keeps its store as it was (no trust on first use, no header taken from
// the node); once a recent root is pinned, it starts over from it.
func TestTrustPeriodExpired(t *testing.T) {
	url, chainID := startNode(t)
	dir := t.TempDir()
	ctx := context.Background()
	var c *lookup.Client
	await.True(t, 2*time.Minute, "a light client with a store", func() bool {
		var err error
		c, err = lookup.New(ctx, lookup.Config{ChainID: chainID, Primary: url, StoreDir: dir})
		return err == nil
	})
	lb, err := c.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, hash := c.TrustRoot()
	c.Close()

	later := func() time.Time { return time.Now().Add(lookup.DefaultTrustPeriod + time.Hour) }
	for _, cfg := range []lookup.Config{
		{ChainID: chainID, Primary: url, StoreDir: dir, TrustHeight: h, TrustHash: hash, Now: later},
		{ChainID: chainID, Primary: url, StoreDir: dir, Now: later}, // no root given: still no trust on first use
		{ChainID: chainID, Primary: url, StoreDir: dir, TrustPeriod: time.Nanosecond},
	} {
		if _, err := lookup.New(ctx, cfg); !errors.Is(err, lookup.ErrTrustExpired) {
			t.Fatalf("past the trusting period (%v): %v, want ErrTrustExpired", cfg.TrustPeriod, err)
		}
	}
	// Running past the trusting period (a long watch): Latest says so too.
	clock := time.Now()
	c, err = lookup.New(ctx, lookup.Config{ChainID: chainID, Primary: url, TrustHeight: h, TrustHash: hash, MaxAge: time.Nanosecond,
		Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(lookup.DefaultTrustPeriod + time.Hour)
	if _, err := c.Latest(ctx); !errors.Is(err, lookup.ErrTrustExpired) {
		t.Fatalf("Latest past the trusting period: %v, want ErrTrustExpired", err)
	}
	c.Close()

	// Re-pinned to a header known (out of band) to be recent, newer than
	// the store's: the store starts over from it.
	var fresh *types.LightBlock
	await.True(t, 2*time.Minute, "a header newer than the store's", func() bool {
		other, err := lookup.New(ctx, lookup.Config{ChainID: chainID, Primary: url})
		if err != nil {
			return false
		}
		defer other.Close()
		fresh, err = other.Latest(ctx)
		return err == nil && fresh.Height > lb.Height
	})
	c, err = lookup.New(ctx, lookup.Config{ChainID: chainID, Primary: url, StoreDir: dir, TrustHeight: fresh.Height, TrustHash: fresh.Hash()})
	if err != nil {
		t.Fatalf("after re-pinning: %v", err)
	}
	if rh, _ := c.TrustRoot(); rh != fresh.Height {
		t.Fatalf("trust root %d after re-pinning %d", rh, fresh.Height)
	}
	c.Close()
	db, err := dbm.NewDB("light", dbm.GoLevelDBBackend, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if first, _ := lightdb.New(db, chainID).FirstLightBlockHeight(); first != fresh.Height {
		t.Fatalf("the store begins at height %d after re-pinning %d", first, fresh.Height)
	}
}
