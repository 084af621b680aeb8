package lookup_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/chain/node"
	"github.com/parley-im/parley/chain/node/nodetest"
)

// slowNode runs a node with one-second blocks: a reader that starts right
// after a commit then sees the chain before the next block is made, as a
// person's second device does.
func slowNode(t *testing.T) (string, string) {
	return nodetest.StartWith(t, "slow-test", func(o *node.Options) { o.BlockTime = time.Second }), "slow-test"
}

// TestRegisteredNameIsProvableToOthers: once Register returns, a reader
// that starts then (another device, with its own light client) finds the
// name, at once.
func TestRegisteredNameIsProvableToOthers(t *testing.T) {
	url, chainID := slowNode(t)
	c := newClient(t, url, chainID)
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	register(t, c, priv, "carol", profile("carol", "http://127.0.0.1:4000"))
	other, err := lookup.New(context.Background(), lookup.Config{ChainID: chainID, Primary: url})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	rec, err := other.Lookup(context.Background(), "carol")
	if err != nil {
		t.Fatalf("another reader, right after the registration: %v", err)
	}
	if rec.Owner != bns.PublicKeyOf(priv) {
		t.Fatalf("owner %s", rec.Owner)
	}
}

// TestSubmitCountsAnotherProcessCommit: a transaction that one process
// committed is counted by the next process's Submit, right after: its
// nonce is not reused (bad_nonce).
func TestSubmitCountsAnotherProcessCommit(t *testing.T) {
	url, chainID := slowNode(t)
	first := newClient(t, url, chainID)
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32))
	register(t, first, priv, "dave", profile("dave", "http://127.0.0.1:4000"))
	ctx := context.Background()
	for i := range 2 {
		if _, err := first.Submit(ctx, priv, &bns.Tx{Type: bns.TxRenew, Name: "dave"}); err != nil {
			t.Fatalf("renew %d: %v", i, err)
		}
		next, err := lookup.New(ctx, lookup.Config{ChainID: chainID, Primary: url})
		if err != nil {
			t.Fatal(err)
		}
		_, err = next.Submit(ctx, priv, &bns.Tx{Type: bns.TxUpdate, Name: "dave", Profile: profile("dave-2", "http://127.0.0.1:4001")})
		next.Close()
		var ce *bns.CodeError
		if errors.As(err, &ce) && ce.Code == bns.CodeBadNonce {
			t.Fatalf("the next process's transaction: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
