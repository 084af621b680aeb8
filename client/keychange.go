package client

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/group"
	"github.com/parley-im/parley/client/store"
)

// A contact's keys change on the chain when their record changes owner
// or keys: a key update, a transfer, a revocation, or the name expiring
// and someone else registering it. The conversation's keys belong to the
// record the user confirmed, so from the moment the client sees the
// change (CheckKeys: every send, every read through the CLI, the contacts
// listing, the watch's hourly lookup) the conversation is closed: nothing
// is sent or read on it, no receipt is written to it, and groups give the
// name no key (group.go). ConfirmKeys starts a new conversation with a
// request sealed to the new keys; a revoked name can never be confirmed.
//
// A name that expired and whose grace period is over is free: anyone may
// register it from the next block, and the client cannot know, when a
// message leaves, whether someone did in the blocks it has not seen. So a
// free name is closed as a key change is (nothing sent, nothing read, no
// group key), with nothing to confirm; if its holder registers it again
// with the same keys, the conversation goes on by itself. In the grace
// period, when only the holder may renew it, nothing changes.

// Errors of a key change: ErrKeysChanged is wrapped by every *KeyChange,
// ErrRevoked also by one for a revoked name, ErrNameFree by one for a name
// that expired and is free.
var (
	ErrKeysChanged = errors.New("client: a contact's keys changed")
	ErrRevoked     = errors.New("client: the name is revoked")
	ErrNameFree    = errors.New("client: the name expired and anyone may register it")
)

// KeyChange reports that a contact's record on the chain no longer matches
// the one the user confirmed. Reason is the chain's history op of the
// change (update, transfer, revoke, displace, register).
type KeyChange struct {
	Name    string
	Reason  bns.Op
	Height  int64
	Old     *bns.Record // as confirmed (nil if unknown)
	Current *bns.Record
	// Safety is the safety number of the user and the current keys, to
	// check with their holder before confirming ("" if revoked).
	Safety string
}

func (k *KeyChange) Error() string {
	switch {
	case k.Revoked():
		return fmt.Sprintf("%s's name was revoked at height %d: nothing can be sent to it", k.Name, k.Height)
	case k.Free():
		return fmt.Sprintf("%s's name expired at height %d and its grace period is over: anyone may register it now, so nothing is sent to it or read from it", k.Name, k.Current.ExpiresAt)
	case k.Old != nil && k.Current != nil && k.Old.Owner != k.Current.Owner:
		return fmt.Sprintf("%s's name changed hands at height %d (%s): its new holder is someone else until you check the new safety number with them and confirm", k.Name, k.Height, k.Reason)
	case k.Old != nil && k.Current != nil && k.Reason == bns.OpUpdate:
		return fmt.Sprintf("%s's keys changed on the chain at height %d (update by the same owner key: a new device after '%s' recovered the name, or someone holding that key); "+
			"check the new safety number with them, then confirm the new keys", k.Name, k.Height, k.Name)
	}
	return fmt.Sprintf("%s's keys changed on the chain at height %d (%s); check the new safety number with them, then confirm the new keys", k.Name, k.Height, k.Reason)
}

// Revoked reports whether the change is a revocation: the name is dead.
func (k *KeyChange) Revoked() bool { return k.Current != nil && k.Current.Revoked }

// Free reports whether the name expired, its grace period is over, and
// nobody registered it since: it still holds the confirmed keys, but
// anyone may take it. There is nothing to confirm; the conversation goes
// on if its holder registers it again with the same keys.
func (k *KeyChange) Free() bool {
	return !k.Revoked() && k.Old != nil && k.Current != nil && sameKeys(k.Old, k.Current)
}

func (k *KeyChange) Unwrap() []error {
	switch {
	case k.Revoked():
		return []error{ErrKeysChanged, ErrRevoked}
	case k.Free():
		return []error{ErrKeysChanged, ErrNameFree}
	}
	return []error{ErrKeysChanged}
}

func sameKeys(a, b *bns.Record) bool {
	if a.Owner != b.Owner || a.Revoked != b.Revoked || a.Profile.SigningKey != b.Profile.SigningKey || len(a.Profile.EncKeys) != len(b.Profile.EncKeys) {
		return false
	}
	for i := range a.Profile.EncKeys {
		if a.Profile.EncKeys[i].KEM != b.Profile.EncKeys[i].KEM || string(a.Profile.EncKeys[i].Key) != string(b.Profile.EncKeys[i].Key) {
			return false
		}
	}
	return true
}

// historian is the part of a Directory that can also return key history
// (lookup.Client has it); without it, the reason is reported as "update".
type historian interface {
	History(ctx context.Context, name string) (*bns.Record, []*bns.HistoryEntry, error)
}

