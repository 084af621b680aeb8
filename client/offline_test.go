package client_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client"
)

// switchableChain is a Directory whose chain can be taken down.
type switchableChain struct {
	client.Directory
	down atomic.Bool
}

func (s *switchableChain) Lookup(ctx context.Context, name string) (*bns.Record, error) {
	if s.down.Load() {
		return nil, &client.OfflineError{What: "the chain", Err: syscall.ECONNREFUSED}
	}
	return s.Directory.Lookup(ctx, name)
}

// TestSendWaitsWhileTheChainIsDown: with the chain down (the hubs up), a
// message is sealed and queued, but does not go out before the contact's
// keys are checked; Offline names the chain once. Back, Flush sends it.
func TestSendWaitsWhileTheChainIsDown(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	_, bob, id, dir, state := pairOnDisk(t, w)
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}

	chain := &switchableChain{Directory: dir}
	chain.down.Store(true)
	offline, err := client.Open(ctx, "alice", id, chain, w.hubs[0], state)
	if err != nil {
		t.Fatal(err)
	}
	err = offline.Send(ctx, "bob", "while the chain is down")
	if !errors.Is(err, client.ErrQueued) || !client.IsOffline(err) {
		t.Fatalf("send with the chain down: %v, want ErrQueued and offline", err)
	}
	if got, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil || len(got) != 0 {
		t.Fatalf("bob received %v (%v) before alice's keys check", texts(got), err)
	}
	if off := offline.Offline(); len(off) != 1 || off[0].What != "the chain" || off[0].Error() != "the chain does not answer (connection refused)" {
		t.Fatalf("Offline() = %v", off)
	}
	if off := offline.Offline(); len(off) != 0 {
		t.Fatalf("Offline() again = %v, want nothing", off)
	}

	chain.down.Store(false)
	if err := offline.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := bob.Receive(ctx, client.ContactConv("alice"))
	if err != nil || strings.Join(texts(got), "|") != "while the chain is down" {
		t.Fatalf("bob received %v (%v) once the chain is back", texts(got), err)
	}
}
