package client

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/group"
	"github.com/parley-im/parley/client/outbox"
	"github.com/parley-im/parley/client/ratchet"
	"github.com/parley-im/parley/client/store"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
)

// Groups on several devices (docs/protocol.md, Groups on several
// devices). Every device of every member is a sender of its own in each
// group (group.Sender): its own sender key chain, signing key and stream,
// written to its own bucket. Keys and rosters go from device to device:
// between two names' first devices over the group link (link.go), as
// before there were devices; between any other two devices, the user's
// own included, over a group device link, a device-pair session
// (devices.go) of its own kind: its introduction lives at
// wire.GroupDeviceIntroPath and its root is wire.GroupDeviceRoot of the
// introduction's key, so it never shares a secret or a path with the
// device-pair session of a conversation. A group device link carries
// group events, and, between the user's own devices, what the user read
// in a group (a read event naming the group). Which devices a member has
// comes only from the member's record at the latest verified height: a
// device it no longer lists gets nothing more, nothing more is read from
// it, and every device that had given it its key makes a new one
// (group.Book.Unlisted). Rosters are made and changed on the user's first
// device (ErrGroupOnLinkedDevice elsewhere).

// ErrGroupOnLinkedDevice: in version 1 a group is made, changed, left
// and handed over on the user's first device; a linked device reads and
// writes the groups the user is in.
var ErrGroupOnLinkedDevice = errors.New("client: groups are made and changed on your first device; this device reads and writes in them")

// groupsHere refuses a change of a group's roster on a linked device.
func (c *Client) groupsHere() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.book.Dev != "" {
		return ErrGroupOnLinkedDevice
	}
	return nil
}

// adoptDevice makes this device, once the user's record lists it after
// the first, a sender of its own in the groups (group.Book.Linked): a
// device linked without a welcome (a client opened on new keys) learns
// it here; the caller holds c.mu.
func (c *Client) adoptDevice() {
	me := c.myDevice().Device
	if c.book.Dev != "" || c.mine == nil || c.mine.Profile.SigningKey == me || !listed(c.mine, me) {
		return
	}
	first := map[string]uint64{}
	for id, st := range c.groupOut {
		first[id] = st.Next()
		c.groupOut[id] = &outbox.Stream{}
	}
	c.book.Linked(hex.EncodeToString(me[:]), func(id string) uint64 { return first[id] }, c.genv())
}

// glinkFor returns the group device link this device sends on to the
// device d of name, starting one (its introduction queued for Flush) if
// none can send yet; the caller holds c.mu. Of two that can send, the
// one whose writer sorts first is taken (as sessionFor).
func (c *Client) glinkFor(name string, d peerDevice) (*devSession, error) {
	var best *devSession
	me := c.myDevice()
	writer := func(s *devSession) string {
		if s.mine {
			return me.String()
		}
		return s.peer.String()
	}
	for _, s := range c.glinks {
		if s.peer.Name == name && s.peer.Device == d.Key && s.ratchet.CanSend() && (best == nil || writer(s) < writer(best)) {
			best = s
		}
	}
	if best != nil {
		return best, nil
	}
	if len(d.EncKeys) == 0 {
		return nil, fmt.Errorf("%w: a device of %s publishes no encryption key", ErrNoKeys, name)
	}
	their, err := x25519OfKeys(name, d.EncKeys)
	if err != nil {
		return nil, err
	}
	mine, err := c.myX25519()
	if err != nil {
		return nil, err
	}
	pair, err := wire.PairSecret(mine, their.Bytes())
	if err != nil {
		return nil, err
	}
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return nil, err
	}
	them := wire.Participant{Name: name, Device: d.Key}
	path := wire.GroupDeviceIntroPath(pair, me, them)
	env, err := wire.SealDeviceIntro(c.id.SigningKey(), &wire.DeviceIntro{From: me, To: them, MutualKey: k, Time: c.now().Truncate(time.Second)},
		d.EncKeys[len(d.EncKeys)-1], path)
	if err != nil {
		return nil, err
	}
	root := wire.GroupDeviceRoot(k)
	s := &devSession{peer: them, mutual: root, keys: wire.DeviceSessionKeys(root, me, them), ratchet: ratchet.InitAlice(root, their, nil),
		mine: true, intro: env, introPath: path}
	c.glinks = append(c.glinks, s)
	return s, nil
}

