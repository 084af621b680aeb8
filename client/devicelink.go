package client

import (
	"context"
	"crypto/hpke"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/outbox"
	"github.com/parley-im/parley/client/store"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
)

// Linking a device (docs/devices.md, Linking a device): the approving
// device writes a welcome sealed to the new device on its own hubs; the
// new device reads it, checks it against the name's verified record, and
// starts from what it carries. No secret of the approving device's
// sessions crosses: the welcome carries contacts (their confirmed
// records, verification marks, settings), groups, the user's profile and
// settings, and the history if asked; each conversation on the new device
// runs on sessions of its own.

// ErrNoWelcome: no listed device wrote a welcome for this code on the
// name's hubs (yet).
var ErrNoWelcome = errors.New("client: no welcome for this device on the name's hubs yet")

// WriteWelcome seals a welcome for the device dev, which joined the
// user's name with the offer of code, and writes it to every one of the
// user's hubs at wire.WelcomePath(code) in this device's bucket. The
// history goes in only withHistory. It fails if no hub took it.
func (c *Client) WriteWelcome(ctx context.Context, code wire.LinkCode, dev bns.Device, withHistory bool) error {
	if len(dev.EncKeys) == 0 {
		return fmt.Errorf("client: welcome: the device offers no encryption key")
	}
	if err := c.writable(ctx, false); err != nil {
		return err
	}
	c.mu.Lock()
	plain, err := c.snapshot(c.now(), withHistory)
	own := append([]string(nil), c.ownHubs()...)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	payload, err := welcomeState(plain)
	if err != nil {
		return err
	}
	w := &wire.Welcome{Name: c.Name, Code: code, Device: dev.SigningKey, Approver: bns.PublicKeyOf(c.id.SigningKey()), Time: c.now(), Payload: payload}
	env, err := wire.SealWelcome(c.id.SigningKey(), w, dev.EncKeys[len(dev.EncKeys)-1])
	if err != nil {
		return err
	}
	var firstErr error
	stored := false
	for _, url := range own {
		h, err := c.dial(ctx, url)
		if err == nil {
			_, err = h.Put(ctx, wire.WelcomePath(code), env, "application/octet-stream", hubclient.Cond{})
		}
		if err != nil {
			firstErr = cmpOr(firstErr, fmt.Errorf("client: welcome to %s: %w", url, err))
			continue
		}
		stored = true
	}
	if !stored {
		return firstErr
	}
	// The device is on the chain (the welcome follows its device-add):
	// this device reads its copies and sends it copies from now on, not
	// from its next send or start.
	c.refreshMine(ctx)
	return nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// welcomeState is the state a welcome carries, made from this device's
// state JSON: the same contacts, groups, settings and history, without
// any secret of this device's sessions. Each contact comes without a
// name session (that runs between the names' first devices only) and
// without this device's device-pair sessions: the new device's
// conversations run on device-pair sessions of its own (docs/protocol.md,
// Device-pair sessions), and its queued messages and requests are
// dropped; the groups come without any sender key; the self sessions,
// group links, uploads, the backup's configuration and this device's
// identity are left out.
func welcomeState(plain []byte) ([]byte, error) {
	var s store.State
	if err := json.Unmarshal(plain, &s); err != nil {
		return nil, fmt.Errorf("client: welcome: %w", err)
	}
	for i := range s.Contacts {
		ct := &s.Contacts[i]
		ct.MutualKey, ct.Ratchet, ct.Devices, ct.NextSeq = nil, nil, nil, 0
		ct.Outbox, ct.Request, ct.IntroPath, ct.Asked = nil, nil, "", ""
		ct.ReceiptKey, ct.SentRcpt, ct.SentKey = nil, nil, nil
		ct.NextSend, ct.NextRecv, ct.Deleted, ct.Indexed, ct.Skipped, ct.Expiring, ct.Awaiting = 0, 0, nil, nil, nil, nil, nil
	}
	for _, g := range s.Groups {
		// No sender key crosses: the user's own (its seed reads, and its
		// signing seed signs, what this device writes to the group) nor
		// those the members gave (a seed reads everything its author
		// writes under it, and the welcome stays readable on the hubs to
		// the new device's keys even after that device is removed). The
		// new device makes a key of its own (Linked) and gets members'
		// as they give them.
		g.Keys, g.SentKey, g.Held = map[string][]*store.Key{}, map[string]uint64{}, nil
	}
	s.Self, s.GroupLinks = nil, nil
	s.Links, s.Uploads, s.DoomedPaths, s.Backup, s.Superseded = nil, nil, nil, nil, nil
	s.BackupETag, s.BackupDue = "", false
	s.HeldKeys = nil
	return json.Marshal(&s)
}

// ReadWelcome is what the new device does once the chain says the offer
// of code was taken by name: it looks name up (verified), checks that the
// record lists this device (id's signing key), reads the welcome from
// the bucket of each other device the record lists on the name's hubs,
// and opens it (wire.OpenWelcome: sealed to this device for this name,
// code and path, signed by a device the record lists). ErrNoWelcome if
// none is there yet.
func ReadWelcome(ctx context.Context, name string, code wire.LinkCode, id *keystore.Identity, dir Directory) (*wire.Welcome, error) {
	rec, err := dir.Lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	me := bns.PublicKeyOf(id.SigningKey())
	if _, ok := rec.Device(me); !ok {
		return nil, fmt.Errorf("client: %s's record does not list this device (%s): %w", name, me, wire.ErrForged)
	}
	x, err := id.X25519Key()
	if err != nil {
		return nil, err
	}
	pq, err := id.HybridKey()
	if err != nil {
		return nil, err
	}
	keys := []hpke.PrivateKey{x, pq}
	isDevice := func(k bns.PublicKey) bool { _, ok := rec.Device(k); return ok && k != me }
	var firstErr error
	for _, d := range rec.AllDevices() {
		if d.SigningKey == me {
			continue
		}
		env, err := readObject(ctx, rec.Profile.Hubs, auth.NativeAddress(d.SigningKey[:]), wire.WelcomePath(code), errNotThere)
		if errors.Is(err, errNotThere) {
			continue
		}
		if err != nil {
			firstErr = cmpOr(firstErr, err)
			continue
		}
		w, err := wire.OpenWelcome(env, name, code, me, keys, isDevice)
		if err != nil {
			firstErr = cmpOr(firstErr, fmt.Errorf("client: the welcome in %s's bucket: %w", d.Label, err))
			continue
		}
		return w, nil
	}
	return nil, cmpOr(firstErr, ErrNoWelcome)
}

var errNotThere = errors.New("not there")

// readObject reads path in the bucket addr from the first of hubs that
// has it (notThere if none answers that it does; else the last error).
func readObject(ctx context.Context, hubs []string, addr, path string, notThere error) ([]byte, error) {
	err := notThere
	for _, url := range hubs {
		h, derr := hubclient.Dial(ctx, url, nil, nil) // reads need no key
		if derr != nil {
			err = derr
			continue
		}
		b, _, gerr := h.Get(ctx, addr, path)
		if gerr == nil {
			return b, nil
		}
		if !errors.Is(gerr, hub.ErrNotFound) {
			err = gerr
		}
	}
	return nil, err
}

// Linked makes the client of a device just linked to name: id is its
// identity (the device keys the record lists), w the welcome it opened,
// kept in statePath. It starts from the welcome's state: contacts with
// the records the user confirmed and their verification marks,
// settings, groups and the history if it was sent. Conversations with
// contacts run on device-pair sessions of this device's own, started as
// it sends or as their devices write to it; in every group it keeps
// none of the welcome's keys and has a sender key and a stream of its
// own, given to every device of every member over group device links
// (groupdevices.go). Backup
// stays off on it: the device that wrote the backup keeps writing it.
func Linked(ctx context.Context, name string, id *keystore.Identity, dir Directory, statePath string, w *wire.Welcome, opts ...Option) (*Client, error) {
	if w.Name != name {
		return nil, fmt.Errorf("client: a welcome for %s, not %s: %w", w.Name, name, wire.ErrForged)
	}
	st, err := store.Parse(w.Payload)
	if err != nil {
		return nil, fmt.Errorf("client: welcome: %w", err)
	}
	rec, err := dir.Lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(rec.Profile.Hubs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoKeys, name)
	}
	c, err := New(ctx, name, id, dir, rec.Profile.Hubs[0], opts...)
	if err != nil {
		return nil, err
	}
	c.statePath = statePath
	if statePath != "" {
		c.store, c.changes = store.New(statePath, storeKeys(id)), &store.Changes{}
	}
	if err := c.take(st, st.History); err != nil {
		return nil, fmt.Errorf("client: welcome: %w", err)
	}
	c.device, c.superseded, c.backup = newDevice(c.device.Gen, c.now()), nil, nil
	clear(c.links)
	if err := c.Expire(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	// Every group's keys are the first device's (its own, with its signing
	// seed): none is kept; this device starts a stream and a key of its
	// own in each, given over group device links (groupdevices.go).
	first := map[string]uint64{}
	for id, st := range c.groupOut {
		first[id] = st.Next()
		c.groupOut[id] = &outbox.Stream{}
	}
	c.glinks = nil
	me := c.myDevice().Device
	c.book.Linked(hex.EncodeToString(me[:]), func(id string) uint64 { return first[id] }, c.genv())
	if err := c.saveUnlock(); err != nil {
		return nil, err
	}
	return c, nil
}
