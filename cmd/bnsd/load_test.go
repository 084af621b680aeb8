package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/chain/node"
	"github.com/parley-im/parley/internal/chainload"
)

// TestLookupsDuringRegistrationLoad: people keep looking names up while a
// 4-validator chain commits thousands of registrations (submitted in bulk
// to all four nodes, as chainbench does). Every lookup gets a verified
// answer (the record, or the proof that a name not registered yet is
// free), none fails, and afterwards the registrations are found through
// every node.
func TestLookupsDuringRegistrationLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four node processes")
	}
	const accounts = 1500
	net := startNetwork(t, "load-test", 4, []string{"--block-time", "300ms"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	params := node.DefaultOptions().Params
	accts, err := chainload.Accounts(ctx, net.chainID, "load", accounts, params)
	if err != nil {
		t.Fatal(err)
	}
	rpcs, err := chainload.Dial(net.urls()...)
	if err != nil {
		t.Fatal(err)
	}

	// Eight readers through node0, cross-checked with node1 and node2 (as
	// chainbench reads), from before the load until after it.
	c := net.client(0, 1, 2)
	var (
		stop              atomic.Bool
		wg                sync.WaitGroup
		mu                sync.Mutex
		failures          []error
		found, free, done atomic.Int64
		slowest           atomic.Int64 // nanoseconds, logged only
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; !stop.Load(); i += 8 {
				a := accts[i%len(accts)]
				t0 := time.Now()
				rec, err := c.Lookup(ctx, a.Name)
				if d := int64(time.Since(t0)); d > slowest.Load() {
					slowest.Store(d) // racy maximum: for the log only
				}
				switch {
				case err == nil && rec.Owner == a.Owner:
					found.Add(1)
				case errors.Is(err, lookup.ErrNotFound):
					free.Add(1)
				default:
					if err == nil {
						err = errors.New("record of another owner")
					}
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
				done.Add(1)
			}
		}()
	}
	stopReaders := func() {
		stop.Store(true)
		wg.Wait()
	}
	defer stopReaders()

	from, err := rpcs.Height(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	pre := make([][]byte, len(accts))
	for i, a := range accts {
		pre[i] = a.Preorder(net.chainID, from+params.MaxTxTTL)
	}
	t.Logf("submitting %d preorders", len(pre))
	if err := rpcs.Submit(ctx, pre, 32); err != nil {
		t.Fatal(err)
	}
	res, err := rpcs.Follow(ctx, 0, from, pre)
	if err != nil {
		t.Fatal(err)
	}
	regs := make([][]byte, len(accts))
	var last int64
	for i, a := range accts {
		r := res[string(pre[i])]
		if r.Code != 0 {
			t.Fatalf("preorder of %s refused in block %d: code %d %s", a.Name, r.Height, r.Code, r.Log)
		}
		regs[i] = a.Register(net.chainID, r.Height, r.Height+params.MaxTxTTL)
		last = max(last, r.Height)
	}
	// Every node's mempool checks a register as if in the block after the
	// application's last commit, which can be one behind the height the
	// node reports (CometBFT stores a block before the application commits
	// it): the preorders must be old enough for the block after that.
	waitUntil(t, "the preorders to be old enough on every node", time.Minute, func() bool { return net.minHeight() >= last+params.MinPreorderAge })
	from, _ = rpcs.Height(ctx, 0)
	t.Logf("submitting %d registers", len(regs))
	if err := rpcs.Submit(ctx, regs, 32); err != nil {
		t.Fatal(err)
	}
	if res, err = rpcs.Follow(ctx, 0, from, regs); err != nil {
		t.Fatal(err)
	}
	// lastName is registered in the last block that holds a registration:
	// once a client proves it, every earlier one is provable through the
	// same header.
	lastName, top := accts[0], int64(0)
	for i, a := range accts {
		r := res[string(regs[i])]
		if r.Code != 0 {
			t.Fatalf("register of %s refused in block %d: code %d %s", a.Name, r.Height, r.Code, r.Log)
		}
		if r.Height > top {
			lastName, top = a, r.Height
		}
	}
	// The readers go on until they find the last registration.
	waitUntil(t, "the readers to see the last registration", time.Minute, func() bool {
		rec, err := c.Lookup(ctx, lastName.Name)
		return err == nil && rec.Owner == lastName.Owner
	})
	stopReaders()
	t.Logf("%d lookups during the load: %d found, %d not registered yet, %d failed; slowest %v",
		done.Load(), found.Load(), free.Load(), len(failures), time.Duration(slowest.Load()).Round(time.Millisecond))
	if len(failures) > 0 {
		t.Fatalf("%d of %d lookups failed; first: %v", len(failures), done.Load(), failures[0])
	}
	if found.Load() == 0 || free.Load() == 0 {
		t.Fatalf("the readers did not overlap the load: %d found, %d free", found.Load(), free.Load())
	}

	// The registrations are there through every node (one in 15 of them
	// through each), once that node has the last block with one.
	for i := range net.nodes {
		ci := net.client(i, (i+1)%4, (i+2)%4)
		waitUntil(t, fmt.Sprintf("node%d to prove the registration of block %d", i, top), time.Minute, func() bool {
			rec, err := ci.Lookup(ctx, lastName.Name)
			return err == nil && rec.Owner == lastName.Owner
		})
		for k := i; k < len(accts); k += 15 {
			a := accts[k]
			rec, err := ci.Lookup(ctx, a.Name)
			if err != nil || rec.Owner != a.Owner {
				t.Fatalf("%s through node%d: %v", a.Name, i, err)
			}
		}
	}
}