// glinkListed reports whether the group device link s is still held and
// with a device its member's record, as last looked up, lists: what
// waits in it may go out only then.
func (c *Client) glinkListed(s *devSession) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Contains(c.glinks, s) {
		return false
	}
	var rec *bns.Record
	switch name := s.peer.Name; {
	case name == c.Name:
		rec = c.mine
	case c.gseen[name].rec != nil:
		rec = c.gseen[name].rec
	case c.contacts[name] != nil:
		rec = c.contacts[name].Record
	case c.links[name] != nil:
		rec = c.links[name].Record
	}
	return rec != nil && listed(rec, s.peer.Device)
}

// readGLinkIntro takes the group device link introduction the device d
// of rec's name wrote to this device, if this device holds no link that
// d wrote: signed by d, which rec must list.
func (c *Client) readGLinkIntro(ctx context.Context, rec *bns.Record, d peerDevice) error {
	c.mu.Lock()
	have := slices.ContainsFunc(c.glinks, func(s *devSession) bool { return s.peer.Name == rec.Name && s.peer.Device == d.Key && !s.mine })
	c.mu.Unlock()
	if have {
		return nil
	}
	their, err := x25519OfKeys(rec.Name, d.EncKeys)
	if err != nil {
		return err
	}
	mine, err := c.myX25519()
	if err != nil {
		return err
	}
	pair, err := wire.PairSecret(mine, their.Bytes())
	if err != nil {
		return err
	}
	me, them := c.myDevice(), wire.Participant{Name: rec.Name, Device: d.Key}
	path := wire.GroupDeviceIntroPath(pair, them, me)
	xk, err := c.id.X25519Key()
	if err != nil {
		return err
	}
	hk, err := c.id.HybridKey()
	if err != nil {
		return err
	}
	var in *wire.DeviceIntro
	_, err = c.getVerified(ctx, rec.Profile.Hubs, auth.NativeAddress(d.Key[:]), path, func(env []byte) (err error) {
		in, err = wire.OpenDeviceIntro(env, path, me, []hpkeKey{xk, hk}, func(name string, k bns.PublicKey) bool {
			return name == rec.Name && k == d.Key && listed(rec, k)
		})
		return err
	})
	if errors.Is(err, hub.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("client: a group device link from %s: %w", rec.Name, err)
	}
	root := wire.GroupDeviceRoot(in.MutualKey)
	s := &devSession{peer: them, mutual: root, keys: wire.DeviceSessionKeys(root, me, them), ratchet: ratchet.InitBob(root, mine, nil)}
	c.mu.Lock()
	c.glinks = append(c.glinks, s)
	sv, err := c.prepare()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.write(sv)
}

// readGLinks reads the group device links with the device d of rec's
// name (rec as verified at the latest height): the introduction, then
// each link's new events in order. A group event is taken from the
// sender the device is (group.Book.Take); a read event, only from the
// user's own devices. It reports whether a group event came.
func (c *Client) readGLinks(ctx context.Context, rec *bns.Record, d peerDevice) (bool, error) {
	if err := c.readGLinkIntro(ctx, rec, d); err != nil {
		return false, err
	}
	sender := group.Sender(rec.Name, devHex(rec, d.Key))
	hubs, addr := rec.Profile.Hubs, auth.NativeAddress(d.Key[:])
	c.mu.Lock()
	var links []*devSession
	for _, s := range c.glinks {
		if s.peer.Name == rec.Name && s.peer.Device == d.Key {
			links = append(links, s)
		}
	}
	c.mu.Unlock()
	got := false
	for _, s := range links {
		for {
			c.mu.Lock()
			seq := s.nextRecv
			c.mu.Unlock()
			path := wire.MessagePath(s.keys.RecvKey, seq)
			var (
				sv      *store.Save
				saveErr error
			)
			_, err := c.getVerified(ctx, hubs, addr, path, func(blob []byte) error {
				c.mu.Lock()
				defer c.mu.Unlock()
				plain, err := wire.OpenMessage(s.ratchet, s.keys.Header, blob, []byte(path))
				if err != nil {
					return fmt.Errorf("client: group event %d from a device of %s was altered or forged: %w", seq, rec.Name, err)
				}
				s.nextRecv++
				if e, err := wire.ParseEvent(plain); err == nil {
					switch {
					case e.Kind == wire.KindGroup:
						c.notice(c.book.Take(sender, e.Group, c.genv()))
						got = true
					case e.Kind == wire.KindRead && e.G != "" && rec.Name == c.Name:
						c.readElsewhere(e)
					}
				}
				sv, saveErr = c.prepare()
				return nil
			})
			err = cmp.Or(err, saveErr, c.write(sv))
			if errors.Is(err, hub.ErrNotFound) {
				break
			}
			if err != nil {
				return got, err
			}
		}
	}
	return got, nil
}

