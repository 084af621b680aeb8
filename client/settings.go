package client

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
)

// Settings travel between the user's devices as `setting` events in the
// self sessions (docs/protocol.md, Device-pair sessions): blocking and
// unblocking a name, read receipts on or off. The last writer by time
// wins: each device keeps, per setting, the stamp of the value it holds.

// stamp says when, and on which device (its signing key in hex), a
// setting took the value a device holds.
type stamp struct {
	T   int64  // the writing device's clock, Unix milliseconds
	Dev string // 64 lowercase hex digits
}

// after reports whether s is later than o: time first, then device.
func (s stamp) after(o stamp) bool {
	return cmp.Or(cmp.Compare(s.T, o.T), cmp.Compare(s.Dev, o.Dev)) > 0
}

// settingKey names a setting in Client.settingAt.
func settingKey(e *wire.Event) string {
	if e.Set == wire.SetBlock {
		return wire.SetBlock + ":" + e.Conv
	}
	return e.Set
}

// stampLocal stamps a change the user makes on this device to the
// setting of e: the greater of the clock and the held stamp + 1, so that
// it wins over any value this device holds; the caller holds c.mu.
func (c *Client) stampLocal(e *wire.Event) {
	k := settingKey(e)
	held := c.settingAt[k]
	e.Time = max(c.now().UnixMilli(), held.T+1)
	me := c.myDevice().Device
	c.settingAt[k] = stamp{T: e.Time, Dev: hex.EncodeToString(me[:])}
}

// takeSetting records e, read from the user's device dev, if it is later
// than the value held, and reports whether it is (then the caller applies
// it); the caller holds c.mu.
func (c *Client) takeSetting(e *wire.Event, dev string) bool {
	k := settingKey(e)
	s := stamp{T: e.Time, Dev: dev}
	if !s.after(c.settingAt[k]) {
		return false
	}
	c.settingAt[k] = s
	return true
}

// syncSetting tells the user's other devices of a setting the user
// changed here: a setting event in each self session, flushed at once
// (with the chain down, it waits, like a read marker).
func (c *Client) syncSetting(ctx context.Context, e *wire.Event) error {
	e.Kind = wire.KindSetting
	if err := c.refreshMine(ctx); err != nil && !IsOffline(err) {
		return err
	}
	c.mu.Lock()
	c.stampLocal(e)
	me := c.myDevice().Device
	others := slices.DeleteFunc(devicesOf(c.mine), func(d peerDevice) bool { return d.Key == me })
	for _, d := range others {
		s, err := c.sessionFor(&c.self, c.Name, d)
		if err == nil {
			err = sealIn(s, e, time.Time{})
		}
		if err != nil {
			c.mu.Unlock()
			return err
		}
	}
	if err := c.saveUnlock(); err != nil {
		return err
	}
	if len(others) == 0 {
		return nil
	}
	c.flushForMine(ctx)
	return nil
}

// heldSetting is a setting event read from another of the user's
// devices, with the stamp of the value this device held before it.
type heldSetting struct {
	e    *wire.Event
	prev stamp
	dev  bns.PublicKey // the device that wrote it
}

// quietAt reports whether t, a time of the contact's clock, lies in the
// span they were blocked on another of the user's devices.
func (ct *Contact) quietAt(t time.Time) bool {
	ms := t.UnixMilli()
	return ct.quiet[1] != 0 && ms >= ct.quiet[0] && ms < ct.quiet[1]
}

func quietFrom(q []int64) (out [2]int64) {
	if len(q) == 2 {
		out = [2]int64{q[0], q[1]}
	}
	return out
}

func quietOf(q [2]int64) []int64 {
	if q[1] == 0 {
		return nil
	}
	return q[:]
}

// applySettings applies settings read from the user's other devices
// (takeSetting kept them), in order, as the user changing them here
// would, without sending them on.
func (c *Client) applySettings(ctx context.Context, hs []heldSetting) error {
	var firstErr error
	for _, h := range hs {
		e := h.e
		var err error
		switch e.Set {
		case wire.SetBlock:
			switch {
			case e.On && !c.isBlocked(e.Conv):
				err = c.block(ctx, e.Conv)
			case !e.On && c.isBlocked(e.Conv):
				err = c.unblock(ctx, e.Conv, &[2]int64{h.prev.T, e.Time})
			}
		case wire.SetReceipts:
			if c.ReadReceipts() != e.On {
				err = c.setReadReceipts(ctx, e.On)
			}
		case wire.SetProfile:
			err = c.takeProfile(ctx, h.dev, e.Key)
		}
		firstErr = cmp.Or(firstErr, err)
	}
	return firstErr
}

// takeProfile reads the profile the user's device dev published under
// key (in dev's bucket on the user's hubs) and makes it this device's:
// shown as the user's own, and published again under this device's
// profile key for the contacts that read it here.
func (c *Client) takeProfile(ctx context.Context, dev bns.PublicKey, key []byte) error {
	c.mu.Lock()
	var hubs []string
	if c.mine != nil {
		hubs = c.mine.Profile.Hubs
	}
	own := c.profile.Key
	c.mu.Unlock()
	var p *wire.Profile
	_, err := c.getVerified(ctx, hubs, auth.NativeAddress(dev[:]), wire.ProfilePath(key), func(b []byte) (err error) {
		p, err = wire.OpenProfile(key, b)
		return err
	})
	if errors.Is(err, hub.ErrNotFound) {
		return nil // replaced since (a block moves the profile under a new key)
	}
	if err != nil {
		return fmt.Errorf("client: the profile set on another of your devices: %w", err)
	}
	if own == nil {
		own = make([]byte, 32)
		rand.Read(own)
	}
	return c.publishProfile(ctx, *p, own)
}
