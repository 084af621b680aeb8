package client

import (
	"cmp"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/outbox"
	"github.com/parley-im/parley/client/ratchet"
	"github.com/parley-im/parley/client/store"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
)

// Several devices per name (docs/protocol.md, Device-pair sessions): a
// conversation is a set of sessions, one per pair of devices. The name
// session (the Contact's own ratchet and streams, made by a request or
// an introduction) runs between the two names' first devices; every
// other pair runs a device-pair session (devSession) that the device
// with something to send starts by a device introduction. A device also
// keeps self sessions with the user's other devices, which carry copies
// of what it sends, so each of the user's devices shows the user's
// messages as the user's own.
//
// Which devices a name has comes only from its verified record, looked
// up at the latest verified height before each send and each read: a
// device the record no longer lists gets nothing more, and nothing more
// is read from it.

// maxCopies bounds the copies from the user's other devices that Receive
// of one conversation read for others and keeps to return (the history
// holds them all; only their report is bounded).
const maxCopies = 4096

// peerDevice is one device of a name, as its verified record lists it.
type peerDevice struct {
	Key     bns.PublicKey
	EncKeys []bns.EncKey
}

// devicesOf lists rec's devices: its first device (the profile's keys),
// then those the record lists after it, in its order.
func devicesOf(rec *bns.Record) []peerDevice {
	if rec == nil {
		return nil
	}
	var out []peerDevice
	for _, d := range rec.AllDevices() {
		out = append(out, peerDevice{Key: d.SigningKey, EncKeys: d.EncKeys})
	}
	return out
}

// listed reports whether rec lists the device key.
func listed(rec *bns.Record, key bns.PublicKey) bool {
	return slices.ContainsFunc(devicesOf(rec), func(d peerDevice) bool { return d.Key == key })
}

// devHex is how a message names its author device (Message.Device,
// wire.Ref.Dev): "" for the author's first device, else the device key's
// 64 lowercase hex digits.
func devHex(rec *bns.Record, key bns.PublicKey) string {
	if rec == nil || key == rec.Profile.SigningKey { // no record known: the only device
		return ""
	}
	return hex.EncodeToString(key[:])
}

// devSession is a device-pair session with one device of a contact (or,
// in Client.self, of the user).
type devSession struct {
	sentReceipt *wire.Receipt // the receipt this device last wrote in the session (not saved: written again after a restart)
	peer        wire.Participant
	mutual      [32]byte
	keys        wire.Keys
	ratchet     *ratchet.State
	nextRecv    uint64
	out         outbox.Stream
	mine        bool   // this device wrote the introduction (else it read it)
	intro       []byte // the introduction, while no hub of the user's took it
	introPath   string
}

// myDevice is this device as a participant of the user's name.
func (c *Client) myDevice() wire.Participant {
	return wire.Participant{Name: c.Name, Device: bns.PublicKeyOf(c.id.SigningKey())}
}

// sessionFor returns the session this device sends on to the device d of
// name among ss, starting one (a device introduction, queued for Flush)
// if none can send yet; the caller holds c.mu. Of two sessions that can
// send (each side wrote one), the one whose writer sorts first is taken,
// so both sides converge on it.
func (c *Client) sessionFor(ss *[]*devSession, name string, d peerDevice) (*devSession, error) {
	var best *devSession
	me := c.myDevice()
	writer := func(s *devSession) string {
		if s.mine {
			return me.String()
		}
		return s.peer.String()
	}
	for _, s := range *ss {
		if s.peer.Device == d.Key && s.ratchet.CanSend() && (best == nil || writer(s) < writer(best)) {
			best = s
		}
	}
	if best != nil {
		return best, nil
	}
	s, err := c.startSession(name, d)
	if err != nil {
		return nil, err
	}
	*ss = append(*ss, s)
	return s, nil
}