// CheckKeys compares name's verified record now with the confirmed one
// (of the contact, and of the group link with name if there is one). A
// change of keys gives a *KeyChange and closes the conversation and the
// link (until ConfirmKeys, or until the confirmed keys are back); a
// change of hubs only is adopted. A name that is neither a contact nor a
// group member the user is linked with gives ErrNotContact.
func (c *Client) CheckKeys(ctx context.Context, name string) error {
	c.mu.Lock()
	known := c.contacts[name] != nil || c.links[name] != nil
	c.mu.Unlock()
	if !known {
		return fmt.Errorf("%w: %s", ErrNotContact, name)
	}
	_, err := c.checkName(ctx, name)
	return err
}

// checkName looks name up and compares the record with the confirmed one
// of name's contact and link, if any: a change of keys closes them (and,
// the first time it is seen, makes the user's key in every group with
// name a new one that name does not get: group.Book.KeysChanged) and gives
// the *KeyChange; a change of hubs only is followed. It returns the
// chain's record.
func (c *Client) checkName(ctx context.Context, name string) (*bns.Record, error) {
	var height int64
	if hd, ok := c.dir.(heights); ok {
		if h, err := hd.Height(ctx); err == nil {
			height = h
			c.mu.Lock()
			seen, ok := c.seen[name]
			c.mu.Unlock()
			if ok && seen.height == h {
				return seen.rec, nil // found as confirmed at this very state
			}
		}
	}
	cur, err := c.lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	free := c.free(ctx, cur)
	c.mu.Lock()
	var (
		old          *bns.Record
		dirty, newly bool
	)
	for _, ct := range []*Contact{c.contacts[name], c.links[name]} {
		switch {
		case ct == nil:
		case sameKeys(ct.Record, cur) && !free:
			if cur.Seq != ct.Record.Seq || ct.changed != nil { // hubs, expiry or devices changed, or the keys are back: follow them
				if !ct.link {
					c.deviceNotices(name, ct.Record, cur)
				}
				ct.Record, ct.changed, dirty = cur, nil, true
				// A device the record no longer lists gets nothing more,
				// not even what was sealed for it before its removal was
				// seen and waits to go out.
				ct.devs = slices.DeleteFunc(ct.devs, func(s *devSession) bool { return !listed(cur, s.peer.Device) })
			}
		default:
			old = ct.Record
			newly = newly || ct.changed == nil
			if ct.changed == nil || ct.changed.Seq != cur.Seq {
				ct.changed, dirty = cur, true // closed from now on
			}
		}
	}
	if newly {
		why := group.NewKeys
		switch {
		case cur.Revoked:
			why = group.Revoked
		case free:
			why = group.Lapsed
		}
		c.keysChangedInGroups(name, why)
	}
	if old == nil {
		if height > 0 && (c.contacts[name] != nil || c.links[name] != nil) {
			if len(c.seen) >= maxSeen {
				clear(c.seen)
			}
			c.seen[name] = seenRecord{height, cur}
		}
	} else {
		delete(c.seen, name)
	}
	var sv *store.Save
	if dirty {
		sv, err = c.prepare()
	}
	c.mu.Unlock()
	if err = cmp.Or(err, c.write(sv)); err != nil || old == nil {
		return cur, err
	}
	return cur, c.keyChange(ctx, name, old, cur)
}

// heights is the part of a Directory that says which verified height its
// answers are for now (lookup.Client has it): a name found with its
// confirmed keys at one height is not looked up again at that height.
type heights interface {
	Height(ctx context.Context) (int64, error)
}

// chainParams is the part of a Directory that gives the chain's verified
// parameters (lookup.Client has it): the grace period tells an expired
// name only its holder may renew from a free one.
type chainParams interface {
	Params(ctx context.Context) (bns.Params, error)
}

// free reports whether rec's name is free at the latest verified height:
// expired, its grace period over, so anyone may register it in the next
// block. A directory that cannot say (no heights or params) says no.
func (c *Client) free(ctx context.Context, rec *bns.Record) bool {
	hd, ok := c.dir.(heights)
	pd, ok2 := c.dir.(chainParams)
	if rec.Revoked || !ok || !ok2 {
		return false
	}
	h, err := hd.Height(ctx)
	if err != nil || h <= rec.ExpiresAt {
		return false
	}
	p, err := pd.Params(ctx)
	return err == nil && h > rec.ExpiresAt+p.GracePeriod
}

// seenRecord is a name's record as looked up at a verified height, when
// it held the confirmed keys.
type seenRecord struct {
	height int64
	rec    *bns.Record
}

