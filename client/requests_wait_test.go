package client_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/internal/await"
)

// lagging is a directory a block behind: it proves one name absent until
// caught is set, and counts the lookups of that name.
type lagging struct {
	client.Directory
	name    string
	caught  atomic.Bool
	lookups atomic.Int64
}

func (l *lagging) Lookup(ctx context.Context, name string) (*bns.Record, error) {
	if name != l.name {
		return l.Directory.Lookup(ctx, name)
	}
	l.lookups.Add(1)
	if !l.caught.Load() {
		return nil, fmt.Errorf("%w: name %q (proved absent at height 1)", lookup.ErrNotFound, name)
	}
	return l.Directory.Lookup(ctx, name)
}

// TestRequestFromUnprovableSenderIsKept: bob, registered a moment ago,
// asks alice to be a contact while alice's node does not prove bob's name
// yet. The request is kept (reported as waiting, not refused), a running
// watch checks it again and announces it once bob is provable, and alice
// accepts it.
func TestRequestFromUnprovableSenderIsKept(t *testing.T) {
	w := newWorld(t)
	bob := w.user("bob", w.hubs[1])
	ctx := context.Background()
	id, err := keystore.New()
	if err != nil {
		t.Fatal(err)
	}
	dir := w.directory()
	profile, _ := id.Profile([]string{w.hubs[0]})
	var salt [32]byte
	rand.Read(salt[:])
	h, err := dir.Preorder(ctx, id.OwnerKey(), "alice", salt)
	if err == nil {
		_, err = dir.Register(ctx, id.OwnerKey(), "alice", salt, h, profile)
	}
	if err != nil {
		t.Fatal(err)
	}
	lag := &lagging{Directory: dir, name: "bob"}
	alice, err := client.Open(ctx, "alice", id, lag, w.hubs[0], "")
	if err != nil {
		t.Fatal(err)
	}
	w.settle("alice")

	if err := bob.Request(ctx, "alice", "hi alice, bob here"); err != nil {
		t.Fatal(err)
	}
	pending, bad, err := alice.Requests(ctx)
	if err != nil || len(pending) != 0 || len(bad) != 1 {
		t.Fatalf("requests while bob is not provable: %+v %v %v", pending, bad, err)
	}
	for _, e := range bad {
		if !errors.Is(e, client.ErrSenderUnknown) {
			t.Fatalf("the request is refused, not kept: %v", e)
		}
	}

	client.Configure(alice, client.WithWatchTimings(client.WatchTimings{Maintenance: 20 * time.Millisecond, Backup: time.Nanosecond}))
	announced := make(chan string, 4)
	watch(t, alice, func(m client.Notice) {
		if m.Kind == client.NoticeRequest {
			announced <- m.From
		}
	}, nil)
	// The watch looks at the request when it starts, and again later,
	// while bob is unknown (the first look was alice's Requests above)...
	await.True(t, 2*time.Minute, "the watch to check the request again (a third look at bob)", func() bool {
		return lag.lookups.Load() >= 3
	})
	select {
	case from := <-announced:
		t.Fatalf("announced a request from %s whose sender is not provable", from)
	default:
	}
	// ...and announces it once alice's node proves bob's name.
	lag.caught.Store(true)
	select {
	case from := <-announced:
		if from != "bob" {
			t.Fatalf("announced a request from %q", from)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the kept request was never announced")
	}
	pending, bad, err = alice.Requests(ctx)
	if err != nil || len(pending) != 1 || len(bad) != 0 || pending[0].From != "bob" {
		t.Fatalf("requests once bob is provable: %+v %v %v", pending, bad, err)
	}
	if err := alice.Accept(ctx, pending[0]); err != nil {
		t.Fatal(err)
	}
}