// startSession makes a device-pair session with the device d of name,
// this device its writer: a fresh mutual key, sealed to d and signed by
// this device in a device introduction that Flush writes to the user's
// hubs before the session's first message. The caller holds c.mu.
func (c *Client) startSession(name string, d peerDevice) (*devSession, error) {
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
	me, them := c.myDevice(), wire.Participant{Name: name, Device: d.Key}
	path := wire.DeviceIntroPath(pair, me, them)
	env, err := wire.SealDeviceIntro(c.id.SigningKey(), &wire.DeviceIntro{From: me, To: them, MutualKey: k, Time: c.now().Truncate(time.Second)},
		d.EncKeys[len(d.EncKeys)-1], path)
	if err != nil {
		return nil, err
	}
	return &devSession{peer: them, mutual: k, keys: wire.DeviceSessionKeys(k, me, them), ratchet: ratchet.InitAlice(k, their, nil),
		mine: true, intro: env, introPath: path}, nil
}

// x25519OfKeys is a device's X25519 key among its encryption keys.
func x25519OfKeys(name string, keys []bns.EncKey) (*ecdh.PublicKey, error) {
	for _, k := range keys {
		if k.KEM == bns.KEMX25519 {
			return ecdh.X25519().NewPublicKey(k.Key)
		}
	}
	return nil, fmt.Errorf("%w: a device of %s has no X25519 key", ErrNoKeys, name)
}

// fanOut seals e, the event seq of the user's stream in the conversation
// with ct, in a session with each device of ct's other than the name
// session's, and a copy of it in a self session with each other device
// of the user's; the caller holds c.mu and saves. Sessions with devices
// the records no longer list are dropped first: they get nothing more.
func (c *Client) fanOut(ct *Contact, e *wire.Event, seq uint64, hubExp time.Time) error {
	ct.devs = slices.DeleteFunc(ct.devs, func(s *devSession) bool { return !listed(ct.Record, s.peer.Device) })
	c.self = slices.DeleteFunc(c.self, func(s *devSession) bool { return !listed(c.mine, s.peer.Device) })
	ev := *e
	ev.S = seq
	for _, d := range devicesOf(ct.Record) {
		if ct.ratchet != nil && d.Key == ct.Record.Profile.SigningKey {
			continue // the name session's device
		}
		s, err := c.sessionFor(&ct.devs, ct.Name, d)
		if err != nil {
			return err
		}
		if err := sealIn(s, &ev, hubExp); err != nil {
			return err
		}
	}
	ev.Conv = ct.Name
	me := c.myDevice().Device
	for _, d := range devicesOf(c.mine) {
		if d.Key == me {
			continue
		}
		s, err := c.sessionFor(&c.self, c.Name, d)
		if err != nil {
			return err
		}
		if err := sealIn(s, &ev, hubExp); err != nil {
			return err
		}
	}
	return nil
}

// sealIn seals e as the next event of s's stream and queues it.
func sealIn(s *devSession, e *wire.Event, hubExp time.Time) error {
	plain, err := wire.MarshalEvent(e)
	if err != nil {
		return err
	}
	i := s.out.Next()
	path := wire.MessagePath(s.keys.SendKey, i)
	blob, err := wire.SealMessage(s.ratchet, s.keys.Header, plain, []byte(path), nil)
	if err != nil {
		return err
	}
	s.out.Add(i, path, blob, hubExp)
	return nil
}

// refreshMine looks the user's own name up at the latest verified height
// (once per height) so that sends and reads follow the user's device
// list. If the chain does not answer, the list as last seen stands: it
// never fails a send or a read (checkMine is what holds copies back).
func (c *Client) refreshMine(ctx context.Context) error {
	c.checkMine(ctx)
	return nil
}

