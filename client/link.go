package client

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/ratchet"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
)

// Group links. Two members of a group need a pairwise channel for the
// group's rosters and sender keys whether or not they are contacts: they
// may never have met, or one may have declined the other's contact
// request (which leaves the requester a conversation the other never
// reads). So every pair of group members has a link: a conversation of
// its own (a *Contact with link set, in c.links, never listed as a
// contact), made without any request, as in case 1: both know each
// other's names from the roster; the name that sorts first writes an
// introduction (a handshake envelope, sealed to the other's record and
// signed) on its own hubs at wire.LinkIntroPath(pair, writer, reader), and
// the other reads it from there. The conversation runs on wire.LinkKey of
// the introduction's mutual key and carries group events only; anything
// else on it is consumed and dropped.
//
// Either side may start a link over by writing a new introduction at its
// own path (a device restored from a backup older than the link does); a
// side that holds a link takes the other's introduction in its place when
// it is newer than the link (or as new, and from the name that sorts
// first), so both end on the same one. A link belongs to the record it was
// made with, as a contact does: a key change closes it (keychange.go), and
// confirming the new keys drops it for a new one.

// link returns the user's open link with name: the one it has, or a new
// one the user writes the introduction of (its name sorts first), or one
// made from name's introduction on name's hubs (ErrIntroPending while
// there is none). A closed link gives its *KeyChange. A blocked name gets
// no link.
func (c *Client) link(ctx context.Context, name string) (*Contact, error) {
	if name == c.Name {
		return nil, fmt.Errorf("client: no link with yourself")
	}
	if c.isBlocked(name) {
		return nil, fmt.Errorf("client: %s is blocked", name)
	}
	c.mu.Lock()
	l := c.links[name]
	c.mu.Unlock()
	if l != nil {
		if err := c.closed(l); err != nil {
			return nil, err
		}
		if nl, err := c.readLink(ctx, name, l); err == nil && nl != nil { // a newer introduction of theirs
			return nl, nil
		}
		return l, nil
	}
	rec, err := c.linkRecord(ctx, name)
	if err != nil {
		return nil, err
	}
	if c.Name < name {
		return c.writeLink(ctx, rec, nil)
	}
	nl, err := c.readLink(ctx, name, nil)
	if err == nil && nl == nil {
		err = fmt.Errorf("%w: %s", ErrIntroPending, name)
	}
	return nl, err
}