// readElsewhere applies what the user read in a group on another of its
// devices; the caller holds c.mu.
func (c *Client) readElsewhere(e *wire.Event) {
	g := c.book.Group(e.G)
	if g == nil {
		return
	}
	for _, r := range e.Upto {
		g.MarkReadUpTo(group.Sender(r.By, r.Dev), r.Seq)
	}
	c.startTimers(GroupConv(g.ID), func(m string) uint64 { return g.Read[m] })
}

// groupRecord is name's record at the latest verified height, for its
// devices: the user's own (as last looked up if the chain does not
// answer), or the member's (nil, with the error, if it cannot be looked
// up or its keys changed).
func (c *Client) groupRecord(ctx context.Context, name string) (*bns.Record, error) {
	if name == c.Name {
		c.refreshMine(ctx)
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.mine == nil {
			return nil, fmt.Errorf("client: your own record: %w", ErrOffline)
		}
		return c.mine, nil
	}
	var height int64
	if hd, ok := c.dir.(heights); ok {
		if h, err := hd.Height(ctx); err == nil {
			height = h
			c.mu.Lock()
			seen, ok := c.gseen[name]
			c.mu.Unlock()
			if ok && seen.height == h {
				return seen.rec, nil // a name that is no contact nor link, looked up at this very height
			}
		}
	}
	rec, err := c.checkName(ctx, name)
	if err == nil && height > 0 {
		c.mu.Lock()
		if len(c.gseen) >= maxSeen {
			clear(c.gseen)
		}
		c.gseen[name] = seenRecord{height, rec}
		c.mu.Unlock()
	}
	return rec, err
}

// glinkPeers are the devices whose group device links this device reads
// or writes, by name: every device of every member of the groups the
// user is in (the user's own included) but this one, and, on a linked
// device, every device of every contact (an invitation reaches a linked
// device that way). Between two names' first devices the group link
// serves instead.
func (c *Client) glinkPeers(ctx context.Context) map[string][]peerDevice {
	c.mu.Lock()
	names := map[string]bool{}
	for _, id := range c.book.Active() {
		for _, m := range c.book.Groups[id].Members {
			names[m] = true
		}
	}
	linked := c.book.Dev != ""
	if linked {
		for n, ct := range c.contacts {
			if !ct.link {
				names[n] = true
			}
		}
	}
	names[c.Name] = true
	c.mu.Unlock()
	me := c.myDevice().Device
	out := map[string][]peerDevice{}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		rec, err := c.groupRecord(ctx, n)
		if err != nil || rec == nil {
			continue
		}
		for _, d := range devicesOf(rec) {
			first := d.Key == rec.Profile.SigningKey
			if d.Key == me || (first && !linked && n != c.Name) {
				continue
			}
			out[n] = append(out[n], d)
		}
	}
	return out
}

// receiveGLinks reads every group device link this device has or may
// get (glinkPeers), and reports whether a group event came.
func (c *Client) receiveGLinks(ctx context.Context) (bool, error) {
	c.refreshMine(ctx)
	c.mu.Lock()
	c.adoptDevice()
	c.mu.Unlock()
	peers := c.glinkPeers(ctx)
	c.glinkMu.Lock()
	defer c.glinkMu.Unlock()
	got := false
	var firstErr error
	for _, n := range slices.Sorted(maps.Keys(peers)) {
		rec, err := c.groupRecord(ctx, n)
		if err != nil {
			continue
		}
		for _, d := range peers[n] {
			g, err := c.readGLinks(ctx, rec, d)
			got = got || g
			firstErr = cmp.Or(firstErr, err)
		}
	}
	return got, firstErr
}