// checkMine is refreshMine that says when the chain did not answer (the
// error wraps ErrOffline): what waits for the user's other devices goes
// out only once their list is looked up at the latest verified height,
// as a contact's keys are checked before what waits for them. Self
// sessions with a device the record no longer lists are dropped, with
// what was sealed for it.
func (c *Client) checkMine(ctx context.Context) error {
	var height int64
	if hd, ok := c.dir.(heights); ok {
		if h, err := hd.Height(ctx); err == nil {
			height = h
			c.mu.Lock()
			same := c.mineHeight == h && c.mine != nil
			c.mu.Unlock()
			if same {
				return nil
			}
		}
	}
	rec, err := c.lookup(ctx, c.Name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.mine, c.mineHeight = rec, height
	c.self = slices.DeleteFunc(c.self, func(s *devSession) bool { return !listed(rec, s.peer.Device) })
	c.mu.Unlock()
	return nil
}

// stillListed reports whether the device-pair session s (with a device
// of the contact name, or of the user's when name is "") is with a
// device the record as last checked lists, and the session is still
// held: what waits in it may go out only then.
func (c *Client) stillListed(name string, s *devSession) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ss := c.mine, c.self
	if name != "" {
		ct := c.contacts[name]
		if ct == nil {
			return false
		}
		rec, ss = ct.Record, ct.devs
	}
	return slices.Contains(ss, s) && listed(rec, s.peer.Device)
}

