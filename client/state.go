package client

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/files"
	"github.com/parley-im/parley/client/group"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/outbox"
	"github.com/parley-im/parley/client/ratchet"
	"github.com/parley-im/parley/client/store"
	"github.com/parley-im/parley/client/wire"
)

// Local state: contacts, ratchets, counters, the outbox and history, kept
// by package store (the state file, and the history's log beside it). A
// message is sealed and put in the outbox, and the state saved, before it
// is uploaded; an upload is retried until the hub has exactly that blob.
// So a client killed mid-send neither loses nor duplicates a message, and
// one killed mid-receive reads the message again with the ratchet it had.
//
// This file converts between the client's types and the store's (the
// format), both ways.

// storeKeys are the keys the identity seals its local state under.
func storeKeys(id *keystore.Identity) store.Keys {
	return store.Keys{State: id.LocalKey("state"), History: id.LocalKey("history")}
}

// Open makes a client whose state lives in statePath (created on first
// save; "": the state lives in memory only). Pending uploads are retried
// by Flush.
func Open(ctx context.Context, name string, id *keystore.Identity, dir Directory, homeHub, statePath string, opts ...Option) (*Client, error) {
	c, err := New(ctx, name, id, dir, homeHub, opts...)
	if err != nil {
		return nil, err
	}
	c.statePath = statePath
	if statePath == "" { // nothing persisted
		return c, nil
	}
	s, st, history, changes, err := store.Open(statePath, storeKeys(id))
	if err != nil {
		return nil, fmt.Errorf("client: state %s: %w", statePath, err)
	}
	s.WriteFile = c.writeFile
	c.store, c.changes = s, changes
	if st == nil {
		return c, nil
	}
	newID := c.device.ID
	if err := c.take(st, history); err != nil {
		return nil, fmt.Errorf("client: state %s: %w", statePath, err)
	}
	if c.device.ID == newID { // the state named no device: it names this one from now on
		c.mu.Lock()
		if err := c.saveUnlock(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// take takes the state s and the history in; the client is not in use yet.
func (c *Client) take(s *store.State, history []store.Message) error {
	for i, sc := range append(s.Contacts, s.Links...) {
		link := i >= len(s.Contacts)
		rec, err := bns.UnmarshalSavedRecord(sc.Record)
		if err != nil {
			return err
		}
		var r *ratchet.State
		if sc.Ratchet != nil { // else no name session: a device that is not the user's first
			if r, err = ratchet.UnmarshalState(sc.Ratchet); err != nil {
				return err
			}
		}
		devs, err := c.sessionsOf(sc.Devices)
		if err != nil {
			return err
		}
		var changed *bns.Record
		if sc.Changed != nil {
			if changed, err = bns.UnmarshalSavedRecord(sc.Changed); err != nil {
				return err
			}
		}
		var k [32]byte
		copy(k[:], sc.MutualKey)
		ck := k
		if link {
			ck = wire.LinkKey(k)
		}
		ct := &Contact{Name: sc.Name, Record: rec, mutual: k, keys: wire.ConversationKeys(ck, c.Name, sc.Name), link: link, ratchet: r,
			nextRecv: sc.NextRecv, readUpTo: sc.ReadUpTo, timer: time.Duration(sc.TimerSecs) * time.Second,
			theirProfileKey: sc.ProfileKey, sentProfileKey: sc.SentKey, dropBelow: sc.DropBelow, quiet: quietFrom(sc.Quiet), skipped: sc.Skipped, verified: sc.Verified, started: sc.Started, stale: sc.Stale, changed: changed,
			theirProfile: sc.Profile, theirReceipt: sc.Receipt, receiptOwed: sc.Owed, receiptKey: sc.ReceiptKey, sentReceiptKey: sc.SentRcpt, theirReceiptKey: sc.TheirRcpt,
			asked: asking(sc.Asked), request: sc.Request, requestCopies: sc.RequestCopies, introPath: sc.IntroPath, nextN: sc.NextNumber, devs: devs, nextS: sc.NextSeq, readDev: sc.ReadDevices, gotDev: sc.GotDevices}
		out := streamOf(store.Stream{Next: sc.NextSend, Outbox: sc.Outbox, Deleted: sc.Deleted, Indexed: sc.Indexed, Expiring: sc.Expiring})
		out.Awaiting = sc.Awaiting
		ct.out.Load(out)
		if link {
			c.links[sc.Name] = ct
		} else {
			c.contacts[sc.Name] = ct
		}
	}
	c.history = make([]Message, len(history))
	for i, m := range history {
		c.history[i] = messageFrom(c.Name, m)
	}
	for _, n := range s.Blocked {
		c.blocked[n] = true
	}
	c.readReceipts = !s.NoReadReceipts
	for k, v := range s.Settings {
		c.settingAt[k] = stamp(v)
	}
	c.profile = ownProfile{Profile: s.Profile.Profile, Key: s.Profile.Key}
	for _, u := range s.Uploads {
		to, err := ParseConv(u.To)
		if err != nil {
			return fmt.Errorf("client: an upload to %q: %w", u.To, err)
		}
		up := &pendingUpload{upKey{to, u.Path}, &files.Upload{Path: u.Path, Size: u.Size, SHA256: u.SHA256, Key: u.Key, Caption: u.Caption, Expires: u.Expires}}
		for url, n := range u.Acked {
			up.SetAcked(url, n)
		}
		c.uploads[up.key] = up
	}
	c.doomedPaths = s.DoomedPaths
	if b := s.Backup; b != nil {
		c.backup = &backupConfig{Version: b.Version, Path: b.Path, Keystore: b.Keystore}
	}
	if s.Device.ID != "" { // else a state from before devices had IDs: this one's, from New, is saved next
		c.device = deviceOf(s.Device)
	}
	c.backupETag, c.backupDue = s.BackupETag, s.BackupDue
	if s.Superseded != nil {
		d := deviceOf(*s.Superseded)
		c.superseded = &d
	}
	if len(s.Hubs) > 0 && (!c.ownKnown || s.HubsSeq > c.ownSeq) {
		// The chain did not answer, or answered from before the user's
		// latest change of hubs: write to every hub it last listed.
		c.setOwn(s.Hubs)
		c.ownSeq = s.HubsSeq
	}
	self, err := c.sessionsOf(s.Self)
	if err != nil {
		return err
	}
	c.self = self
	glinks, err := c.sessionsOf(s.GroupLinks)
	if err != nil {
		return err
	}
	c.glinks = glinks
	c.book.Dev = s.GroupDevice
	c.book.Held = heldOf(s.HeldKeys)
	for _, sg := range s.Groups {
		c.book.Groups[sg.ID] = groupOf(sg)
		c.groupOut[sg.ID] = new(outbox.Stream)
		c.groupOut[sg.ID].Load(streamOf(sg.Out))
	}
	return nil
}

// Saving. The state is changed under c.mu, and a save of it prepared
// there (prepare: the state's JSON and what changed in the history, in
// memory), but the disk is written only once c.mu is let go (write, or
// saveUnlock for both): no lock of the client's is held while a save is
// synced. Saves reach the disk in the order they were prepared (package
// store). Flush writes every save prepared so far before it uploads
// anything, so a message is on disk before it leaves, whoever saved it.

// prepare readies a save of the state as it is now, a change the backup
// must follow; the caller holds c.mu, and writes the save (write) once it
// let go of c.mu. It returns nil if the state is not persisted.
func (c *Client) prepare() (*store.Save, error) {
	c.saves++
	c.backupDue = true
	return c.prepareAsIs()
}

// prepareAsIs is prepare without counting a change the backup must
// follow (the backup's own ETag, say).
func (c *Client) prepareAsIs() (*store.Save, error) {
	if c.store == nil {
		return nil, nil
	}
	plain, err := c.snapshot(time.Time{}, false)
	if err != nil {
		return nil, err
	}
	return c.store.Prepare(plain, len(c.history), func(i int) store.Message { return storedMessage(c.Name, c.history[i]) }, c.changes)
}

// write writes a prepared save (nil: nothing) and those prepared before
// it; the caller does not hold c.mu.
func (c *Client) write(sv *store.Save) error {
	if sv == nil {
		return nil
	}
	return c.store.Write(sv)
}

// saveUnlock saves the state and lets go of c.mu, which the caller holds:
// prepared under it, written after.
func (c *Client) saveUnlock() error {
	sv, err := c.prepare()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.write(sv)
}

// writeAll writes every save prepared so far, and fails if the state as
// last prepared is not on disk; the caller does not hold c.mu. Whatever
// sends something sealed under the state (a ratchet step, a stream
// number) calls it first: what went out is never lost to a crash.
func (c *Client) writeAll() error {
	if c.store == nil || c.store.WriteAll() == nil {
		return nil
	}
	// The last write failed, and no save since wrote everything: save the
	// state as it is now (the store makes it a checkpoint), in case the
	// disk takes it again.
	c.mu.Lock()
	sv, err := c.prepareAsIs()
	c.mu.Unlock()
	return cmp.Or(err, c.write(sv))
}

// touchHistory notes that the message at index i changed; the caller
// holds c.mu.
func (c *Client) touchHistory(i int) { c.changes.Touch(i) }

// setHistory replaces the history (a filter); the caller holds c.mu.
func (c *Client) setHistory(h []Message) {
	c.history = h
	c.changes.Replace()
}

// snapshot is the state as JSON: with the history in it (without the
// messages expired at expiredAt, if not zero: a backup), or without (the
// store's log holds it); the caller holds c.mu.
func (c *Client) snapshot(expiredAt time.Time, withHistory bool) ([]byte, error) {
	s := store.State{NoReadReceipts: !c.readReceipts, Profile: store.Profile{Profile: c.profile.Profile, Key: c.profile.Key},
		Device: c.device.stored(), BackupETag: c.backupETag, BackupDue: c.backupDue}
	if c.superseded != nil {
		d := c.superseded.stored()
		s.Superseded = &d
	}
	if b := c.backup; b != nil {
		s.Backup = &store.Backup{Version: b.Version, Path: b.Path, Keystore: b.Keystore}
	}
	if withHistory {
		s.History = make([]store.Message, 0, len(c.history))
		for _, m := range c.history {
			if expiredAt.IsZero() || m.Expires.IsZero() || m.Expires.After(expiredAt) {
				s.History = append(s.History, storedMessage(c.Name, m))
			}
		}
	}
	for _, ct := range c.conversations() {
		var changed []byte
		if ct.changed != nil {
			changed = ct.changed.Marshal()
		}
		saved := &s.Contacts
		if ct.link {
			saved = &s.Links
		}
		out := ct.out.State()
		ss := storedStream(out)
		var r []byte
		if ct.ratchet != nil {
			r = ct.ratchet.Marshal()
		}
		*saved = append(*saved, store.Contact{Changed: changed, Name: ct.Name, Record: ct.Record.Marshal(), MutualKey: ct.mutual[:],
			Devices: storedSessions(ct.devs), NextSeq: ct.nextS, ReadDevices: ct.readDev, GotDevices: ct.gotDev,
			Ratchet: r, NextSend: ss.Next, NextRecv: ct.nextRecv, ReadUpTo: ct.readUpTo, Outbox: ss.Outbox,
			Deleted: ss.Deleted, Indexed: ss.Indexed, TimerSecs: int64(ct.timer / time.Second),
			ProfileKey: ct.theirProfileKey, SentKey: ct.sentProfileKey, DropBelow: ct.dropBelow, Quiet: quietOf(ct.quiet), Skipped: ct.skipped, Verified: ct.verified, Started: ct.started, Stale: ct.stale,
			Profile: ct.theirProfile, Receipt: ct.theirReceipt, Owed: ct.receiptOwed, ReceiptKey: ct.receiptKey, SentRcpt: ct.sentReceiptKey, TheirRcpt: ct.theirReceiptKey,
			Asked: string(ct.asked), Request: ct.request, RequestCopies: ct.requestCopies, IntroPath: ct.introPath, NextNumber: max(ct.nextN, 1),
			Expiring: ss.Expiring, Awaiting: out.Awaiting})
	}
	for n := range c.blocked {
		s.Blocked = append(s.Blocked, n)
	}
	for k, v := range c.settingAt {
		if s.Settings == nil {
			s.Settings = map[string]store.Stamp{}
		}
		s.Settings[k] = store.Stamp(v)
	}
	slices.Sort(s.Blocked)
	for _, u := range c.uploads {
		s.Uploads = append(s.Uploads, &store.Upload{To: u.key.conv.String(), Path: u.key.path, Size: u.Size, SHA256: u.SHA256, Key: u.Key, Caption: u.Caption, Acked: u.Acked(), Expires: u.Expires})
	}
	s.DoomedPaths = c.doomedPaths
	s.Hubs, s.HubsSeq = c.ownHubs(), c.ownSeq
	for _, g := range c.book.Groups {
		sg := storedGroup(g, storedStream(c.gstream(g.ID).State()))
		sg.NextN = max(sg.NextN, 1)
		s.Groups = append(s.Groups, sg)
	}
	s.HeldKeys = storedHeld(c.book.Held)
	s.Self = storedSessions(c.self)
	s.GroupLinks, s.GroupDevice = storedSessions(c.glinks), c.book.Dev
	return s.Marshal()
}

// messageFrom is m of me's history; storedMessage is its inverse. The
// store keeps a message's To (Conv.String's form): the contact written
// to, me, or the group.
func messageFrom(me string, m store.Message) Message {
	conv, _ := ParseConv(m.To)
	if !conv.isGroup() && m.From != me {
		conv = ContactConv(m.From)
	}
	return Message{From: m.From, Conv: conv, Seq: m.Seq, Time: m.Time, Kind: m.Kind, Text: m.Text, Ref: m.Ref, Emoji: m.Emoji, File: m.File,
		TTL: m.TTL, Expires: m.Expires, Edited: m.Edited, Deleted: m.Deleted, Reactions: m.Reactions, Earlier: m.Earlier, N: m.N, Device: m.Device}
}

func storedMessage(me string, m Message) store.Message {
	to := m.Conv.String()
	if m.From != me && !m.Conv.isGroup() {
		to = me
	}
	return store.Message{From: m.From, To: to, Seq: m.Seq, Time: m.Time, Kind: m.Kind, Text: m.Text, Ref: m.Ref, Emoji: m.Emoji, File: m.File,
		TTL: m.TTL, Expires: m.Expires, Edited: m.Edited, Deleted: m.Deleted, Reactions: m.Reactions, Earlier: m.Earlier, N: m.N, Device: m.Device}
}

// streamOf is a stream as the outbox holds it; storedStream as the store
// does. (A group's stream has no Awaiting: only a contact's has.)
func streamOf(ss store.Stream) outbox.State {
	st := outbox.State{Next: ss.Next, Deleted: ss.Deleted, Expiring: ss.Expiring, Withheld: ss.Withheld}
	for _, e := range ss.Outbox {
		st.Outbox = append(st.Outbox, outbox.Entry{Seq: e.Seq, Path: e.Path, Blob: e.Blob, Done: e.Done, Expires: e.Expires})
	}
	if ss.Indexed != nil {
		st.Indexed = make(map[string]outbox.Mark, len(ss.Indexed))
		for u, m := range ss.Indexed {
			st.Indexed[u] = outbox.Mark{Count: m.Count, Deleted: m.Deleted}
		}
	}
	return st
}

func storedStream(st outbox.State) store.Stream {
	ss := store.Stream{Next: st.Next, Deleted: st.Deleted, Expiring: st.Expiring, Withheld: st.Withheld}
	for _, e := range st.Outbox {
		ss.Outbox = append(ss.Outbox, store.Entry{Seq: e.Seq, Path: e.Path, Blob: e.Blob, Done: e.Done, Expires: e.Expires})
	}
	if st.Indexed != nil {
		ss.Indexed = make(map[string]store.Mark, len(st.Indexed))
		for u, m := range st.Indexed {
			ss.Indexed[u] = store.Mark{Count: m.Count, Deleted: m.Deleted}
		}
	}
	return ss
}

func deviceOf(d store.Device) device { return device{ID: d.ID, Gen: d.Gen, Since: d.Since} }

func (d device) stored() store.Device { return store.Device{ID: d.ID, Gen: d.Gen, Since: d.Since} }

func groupOf(sg *store.Group) *group.Group {
	g := &group.Group{ID: sg.ID, Name: sg.Name, Creator: sg.Creator, Members: sg.Members, Epoch: sg.Epoch, Gone: sg.Gone, Left: sg.Left,
		Self: sg.Self, Dev: sg.Dev, Next: sg.Next, Read: sg.Read, SentKey: sg.SentKey, Leaving: sg.Leaving, LeftSent: sg.LeftSent,
		Departed: sg.Departed, Final: sg.Final, Held: heldOf(sg.Held), TimerS: sg.TimerS, NextN: sg.NextN}
	if sg.Keys != nil {
		g.Keys = map[string][]*group.Key{}
		for m, ks := range sg.Keys {
			for _, k := range ks {
				g.Keys[m] = append(g.Keys[m], &group.Key{Epoch: k.Epoch, Seed: k.Seed, From: k.From, CK: k.CK, At: k.At, SignPub: k.SignPub, SignSeed: k.SignSeed})
			}
		}
	}
	return g
}

func storedGroup(g *group.Group, out store.Stream) *store.Group {
	sg := &store.Group{ID: g.ID, Name: g.Name, Creator: g.Creator, Members: g.Members, Epoch: g.Epoch, Gone: g.Gone, Left: g.Left,
		Self: g.Self, Dev: g.Dev, Next: g.Next, Read: g.Read, SentKey: g.SentKey, Leaving: g.Leaving, LeftSent: g.LeftSent,
		Departed: g.Departed, Final: g.Final, Held: storedHeld(g.Held), TimerS: g.TimerS, Out: out, NextN: g.NextN}
	if g.Keys != nil {
		sg.Keys = map[string][]*store.Key{}
		for m, ks := range g.Keys {
			for _, k := range ks {
				sg.Keys[m] = append(sg.Keys[m], &store.Key{Epoch: k.Epoch, Seed: k.Seed, From: k.From, CK: k.CK, At: k.At, SignPub: k.SignPub, SignSeed: k.SignSeed})
			}
		}
	}
	return sg
}

func heldOf(hs []store.Held) []group.Held {
	var out []group.Held
	for _, h := range hs {
		out = append(out, group.Held{From: h.From, Info: h.Info})
	}
	return out
}

func storedHeld(hs []group.Held) []store.Held {
	var out []store.Held
	for _, h := range hs {
		out = append(out, store.Held{From: h.From, Info: h.Info})
	}
	return out
}