// giveDeviceKeys gives the user's current key in g, with the roster, to
// every device of every member (the user's other devices included) that
// the records list and that lacks it, over a group device link; two
// names' first devices are giveKeys's. Before, a device that had this
// device's key and is no longer listed makes it new (checkDevices).
func (c *Client) giveDeviceKeys(ctx context.Context, g *group.Group) error {
	c.mu.Lock()
	members := slices.Clone(g.Members)
	gone := g.Gone
	linked := c.book.Dev != ""
	c.mu.Unlock()
	if gone {
		return nil
	}
	me := c.myDevice().Device
	var firstErr error
	queued := false
	for _, m := range members {
		rec, err := c.groupRecord(ctx, m)
		if err != nil {
			if !quiet(err) && !IsOffline(err) {
				firstErr = cmp.Or(firstErr, err)
			}
			continue
		}
		for _, d := range devicesOf(rec) {
			dev := devHex(rec, d.Key)
			if d.Key == me || (dev == "" && m != c.Name && !linked) {
				continue
			}
			target := group.Sender(m, dev)
			c.mu.Lock()
			if g.Gone || g.SentKey[target] == g.Epoch {
				c.mu.Unlock()
				continue
			}
			info, epoch := g.Info(false), g.Epoch
			s, err := c.glinkFor(m, d)
			if err == nil {
				err = sealIn(s, &wire.Event{Kind: wire.KindGroup, Time: c.now().UnixMilli(), Group: info}, time.Time{})
			}
			if err != nil {
				c.mu.Unlock()
				firstErr = cmp.Or(firstErr, fmt.Errorf("client: group key to a device of %s: %w", m, err))
				continue
			}
			g.Given(target, epoch)
			queued = true
			c.mu.Unlock()
		}
	}
	if !queued {
		return firstErr
	}
	if err := c.writeAll(); err != nil {
		return err
	}
	if err := c.Flush(ctx); err != nil && !errors.Is(err, ErrQueued) {
		firstErr = cmp.Or(firstErr, err)
	}
	return firstErr
}

// checkDevices looks up every member's devices (the user's own
// included) and, in every group, makes the user's key new if a device
// that had it is no longer listed (group.Book.Unlisted), and stops
// reading such devices. It reports whether a key was made new.
func (c *Client) checkDevices(ctx context.Context, g *group.Group) bool {
	c.mu.Lock()
	members := slices.Clone(g.Members)
	c.mu.Unlock()
	recs := map[string]*bns.Record{}
	for _, m := range members {
		if rec, err := c.groupRecord(ctx, m); err == nil {
			recs[m] = rec
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// A device no longer listed gets nothing more, not even what was
	// sealed for it before and waits to go out.
	c.glinks = slices.DeleteFunc(c.glinks, func(s *devSession) bool {
		rec, ok := recs[s.peer.Name]
		return ok && !listed(rec, s.peer.Device)
	})
	ns := c.book.Unlisted(func(sender string) bool {
		rec, ok := recs[group.NameOf(sender)]
		if !ok {
			return true // not looked up now: as last seen
		}
		return senderListed(rec, sender)
	}, c.genv())
	c.notice(ns)
	return len(ns) > 0
}

// senderListed reports whether rec lists the device a sender of its
// name names.
func senderListed(rec *bns.Record, sender string) bool {
	key, ok := senderKey(rec, sender)
	return ok && listed(rec, key)
}

// senderKey is the device key a sender of rec's name names.
func senderKey(rec *bns.Record, sender string) (bns.PublicKey, bool) {
	dev := group.DevOf(sender)
	if dev == "" {
		return rec.Profile.SigningKey, true
	}
	b, err := hex.DecodeString(dev)
	if err != nil || len(b) != 32 || hex.EncodeToString(b) != dev {
		return bns.PublicKey{}, false
	}
	return bns.PublicKey(b), true
}

// syncGroupRead tells the user's other devices what the user has read in
// g: a read event naming the group in each group device link with them,
// flushed at once.
func (c *Client) syncGroupRead(ctx context.Context, g *group.Group) error {
	if err := c.refreshMine(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	me := c.myDevice().Device
	others := slices.DeleteFunc(devicesOf(c.mine), func(d peerDevice) bool { return d.Key == me })
	if len(others) == 0 {
		c.mu.Unlock()
		return nil
	}
	e := &wire.Event{Kind: wire.KindRead, G: g.ID, Time: c.now().UnixMilli()}
	for _, s := range slices.Sorted(maps.Keys(g.Read)) {
		if len(e.Upto) < wire.MaxReadRefs && g.Read[s] > 0 && group.NameOf(s) != c.Name {
			e.Upto = append(e.Upto, wire.Ref{By: group.NameOf(s), Seq: g.Read[s], Dev: group.DevOf(s)})
		}
	}
	if len(e.Upto) == 0 {
		c.mu.Unlock()
		return nil
	}
	slices.SortFunc(e.Upto, func(a, b wire.Ref) int { return cmp.Or(strings.Compare(a.By, b.By), strings.Compare(a.Dev, b.Dev)) })
	for _, d := range others {
		s, err := c.glinkFor(c.Name, d)
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
	c.flushForMine(ctx)
	return nil
}