// receiveDevices reads every new event from the device-pair sessions with
// ct's devices (other than the name session's), starting a session from
// each device introduction a listed device wrote to this device; the
// events are applied as ct's, in each session's order. ct's record is as
// checked at the latest verified height (Receive).
func (c *Client) receiveDevices(ctx context.Context, ct *Contact) ([]Message, error) {
	ct.recvMu.Lock() // a concurrent Receive would fetch the same message
	defer ct.recvMu.Unlock()
	c.mu.Lock()
	rec := ct.Record
	nameSession := ct.ratchet != nil
	c.mu.Unlock()
	var out []Message
	var firstErr error
	for _, d := range devicesOf(rec) {
		if nameSession && d.Key == rec.Profile.SigningKey {
			continue
		}
		ms, err := c.readDevice(ctx, &ct.devs, rec, d, func(s *devSession, e *wire.Event, m Message) (Message, bool) {
			m.Device = devHex(rec, s.peer.Device)
			if e != nil {
				m.Seq = e.S
				switch e.Kind {
				case wire.KindRead, wire.KindSetting, wire.KindContact, wire.KindGroup:
					return m, false // self sessions and group links only
				case wire.KindProfile:
					ct.theirProfileKey = e.Key
				}
			}
			ct.asked = askedNot
			if ct.quietAt(m.Time) { // sent while blocked
				return m, false
			}
			if e != nil {
				if ct.gotDev == nil {
					ct.gotDev = map[string]uint64{}
				}
				ct.gotDev[m.Device] = max(ct.gotDev[m.Device], e.S+1)
			}
			untilRead(&m)
			return c.apply(ct, m), true
		})
		out = append(out, ms...)
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	c.mu.Lock()
	if ct.asked != askedNot && slices.ContainsFunc(ct.devs, func(s *devSession) bool { return !s.mine }) {
		ct.asked = askedNot // a device of theirs wrote to this one: they answered
		firstErr = cmp.Or(firstErr, c.saveUnlock())
	} else {
		c.mu.Unlock()
	}
	if len(out) > 0 {
		firstErr = cmp.Or(firstErr, c.writeDeviceReceipts(ctx, ct))
	}
	return out, firstErr
}

// writeDeviceReceipts writes, in each device-pair session this device
// reads a device of ct's on, this device's receipt for that device's
// events (docs/protocol.md, Receipts on device-pair sessions): delivered
// below what it fetched of them, read below what the user read of them
// on any of the user's devices (0 with read receipts off). Only a
// receipt that changed is written; none for a blocked contact, a group
// link or a conversation a key change closed.
func (c *Client) writeDeviceReceipts(ctx context.Context, ct *Contact) error {
	type put struct {
		s    *devSession
		r    wire.Receipt
		path string
		blob []byte
	}
	var puts []put
	c.mu.Lock()
	if ct.link || ct.changed != nil || c.blocked[ct.Name] {
		c.mu.Unlock()
		return nil
	}
	for _, s := range ct.devs {
		dev := devHex(ct.Record, s.peer.Device)
		r := wire.Receipt{Delivered: ct.gotDev[dev], Read: ct.readBelow(dev)}
		if !c.readReceipts {
			r.Read = 0
		}
		r.Delivered = max(r.Delivered, r.Read)
		if r.Delivered == 0 || s.sentReceipt != nil && s.sentReceipt.Delivered == r.Delivered && s.sentReceipt.Read == r.Read {
			continue
		}
		path := wire.ReceiptPath(s.keys.RecvKey)
		puts = append(puts, put{s, r, path, wire.SealReceipt(s.keys.Header, path, r)})
	}
	c.mu.Unlock()
	var firstErr error
	for _, p := range puts {
		if err := c.putOwn(ctx, p.path, p.blob); err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		c.mu.Lock()
		p.s.sentReceipt = &p.r
		c.mu.Unlock()
	}
	return firstErr
}

// deviceReceipts merges into r what the receipts ct's devices wrote in
// their device-pair sessions with this device say of its events: the
// greatest delivered and read, so that a message read on any device of
// theirs shows as read. A hub that does not answer, or a receipt that
// does not open, adds nothing.
func (c *Client) deviceReceipts(ctx context.Context, ct *Contact, r *wire.Receipt) {
	c.mu.Lock()
	if ct.changed != nil {
		c.mu.Unlock()
		return
	}
	hubs := ct.Record.Profile.Hubs
	type where struct {
		addr, path string
		header     [32]byte
	}
	var ws []where
	for _, s := range ct.devs {
		ws = append(ws, where{auth.NativeAddress(s.peer.Device[:]), wire.ReceiptPath(s.keys.SendKey), s.keys.Header})
	}
	c.mu.Unlock()
	for _, w := range ws {
		var got wire.Receipt
		_, err := c.getVerified(ctx, hubs, w.addr, w.path, func(b []byte) (err error) {
			got, err = wire.OpenReceipt(w.header, w.path, b)
			return err
		})
		if err != nil {
			continue
		}
		r.Delivered, r.Read = max(r.Delivered, got.Delivered), max(r.Read, got.Read)
	}
}

// receiveSelf reads the copies the user's other devices wrote to this
// one: each event of a conversation is applied as the user's own, from
// that device; a conversation this device does not hold yet becomes a
// contact (the user's other device has it).
//
// Settings the user changed on another device (setting events) are
// applied here, after the reading, as the user changing them here would.
func (c *Client) receiveSelf(ctx context.Context) ([]Message, error) {
	ms, settings, err := c.readSelf(ctx)
	return ms, cmp.Or(err, c.applySettings(ctx, settings))
}

// readSelf is receiveSelf's reading: it returns the copies, and the
// setting events later than the settings held (recorded as held).
func (c *Client) readSelf(ctx context.Context) ([]Message, []heldSetting, error) {
	c.selfMu.Lock() // one reader of the self sessions at a time
	defer c.selfMu.Unlock()
	c.mu.Lock()
	alone := len(devicesOf(c.mine)) <= 1
	c.mu.Unlock()
	if alone {
		// The only device, as last looked up (at start, before each send,
		// and by a watch's refresh): nothing to read, and no lookup for it.
		return nil, nil, nil
	}
	if err := c.checkMine(ctx); err != nil {
		// Copies are read only from the devices the user's record lists
		// at the latest verified height: a device removed while the
		// chain does not answer would else write as the user's own,
		// delete and mark read. They wait on the hubs meanwhile.
		return nil, nil, nil
	}
	c.mu.Lock()
	rec := c.mine
	c.mu.Unlock()
	me := c.myDevice().Device
	var out []Message
	var firstErr error
	unknown := map[string]bool{}
	made := map[string][32]byte{} // by a contact event: the request's mutual key
	var settings []heldSetting
	for _, d := range devicesOf(rec) {
		if d.Key == me {
			continue
		}
		ms, err := c.readDevice(ctx, &c.self, rec, d, func(s *devSession, e *wire.Event, m Message) (Message, bool) {
			if e != nil && e.Kind == wire.KindSetting {
				if prev := c.settingAt[settingKey(e)]; e.Conv != c.Name && c.takeSetting(e, hex.EncodeToString(s.peer.Device[:])) {
					settings = append(settings, heldSetting{e, prev, s.peer.Device})
				}
				return m, false
			}
			if e == nil || e.Conv == "" || e.Conv == c.Name {
				return m, false
			}
			ct := c.contacts[e.Conv]
			if e.Kind == wire.KindContact {
				if ct == nil {
					unknown[e.Conv], made[e.Conv] = true, [32]byte(e.Key)
				}
				return m, false
			}
			if ct == nil {
				// A conversation of the user's other device that this one
				// does not hold yet: it takes it on (below); a message is
				// kept in the history meanwhile.
				unknown[e.Conv] = true
				if e.Kind != wire.KindText {
					return m, false
				}
				m.From, m.Conv, m.Seq, m.Device = c.Name, ContactConv(e.Conv), e.S, devHex(rec, s.peer.Device)
				c.history = append(c.history, m)
				return m, true
			}
			if e.Kind == wire.KindRead { // what the user read on that device
				for _, r := range e.Upto {
					if r.By == e.Conv {
						ct.markRead(r.Dev, r.Seq)
					}
				}
				return m, false
			}
			m.From, m.Conv, m.Seq, m.Device = c.Name, ContactConv(e.Conv), e.S, devHex(rec, s.peer.Device)
			return c.apply(ct, m), true
		})
		out = append(out, ms...)
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(unknown)) {
		var err error
		if k, ok := made[name]; ok {
			err = c.takeOnAccepted(ctx, name, k)
		} else {
			err = c.AddFromOtherDevice(ctx, name)
		}
		if err != nil && !errors.Is(err, ErrAlreadyContact) && firstErr == nil {
			firstErr = err
		}
	}
	return out, settings, firstErr
}

// readDevice reads the device d of rec's name: first the introduction d
// wrote to this device, if this device holds no session d wrote, then
// each session's new events in order, each given to take (under c.mu)
// with its event (nil if this client cannot read it) and its message;
// take says whether the message is returned. A blob that does not open
// (altered, or another session's: a hub serving one device's message to
// another) is reported, never shown, and stops that session's reading.
func (c *Client) readDevice(ctx context.Context, ss *[]*devSession, rec *bns.Record, d peerDevice, take func(*devSession, *wire.Event, Message) (Message, bool)) ([]Message, error) {
	hubs, addr := rec.Profile.Hubs, auth.NativeAddress(d.Key[:])
	if err := c.readIntro(ctx, ss, rec, d, hubs, addr); err != nil {
		return nil, err
	}
	c.mu.Lock()
	var mine []*devSession
	for _, s := range *ss {
		if s.peer.Device == d.Key {
			mine = append(mine, s)
		}
	}
	c.mu.Unlock()
	var out []Message
	for _, s := range mine {
		var index *wire.Index
		for {
			c.mu.Lock()
			seq := s.nextRecv
			c.mu.Unlock()
			path := wire.MessagePath(s.keys.RecvKey, seq)
			var (
				got     *Message
				sv      *store.Save
				saveErr error
			)
			_, err := c.getVerified(ctx, hubs, addr, path, func(blob []byte) error {
				c.mu.Lock()
				defer c.mu.Unlock()
				plain, err := wire.OpenMessage(s.ratchet, s.keys.Header, blob, []byte(path))
				if err != nil {
					return fmt.Errorf("client: message %d from a device of %s was altered or forged: %w", seq, rec.Name, err)
				}
				m, e := eventMessage(rec.Name, ContactConv(rec.Name), seq, plain)
				s.nextRecv++
				if m2, ok := take(s, e, m); ok && m2.Kind != "" {
					got = &m2
				}
				sv, saveErr = c.prepare()
				return nil
			})
			if err == nil {
				err = saveErr
			}
			if err == nil {
				err = c.write(sv)
			}
			if errors.Is(err, hub.ErrNotFound) {
				// The end of what the session holds, unless its index (the
				// writer's, sealed under the session's header key) lists
				// more: a message the hubs withhold (as for the name
				// session, Receive), or one deleted or expired on time.
				if index == nil {
					index = c.bestIndex(ctx, hubs, addr, wire.IndexPath(s.keys.RecvKey), s.keys.Header)
				}
				switch {
				case index.IsDeleted(seq), index.IsExpired(seq, c.now()):
					c.mu.Lock()
					s.nextRecv++
					if err := c.saveUnlock(); err != nil {
						return out, err
					}
					continue
				case seq < index.Count:
					return out, &WithheldError{Name: rec.Name, Seq: seq, Count: index.Count, Device: devHex(rec, d.Key)}
				}
				break
			}
			if err != nil {
				return out, err
			}
			if got != nil {
				out = append(out, *got)
			}
		}
	}
	return out, nil
}

// readIntro takes the device introduction d wrote to this device, if
// this device holds no session that d wrote; the caller does not hold
// c.mu.
func (c *Client) readIntro(ctx context.Context, ss *[]*devSession, rec *bns.Record, d peerDevice, hubs []string, addr string) error {
	c.mu.Lock()
	have := slices.ContainsFunc(*ss, func(s *devSession) bool { return s.peer.Device == d.Key && !s.mine })
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
	path := wire.DeviceIntroPath(pair, them, me)
	xk, err := c.id.X25519Key()
	if err != nil {
		return err
	}
	hk, err := c.id.HybridKey()
	if err != nil {
		return err
	}
	var in *wire.DeviceIntro
	_, err = c.getVerified(ctx, hubs, addr, path, func(env []byte) (err error) {
		in, err = wire.OpenDeviceIntro(env, path, me, []hpkeKey{xk, hk}, func(name string, k bns.PublicKey) bool {
			return name == rec.Name && k == d.Key && listed(rec, k)
		})
		return err
	})
	if errors.Is(err, hub.ErrNotFound) {
		return nil // it has not written to this device
	}
	if err != nil {
		return fmt.Errorf("client: a device introduction from %s: %w", rec.Name, err)
	}
	s := &devSession{peer: them, mutual: in.MutualKey, keys: wire.DeviceSessionKeys(in.MutualKey, me, them), ratchet: ratchet.InitBob(in.MutualKey, mine, nil)}
	c.mu.Lock()
	*ss = append(*ss, s)
	sv, err := c.prepare()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.write(sv)
}

// AddFromOtherDevice makes name, a contact on another of the user's
// devices, a contact on this one: nothing is sent to name (the names are
// contacts already); the conversation runs on device-pair sessions with
// name's devices. It is how a device that is not the user's first takes
// a conversation on (the first device's welcome, or a copy that names
// it, tells it which).
func (c *Client) AddFromOtherDevice(ctx context.Context, name string) error {
	if name == c.Name {
		return fmt.Errorf("%w: %s", ErrOwnName, name)
	}
	if _, err := c.contact(name); err == nil {
		return fmt.Errorf("%w: %s", ErrAlreadyContact, name)
	}
	rec, err := c.lookup(ctx, name)
	if err != nil {
		return err
	}
	if len(devicesOf(rec)) == 0 {
		return fmt.Errorf("%w: %s", ErrNoKeys, name)
	}
	return c.addContact(&Contact{Name: name, Record: rec, started: c.now()})
}

// storedSessions and sessionsOf convert device-pair sessions for the
// state file.
func storedSessions(ss []*devSession) []store.DeviceSession {
	var out []store.DeviceSession
	for _, s := range ss {
		out = append(out, store.DeviceSession{Name: s.peer.Name, Device: s.peer.Device[:], MutualKey: s.mutual[:], Ratchet: s.ratchet.Marshal(),
			NextRecv: s.nextRecv, Out: storedStream(s.out.State()), Mine: s.mine, Intro: s.intro, IntroPath: s.introPath})
	}
	return out
}

func (c *Client) sessionsOf(stored []store.DeviceSession) ([]*devSession, error) {
	var out []*devSession
	me := c.myDevice()
	for _, sd := range stored {
		r, err := ratchet.UnmarshalState(sd.Ratchet)
		if err != nil {
			return nil, err
		}
		if len(sd.Device) != 32 || len(sd.MutualKey) != 32 {
			return nil, fmt.Errorf("client: a saved device session with %s: %w", sd.Name, store.ErrDamaged)
		}
		them := wire.Participant{Name: sd.Name, Device: bns.PublicKey(sd.Device)}
		k := [32]byte(sd.MutualKey)
		s := &devSession{peer: them, mutual: k, keys: wire.DeviceSessionKeys(k, me, them), ratchet: r, nextRecv: sd.NextRecv,
			mine: sd.Mine, intro: sd.Intro, introPath: sd.IntroPath}
		s.out.Load(streamOf(sd.Out))
		out = append(out, s)
	}
	return out, nil
}

// myDevHex is this device as Message.Device names it; the caller holds
// c.mu.
func (c *Client) myDevHex() string {
	me := c.myDevice().Device
	if !listed(c.mine, me) { // no record, or one that no longer lists this device: as before devices
		return ""
	}
	return devHex(c.mine, me)
}

// putIntro writes s's device introduction to the user's hubs, if it is
// still to go (before any of the session's messages); the caller does not
// hold c.mu.
func (c *Client) putIntro(ctx context.Context, s *devSession) error {
	c.mu.Lock()
	env, path := s.intro, s.introPath
	c.mu.Unlock()
	if env == nil {
		return nil
	}
	if err := c.writeAll(); err != nil { // the session is on disk before anything of it leaves
		return err
	}
	if err := c.putOwn(ctx, path, env); err != nil {
		return err
	}
	c.mu.Lock()
	s.intro = nil
	c.mu.Unlock()
	return nil
}

// markAllRead marks as read every message of ct's in the history that
// came from a device the name session does not read (or, on a device
// without a name session, from any device); the caller holds c.mu. It
// reports whether that changed anything.
func (c *Client) markAllRead(ct *Contact) bool {
	changed := false
	for _, m := range c.history {
		if m.From != ct.Name || m.Conv != ContactConv(ct.Name) || m.Earlier || (m.Device == "" && ct.ratchet != nil) {
			continue
		}
		changed = ct.markRead(m.Device, m.Seq+1) || changed
	}
	return changed
}

// syncRead tells the user's other devices what the user has read of ct:
// a read event in each self session (docs/protocol.md, Device-pair
// sessions), flushed at once.
func (c *Client) syncRead(ctx context.Context, ct *Contact) error {
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
	e := &wire.Event{Kind: wire.KindRead, Conv: ct.Name, Time: c.now().UnixMilli(), Upto: []wire.Ref{{By: ct.Name, Seq: ct.readUpTo}}}
	for dev, below := range ct.readDev {
		if len(e.Upto) < wire.MaxReadRefs {
			e.Upto = append(e.Upto, wire.Ref{By: ct.Name, Seq: below, Dev: dev})
		}
	}
	slices.SortFunc(e.Upto[1:], func(a, b wire.Ref) int { return strings.Compare(a.Dev, b.Dev) })
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
	c.flushForMine(ctx) // with the chain down, the read markers wait for the user's record to be checked
	return nil
}

// flushForMine flushes what was just queued for the user's other
// devices (a read marker, a setting, a contact event). What does not go
// out waits in the outbox for the next flush (status counts it); a
// failure is not the caller's: Flush reports the first error of any
// stream, another contact's (a hub down, a key change) included.
func (c *Client) flushForMine(ctx context.Context) {
	_ = c.Flush(ctx)
}

// tellOwnDevices tells the user's other devices that the conversation
// with name was made here, from the request whose mutual key is k: a
// contact event in each self session (docs/protocol.md, Requests from
// any device), flushed at once. With no other device, it sends nothing.
func (c *Client) tellOwnDevices(ctx context.Context, name string, k [32]byte) error {
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
	e := &wire.Event{Kind: wire.KindContact, Conv: name, Time: c.now().UnixMilli(), Key: k[:]}
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
	c.flushForMine(ctx)
	return nil
}

// takeOnAccepted takes on here the conversation with name that another
// of the user's devices made from the request whose mutual key is k: if
// this device's own inbox holds that request (sealed to it), it is
// accepted here too (a name session if this is the first device and
// theirs signed it); else the conversation is taken on bare.
func (c *Client) takeOnAccepted(ctx context.Context, name string, k [32]byte) error {
	pending, _, err := c.Requests(ctx)
	if err == nil {
		for _, p := range pending {
			if p.From == name && p.Intro.MutualKey == k {
				return c.Accept(ctx, p)
			}
		}
	}
	if err := c.AddFromOtherDevice(ctx, name); err != nil {
		return err
	}
	c.mu.Lock()
	if ct := c.contacts[name]; ct != nil && ct.mutual == [32]byte{} {
		ct.mutual = k // a copy of the request left in an inbox is known by it
	}
	return c.saveUnlock()
}

// ErrLinkedDevice: this device is not the user's first device, and in
// version 1 only the first device writes introductions (case 1: checked
// against the first device's key). A linked device asks with a request
// (Request), which any listed device may sign.
var ErrLinkedDevice = errors.New("client: introductions are made on your first device")

// LinkedDevice reports whether this device is one the user's verified
// record lists after its first device (looked up now; with the chain
// down, as last seen).
func (c *Client) LinkedDevice(ctx context.Context) bool {
	c.refreshMine(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.linked()
}

// linked is LinkedDevice as last looked up; the caller holds c.mu.
func (c *Client) linked() bool {
	me := c.myDevice().Device
	return c.mine != nil && c.mine.Profile.SigningKey != me && listed(c.mine, me)
}

// deviceSet names every device of the user's and of each contact's, as
// last looked up: a watch follows their buckets, and starts over when it
// changes.
func (c *Client) deviceSet() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	add := func(rec *bns.Record) {
		for _, d := range devicesOf(rec) {
			b.WriteString(hex.EncodeToString(d.Key[:]))
		}
		b.WriteByte('|')
	}
	add(c.mine)
	names := slices.Sorted(maps.Keys(c.contacts))
	for _, n := range names {
		add(c.contacts[n].Record)
	}
	return b.String()
}

// ownRef names the message seq this device sent (with this device, if it
// is not the user's first).
func (c *Client) ownRef(seq uint64) *wire.Ref {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &wire.Ref{By: c.Name, Seq: seq, Dev: c.myDevHex()}
}

// WrittenHere reports whether ref names a message of the user's written
// on this device: only those this device may edit or delete.
func (c *Client) WrittenHere(ref wire.Ref) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ref.By == c.Name && ref.Dev == c.myDevHex()
}

