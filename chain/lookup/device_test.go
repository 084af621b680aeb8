package lookup_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/chain/node"
	"github.com/parley-im/parley/chain/node/nodetest"
	"github.com/parley-im/parley/internal/await"
)

// TestVerifiedDevices: on a real node, a new device's offer is proved
// (and a made-up code proved absent), the owner adds it, and every
// verified lookup then returns the device list, the history says who
// added and removed it, and /link names the name that took the offer.
func TestVerifiedDevices(t *testing.T) {
	url, chainID := startNode(t)
	c := newClient(t, url, chainID)
	ctx := context.Background()
	owner := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	register(t, c, owner, "alice", profile("alice", "http://127.0.0.1:4000"))
	waitRecord(t, c, "alice")

	if _, err := c.Link(ctx, bns.LinkCode{9, 9, 9}); !errors.Is(err, lookup.ErrNotFound) {
		t.Fatalf("a made-up code: %v", err)
	}
	laptop := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, 32))
	p := profile("laptop", "http://127.0.0.1:4000")
	dev := bns.Device{SigningKey: bns.PublicKeyOf(laptop), EncKeys: p.EncKeys, Label: "laptop"}
	if _, _, err := c.OfferDevice(ctx, owner, dev); err == nil {
		t.Fatal("an offer signed by another key than the device's was submitted")
	}
	code, _, err := c.OfferDevice(ctx, laptop, dev)
	if err != nil {
		t.Fatal(err)
	}
	off, err := c.Link(ctx, code)
	if err != nil || off.Device.SigningKey != dev.SigningKey || off.TakenBy != "" {
		t.Fatalf("offer = %+v, %v", off, err)
	}
	if _, err := c.AddDevice(ctx, owner, "alice", code); err != nil {
		t.Fatal(err)
	}
	rec := await.Value(t, 2*time.Minute, "alice's record listing the laptop", func() (*bns.Record, error) {
		rec, err := c.Lookup(ctx, "alice")
		if err == nil && len(rec.Devices) != 1 {
			err = errors.New("not yet")
		}
		return rec, err
	})
	if d, ok := rec.Device(dev.SigningKey); !ok || d.Label != "laptop" || d.AddedAt == 0 || len(d.EncKeys) != 2 {
		t.Fatalf("laptop in the record: %+v %v", d, ok)
	}
	if off, err := c.Link(ctx, code); err != nil || off.TakenBy != "alice" {
		t.Fatalf("taken offer = %+v, %v", off, err)
	}
	// The laptop removes itself.
	if _, err := c.RemoveDevice(ctx, laptop, "alice", dev.SigningKey); err != nil {
		t.Fatal(err)
	}
	var entries []*bns.HistoryEntry
	await.True(t, 2*time.Minute, "alice's history with the removal", func() bool {
		rec, entries, err = c.History(ctx, "alice")
		return err == nil && len(entries) == 3
	})
	if entries[1].Op != bns.OpDeviceAdd || entries[1].Signer != bns.PublicKeyOf(owner) ||
		entries[2].Op != bns.OpDeviceRemove || entries[2].Signer != dev.SigningKey || len(rec.Devices) != 0 {
		t.Fatalf("history = %+v", entries)
	}
	// The removed laptop can no longer add a device.
	var ce *bns.CodeError
	if _, err := c.AddDevice(ctx, laptop, "alice", code); !errors.As(err, &ce) || ce.Code != bns.CodeUnauthorized {
		t.Fatalf("a removed device adding: %v", err)
	}
}

// TestDevicesUpgradeOnANode: a real node of a chain begun before
// protocol 3 (devices height 60, 50 ms blocks): CometBFT takes the app
// version change (the header of the devices height still says app 2, the
// next ones app 3), a link offer then goes through, and the node
// restarted without the setting keeps protocol 3 and the offer. (That
// device transactions are refused before the height is TestDevicesUpgrade
// in chain/app, block by block.)
func TestDevicesUpgradeOnANode(t *testing.T) {
	const upgrade = 60
	n := nodetest.StartNode(t, "upgrade-test", nil, node.StartOptions{DevicesHeight: upgrade})
	c := newClient(t, n.URL, "upgrade-test")
	ctx := context.Background()
	await.True(t, 2*time.Minute, "the chain past its devices height", func() bool {
		h, err := c.Height(ctx)
		return err == nil && h > upgrade+1
	})
	rpc, err := rpchttp.New(n.URL, "/websocket")
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range map[int64]uint64{upgrade - 1: 2, upgrade: 2, upgrade + 1: 3} {
		b, err := rpc.Block(ctx, &h)
		if err != nil {
			t.Fatal(err)
		}
		if b.Block.Version.App != want {
			t.Errorf("the header at height %d says app %d, want %d", h, b.Block.Version.App, want)
		}
	}
	laptop := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	p := profile("laptop", "http://127.0.0.1:4000")
	dev := bns.Device{SigningKey: bns.PublicKeyOf(laptop), EncKeys: p.EncKeys, Label: "laptop"}
	code, _, err := c.OfferDevice(ctx, laptop, dev)
	if err != nil {
		t.Fatal(err)
	}
	n.Stop()
	n.SetOptions(node.StartOptions{}) // restarted without the setting
	n.Restart()
	c2 := newClient(t, n.URL, "upgrade-test")
	off := await.Value(t, 2*time.Minute, "the offer after a restart", func() (*bns.PendingOffer, error) { return c2.Link(ctx, code) })
	if off.Device.Label != "laptop" {
		t.Fatalf("the offer after a restart: %+v", off)
	}
	if params, err := c2.Params(ctx); err != nil || params.DevicesHeight != upgrade {
		t.Fatalf("params after a restart: %+v %v", params, err)
	}
}
