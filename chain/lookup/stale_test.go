package lookup_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/internal/await"
)

// TestFrozenNodeHidesAChangeForBoundedTime: the node a client asks
// stops its view of the chain at one height (it says its head is there
// and serves nothing newer) while the chain goes on: alice's name gets new
// keys (as after a revocation or a stolen device) in a block it hides.
// Every header it serves is genuine and a witness has it too, so the
// light client verifies each; without a bound on how old the newest
// verified header may be, the client would answer from the frozen state
// for the whole trusting period (a week), and a sender would seal to keys
// that were replaced. Once the newest header is older than MaxLag, every
// lookup is refused with a *StaleError (which also says "unreachable", so
// a caller treats it as a chain that does not answer: what it holds
// serves reading, nothing new is written).
func TestFrozenNodeHidesAChangeForBoundedTime(t *testing.T) {
	url, chainID := startNode(t)
	honest := newClient(t, url, chainID)
	alice := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	register(t, honest, alice, "alice", profile("alice", "http://127.0.0.1:4000"))

	frozen := &laggard{node: url}
	srv := httptest.NewServer(frozen)
	defer srv.Close()
	var skew atomic.Int64 // how far this client's clock is moved on
	c, err := lookup.New(context.Background(), lookup.Config{ChainID: chainID, Primary: srv.URL, Witnesses: []string{url}, MaxAge: time.Nanosecond,
		Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	old := waitRecord(t, c, "alice")

	h, err := frozen.head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	frozen.mu.Lock()
	frozen.frozen = h
	frozen.mu.Unlock()
	ctx := context.Background()
	if _, err := honest.Submit(ctx, alice, &bns.Tx{Type: bns.TxUpdate, Name: "alice", Profile: profile("alice-new", "http://127.0.0.1:4000")}); err != nil {
		t.Fatal(err)
	}
	await.True(t, 2*time.Minute, "alice's new keys through an honest node", func() bool {
		rec, err := honest.Lookup(ctx, "alice")
		return err == nil && rec.Seq > old.Seq
	})

	// Within MaxLag the frozen node can still show the old record: that
	// is the bound's price.
	if rec, err := c.Lookup(ctx, "alice"); err != nil || rec.Seq != old.Seq {
		t.Fatalf("lookup through the frozen node right after the change: %v, %v", rec, err)
	}
	// Past it, nothing is answered from the frozen state.
	skew.Store(int64(lookup.DefaultMaxLag + time.Minute))
	rec, err := c.Lookup(ctx, "alice")
	var se *lookup.StaleError
	if !errors.As(err, &se) || !errors.Is(err, lookup.ErrStale) || !errors.Is(err, lookup.ErrUnreachable) {
		if err == nil {
			t.Fatalf("a node frozen %v before the client's clock still answers: alice's record seq %d (the chain's is newer), want ErrStale", lookup.DefaultMaxLag+time.Minute, rec.Seq)
		}
		t.Fatalf("lookup through a node frozen past MaxLag: %v, want a *StaleError", err)
	}
	if se.Height > h+1 || se.Lag < lookup.DefaultMaxLag {
		t.Fatalf("stale error names height %d, lag %v (frozen at %d)", se.Height, se.Lag, h)
	}
	if _, err := c.Height(ctx); !errors.Is(err, lookup.ErrStale) {
		t.Fatalf("Height through the frozen node: %v, want ErrStale", err)
	}

	// The node catches up: lookups answer again, with the new keys.
	frozen.mu.Lock()
	frozen.frozen = 0
	frozen.mu.Unlock()
	skew.Store(0)
	if rec, err := c.Lookup(ctx, "alice"); err != nil || rec.Seq == old.Seq {
		t.Fatalf("lookup once the node caught up: %v, %v", rec, err)
	}
}