// maxSeen bounds the records kept per height (one per contact or link).
const maxSeen = 4096

// Lapsing reports, for a contact whose name has expired but is in its
// grace period at the latest verified height (only its holder may renew
// it; messages still go to it), the last height of that period: after it
// the name is free and nothing more is sent to it. ok is false for a live
// name, a free or changed one, or when the directory cannot say.
func (c *Client) Lapsing(ctx context.Context, name string) (graceEnd int64, ok bool) {
	rec, err := c.ContactRecord(name)
	hd, ok1 := c.dir.(heights)
	pd, ok2 := c.dir.(chainParams)
	if err != nil || !ok1 || !ok2 || rec.Revoked {
		return 0, false
	}
	h, err := hd.Height(ctx)
	if err != nil || h <= rec.ExpiresAt {
		return 0, false
	}
	p, err := pd.Params(ctx)
	if err != nil || h > rec.ExpiresAt+p.GracePeriod {
		return 0, false
	}
	return rec.ExpiresAt + p.GracePeriod, true
}

// keyChange describes the change from old to cur, with its reason and
// height from the name's history when the directory has it.
func (c *Client) keyChange(ctx context.Context, name string, old, cur *bns.Record) *KeyChange {
	kc := &KeyChange{Name: name, Reason: bns.OpUpdate, Height: cur.UpdatedAt, Old: old, Current: cur, Safety: c.safetyOf(cur)}
	if h, ok := c.dir.(historian); ok {
		if _, entries, err := h.History(ctx, name); err == nil {
			for _, e := range entries {
				if e.Seq > old.Seq {
					kc.Reason, kc.Height = e.Op, e.Height
					if e.Op != bns.OpRenew {
						break
					}
				}
			}
		}
	}
	return kc
}

// closed returns, for a contact whose key change the client has seen, the
// *KeyChange that closed the conversation (without asking the chain
// again), else nil; the caller does not hold c.mu.
func (c *Client) closed(ct *Contact) error {
	c.mu.Lock()
	old, cur := ct.Record, ct.changed
	c.mu.Unlock()
	if cur == nil {
		return nil
	}
	return &KeyChange{Name: ct.Name, Reason: bns.OpUpdate, Height: cur.UpdatedAt, Old: old, Current: cur, Safety: c.safetyOf(cur)}
}

// safetyOf is SafetyNumber, or "" for a record without keys (revoked).
func (c *Client) safetyOf(rec *bns.Record) string {
	if rec == nil || rec.Profile.IsEmpty() {
		return ""
	}
	return c.SafetyNumber(rec)
}

// ConfirmGreeting is the first message of the conversation ConfirmKeys
// starts with a contact's new keys.
const ConfirmGreeting = "I saw that your keys changed and confirmed the new ones: our conversation starts over."

// ConfirmKeys accepts name's current verified record as the one of the
// contact, and of the group link with name if there is one. If its keys
// differ from the confirmed ones, the old conversation is over: its
// messages stay in the history as earlier ones, its keys are dropped
// (nothing more is sent or read with them), the user's profile moves
// under a new key, and a new contact request, sealed to the new keys,
// starts a new conversation, which the name's holder accepts like any
// request. The link is dropped too, with the keys name gave the user in
// groups: a new link, made with the new record, carries the group keys
// from then on. A revoked name is refused (ErrRevoked), as is a record
// that publishes no keys yet (ErrNoKeys: after a transfer, until the new
// owner publishes theirs).
func (c *Client) ConfirmKeys(ctx context.Context, name string) (*bns.Record, error) {
	c.mu.Lock()
	ct, l := c.contacts[name], c.links[name]
	c.mu.Unlock()
	if ct == nil && l == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotContact, name)
	}
	cur, err := c.lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	if c.free(ctx, cur) { // nothing to confirm: nobody holds it
		var rec *bns.Record
		for _, x := range []*Contact{ct, l} {
			if x != nil {
				rec = x.Record
			}
		}
		return nil, &KeyChange{Name: name, Reason: bns.OpUpdate, Height: cur.UpdatedAt, Old: rec, Current: cur}
	}
	c.mu.Lock()
	var old *bns.Record
	for _, x := range []*Contact{ct, l} {
		if x != nil && !sameKeys(x.Record, cur) {
			old = x.Record
		}
	}
	if old == nil {
		for _, x := range []*Contact{ct, l} {
			if x != nil {
				x.Record, x.changed = cur, nil
			}
		}
		err = c.saveUnlock()
		return cur, err
	}
	c.mu.Unlock()
	switch {
	case cur.Revoked:
		return nil, c.keyChange(ctx, name, old, cur)
	case len(cur.Profile.Hubs) == 0 || cur.Profile.SigningKey.IsZero() || len(cur.Profile.EncKeys) == 0:
		return nil, fmt.Errorf("%w: %s's record holds no keys yet (its new owner has not published theirs): confirm once it does", ErrNoKeys, name)
	}
	c.mu.Lock()
	delete(c.seen, name)
	restart := ct != nil && !sameKeys(ct.Record, cur)
	if restart {
		c.startOver(name)
	}
	delete(c.links, name)
	c.notice(c.book.Confirmed(name, c.genv()))
	profile := c.profile
	err = c.saveUnlock()
	if err != nil || !restart {
		return cur, err
	}
	if err := c.Request(ctx, name, ConfirmGreeting); err != nil && !errors.Is(err, ErrQueued) { // queued: it goes out with a later Flush
		return nil, fmt.Errorf("client: %s's old conversation is closed, but the new request did not go out (add them again): %w", name, err)
	}
	if profile.Key != nil { // the old holder had the profile's key
		key := make([]byte, 32)
		rand.Read(key)
		if err := c.publishProfile(ctx, profile.Profile, key); err != nil {
			return cur, fmt.Errorf("client: the conversation with %s started over, but your profile did not move under a new key the old holder lacks: %w", name, err)
		}
	}
	return cur, nil
}