// linkRecord is the record a new link with name is made for: the
// contact's confirmed one if name is a contact (refused with the
// *KeyChange if the chain no longer has its keys), else the chain's.
func (c *Client) linkRecord(ctx context.Context, name string) (*bns.Record, error) {
	rec, err := c.checkName(ctx, name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if ct := c.contacts[name]; ct != nil {
		rec = ct.Record
	}
	c.mu.Unlock()
	switch {
	case rec.Revoked:
		return nil, &KeyChange{Name: name, Reason: bns.OpRevoke, Height: rec.UpdatedAt, Current: rec}
	case len(rec.Profile.Hubs) == 0 || rec.Profile.SigningKey.IsZero():
		return nil, fmt.Errorf("%w: %s", ErrNoKeys, name)
	}
	return rec, nil
}

// pairSecret is the X25519 secret of the user's key and rec's.
func (c *Client) pairSecret(rec *bns.Record) ([32]byte, error) {
	their, err := x25519Of(rec)
	if err != nil {
		return [32]byte{}, err
	}
	mine, err := c.myX25519()
	if err != nil {
		return [32]byte{}, err
	}
	return wire.PairSecret(mine, their.Bytes())
}

// writeLink makes a new link with rec's name, the user writing its
// introduction (over any older one), and keeps it. A link started over
// (old: the one it replaces) is dated at least a second after old began,
// so the other side, which took old or wrote it, finds it newer, and
// neither ever takes old again.
func (c *Client) writeLink(ctx context.Context, rec *bns.Record, old *Contact) (*Contact, error) {
	their, err := x25519Of(rec)
	if err != nil {
		return nil, err
	}
	pair, err := c.pairSecret(rec)
	if err != nil {
		return nil, err
	}
	var k [32]byte
	rand.Read(k[:])
	in := wire.Intro{From: c.Name, To: rec.Name, MutualKey: k, Time: c.now().Truncate(time.Second)}
	if old != nil {
		c.mu.Lock()
		if after := old.started.Add(time.Second); in.Time.Before(after) {
			in.Time = after
		}
		c.mu.Unlock()
	}
	env, err := wire.SealIntro(c.id.SigningKey(), in, rec)
	if err != nil {
		return nil, err
	}
	lk := wire.LinkKey(k)
	r := ratchet.InitAlice(lk, their, nil)
	if err := c.putOwn(ctx, wire.LinkIntroPath(pair, c.Name, rec.Name), env); err != nil {
		return nil, fmt.Errorf("client: group link with %s: %w", rec.Name, err)
	}
	l := &Contact{Name: rec.Name, Record: rec, mutual: k, keys: wire.ConversationKeys(lk, c.Name, rec.Name), ratchet: r, started: in.Time, link: true}
	return l, c.keepLink(l)
}

// readLink reads name's introduction of a link to the user from name's
// hubs and, if it is not the one of old (nil: none yet) and newer than old
// (or as new, and name sorts first), makes the link from it and keeps it.
// It returns nil if there is nothing new.
func (c *Client) readLink(ctx context.Context, name string, old *Contact) (*Contact, error) {
	var rec *bns.Record
	if old != nil {
		c.mu.Lock()
		rec = old.Record
		c.mu.Unlock()
	} else {
		var err error
		if rec, err = c.linkRecord(ctx, name); err != nil {
			return nil, err
		}
	}
	pair, err := c.pairSecret(rec)
	if err != nil {
		return nil, err
	}
	env, err := c.getFrom(ctx, rec.Profile.Hubs, auth.NativeAddress(rec.Profile.SigningKey[:]), wire.LinkIntroPath(pair, name, c.Name))
	if errors.Is(err, hub.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	xk, err := c.id.X25519Key()
	if err != nil {
		return nil, err
	}
	hk, err := c.id.HybridKey()
	if err != nil {
		return nil, err
	}
	// Signed by the key of the record the link is for, not whatever the
	// chain says now.
	in, err := wire.OpenIntro(env, c.Name, []hpkeKey{xk, hk}, func(string) (*bns.Record, error) { return rec, nil })
	if err != nil {
		return nil, fmt.Errorf("client: %s's group link introduction: %w", name, err)
	}
	if in.From != name {
		return nil, fmt.Errorf("%w: group link introduction on %s's hub is from %q", wire.ErrForged, name, in.From)
	}
	if old != nil && (in.MutualKey == old.mutual || in.Time.Before(old.started) || (in.Time.Equal(old.started) && c.Name < name)) {
		return nil, nil
	}
	mine, err := c.myX25519()
	if err != nil {
		return nil, err
	}
	lk := wire.LinkKey(in.MutualKey)
	l := &Contact{Name: name, Record: rec, mutual: in.MutualKey, keys: wire.ConversationKeys(lk, c.Name, name),
		ratchet: ratchet.InitBob(lk, mine, nil), started: in.Time, link: true}
	return l, c.keepLink(l)
}

// keepLink takes l as the link with its name (in place of any other):
// every group key the user gave that name goes again, over l.
func (c *Client) keepLink(l *Contact) error {
	c.mu.Lock()
	c.links[l.Name] = l
	c.book.Relinked(l.Name)
	return c.saveUnlock()
}

// sendLink seals e as the next event of link l and sends it, after
// checking l's record on the chain. The side that read the introduction
// sends once the other side's first event arrived (errCannotSendYet
// until then).
func (c *Client) sendLink(ctx context.Context, l *Contact, e *wire.Event) error {
	if _, err := c.checkName(ctx, l.Name); err != nil {
		return err
	}
	c.mu.Lock()
	canSend := l.ratchet.CanSend()
	c.mu.Unlock()
	if !canSend {
		if _, err := c.receiveConv(ctx, l); err != nil {
			return err
		}
		c.mu.Lock()
		canSend = l.ratchet.CanSend()
		c.mu.Unlock()
		if !canSend {
			return fmt.Errorf("%w: %s", errCannotSendYet, l.Name)
		}
	}
	c.mu.Lock()
	m, err := c.seal(l, e)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	if err := c.saveUnlock(); err != nil {
		return err
	}
	return c.flushQueued(ctx, l.Name, &l.out, m.Seq)
}

// receiveLinks reads every open link's new events (group rosters and
// keys), as Receive does a contact's.
func (c *Client) receiveLinks(ctx context.Context, names ...string) ([]Message, error) {
	if names == nil {
		c.mu.Lock()
		for n := range c.links {
			names = append(names, n)
		}
		c.mu.Unlock()
	}
	var (
		out      []Message
		firstErr error
	)
	for _, n := range names {
		c.mu.Lock()
		l := c.links[n]
		c.mu.Unlock()
		if l == nil || c.isBlocked(n) || c.closed(l) != nil {
			continue
		}
		if _, err := c.checkName(ctx, n); err != nil && !IsOffline(err) { // as Receive
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		ms, err := c.receiveConv(ctx, l)
		out = append(out, ms...)
		if firstErr == nil {
			firstErr = err
		}
	}
	return out, firstErr
}

// memberConv is the conversation that vouches for a group member's
// record: the link if there is one, else the contact (nil if neither).
func (c *Client) memberConv(name string) *Contact {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.links[name]; l != nil {
		return l
	}
	return c.contacts[name]
}