// authorDevice is the device whose bucket holds what ref names, when it
// is not the one ref.By's record makes the default (the first device's,
// or, for the user's own, this device's): nil if it is.
func (c *Client) authorDevice(ref wire.Ref) *bns.PublicKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ref.By == c.Name && ref.Dev == c.myDevHex() {
		return nil // this device's own
	}
	if ref.Dev != "" {
		b, err := hex.DecodeString(ref.Dev)
		if err != nil || len(b) != 32 {
			return nil
		}
		k := bns.PublicKey(b)
		return &k
	}
	if ref.By == c.Name && c.mine != nil { // the user's first device's
		k := c.mine.Profile.SigningKey
		return &k
	}
	return nil
}

// keepCopies keeps ms, copies read from the user's other devices, to be
// returned by the Receive of their conversation (or a watch); the caller
// holds c.mu.
func (c *Client) keepCopies(ms []Message) {
	for _, m := range ms {
		if len(c.copies) < maxCopies {
			c.copies = append(c.copies, m)
		}
	}
}

// TakeOnContacts reads what the user's other devices wrote to this one,
// taking on as contacts here the conversations they made (a request one
// of them wrote or accepted); the messages read wait for their
// conversation's Receive (or a watch) to return them. With no other
// device on the user's record it asks nothing. Run it when a device
// starts.
func (c *Client) TakeOnContacts(ctx context.Context) error {
	ms, err := c.receiveSelf(ctx)
	c.mu.Lock()
	c.keepCopies(ms)
	c.mu.Unlock()
	return err
}

// SyncCopies reads what the user's other devices wrote to this one, in
// every conversation, and returns it: what they sent (as the user's own)
// and, taken on as contacts here, the conversations this device did not
// hold yet. A watch does it as copies arrive.
func (c *Client) SyncCopies(ctx context.Context) ([]Event, error) {
	ms, err := c.receiveCopies(ctx)
	return events(ms), err
}