// ErrNotMine is wrapped when the chain's record for the user's name does
// not hold this device's identity: its keys were changed (or the name
// transferred or revoked) by someone with the owner key, or this device's
// identity is an old one.
var ErrNotMine = errors.New("client: the chain's record for your name does not hold this device's keys")

// CheckOwnRecord compares the chain's verified record for the user's name
// with this device's identity: owner, signing and encryption keys.
func (c *Client) CheckOwnRecord(ctx context.Context) error {
	rec, err := c.lookup(ctx, c.Name)
	if err != nil {
		return err
	}
	mine, err := c.id.Profile(rec.Profile.Hubs)
	if err != nil {
		return err
	}
	me := bns.PublicKeyOf(c.id.SigningKey())
	dev, listed := rec.Device(me)
	switch {
	case rec.Revoked:
		return fmt.Errorf("%w: %s is revoked", ErrNotMine, c.Name)
	case listed && me != rec.Profile.SigningKey: // a device linked to the name, listed with its own keys
		if !sameKeys(&bns.Record{Profile: bns.Profile{SigningKey: me, EncKeys: mine.EncKeys}}, &bns.Record{Profile: bns.Profile{SigningKey: me, EncKeys: dev.EncKeys}}) {
			return fmt.Errorf("%w: %s lists this device's signing key with other encryption keys", ErrNotMine, c.Name)
		}
		return nil
	case rec.Owner != c.id.Owner():
		return fmt.Errorf("%w: %s's record does not list this device: another owner key holds the name (transferred at height %d?), or this device was linked to it and has been removed ('parley whois %s' shows when)", ErrNotMine, c.Name, rec.UpdatedAt, c.Name)
	case !sameKeys(&bns.Record{Owner: rec.Owner, Profile: mine}, rec):
		return fmt.Errorf("%w: %s's keys were changed at height %d: if you ran 'parley recover' on another device, this one is retired; if not, your owner key is in other hands", ErrNotMine, c.Name, rec.UpdatedAt)
	}
	return nil
}

// deviceNotices puts in the conversation with name a quiet notice for
// each device its owner's devices added or removed between the record
// the user holds and cur (the same owner and first device: a new owner
// or first device is a key change, and loud). The caller holds c.mu.
func (c *Client) deviceNotices(name string, old, cur *bns.Record) {
	in := func(ds []bns.Device, k bns.PublicKey) bool {
		return slices.ContainsFunc(ds, func(d bns.Device) bool { return d.SigningKey == k })
	}
	short := func(k bns.PublicKey) string { return k.String()[:len("ed25519:")+16] + "…" }
	for _, d := range cur.Devices {
		if !in(old.Devices, d.SigningKey) {
			c.history = append(c.history, Message{From: name, Conv: ContactConv(name), Kind: KindNotice, Time: c.now(),
				Text: fmt.Sprintf("%s added a device: %s (%s) at height %d", name, d.Label, short(d.SigningKey), d.AddedAt)})
		}
	}
	for _, d := range old.Devices {
		if !in(cur.Devices, d.SigningKey) {
			c.history = append(c.history, Message{From: name, Conv: ContactConv(name), Kind: KindNotice, Time: c.now(),
				Text: fmt.Sprintf("%s removed a device: %s (%s) by height %d", name, d.Label, short(d.SigningKey), cur.UpdatedAt)})
		}
	}
}
