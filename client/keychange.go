package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-im/parley/chain/bns"
)

// ErrKeysChanged is wrapped by a *KeyChange.
var ErrKeysChanged = errors.New("client: a contact's keys changed")

// KeyChange reports that a contact's record on the chain no longer matches
// the one the user confirmed. Reason is the chain's history op of the
// change (update, transfer, revoke, displace, register).
type KeyChange struct {
	Name    string
	Reason  bns.Op
	Height  int64
	Old     *bns.Record
	Current *bns.Record
}

func (k *KeyChange) Error() string {
	return fmt.Sprintf("%s's keys changed on the chain at height %d (%s); check the new safety number with them, then confirm the new keys", k.Name, k.Height, k.Reason)
}

func (k *KeyChange) Unwrap() error { return ErrKeysChanged }

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

// CheckKeys compares name's verified record now with the confirmed one. A
// change of keys gives a *KeyChange; a change of hubs only is adopted.
func (c *Client) CheckKeys(ctx context.Context, name string) error {
	ct, err := c.contact(name)
	if err != nil {
		return err
	}
	cur, err := c.dir.Lookup(ctx, name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	old := ct.Record
	c.mu.Unlock()
	if sameKeys(old, cur) {
		if cur.Seq != old.Seq { // hubs or expiry changed: follow them
			c.mu.Lock()
			ct.Record = cur
			err = c.save()
			c.mu.Unlock()
		}
		return err
	}
	kc := &KeyChange{Name: name, Reason: bns.OpUpdate, Height: cur.UpdatedAt, Old: old, Current: cur}
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

// ConfirmKeys accepts name's current verified record as the contact's.
// Messages already in the conversation keep their keys; new contact
// requests and checks use the confirmed record.
func (c *Client) ConfirmKeys(ctx context.Context, name string) (*bns.Record, error) {
	ct, err := c.contact(name)
	if err != nil {
		return nil, err
	}
	cur, err := c.dir.Lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !sameKeys(ct.Record, cur) {
		ct.verified = "" // compared in person for the old keys only
	}
	ct.Record = cur
	return cur, c.save()
}

// ErrNotMine is wrapped when the chain's record for the user's name does
// not hold this device's identity: its keys were changed (or the name
// transferred or revoked) by someone with the owner key, or this device's
// identity is an old one.
var ErrNotMine = errors.New("client: the chain's record for your name does not hold this device's keys")

// CheckOwnRecord compares the chain's verified record for the user's name
// with this device's identity: owner, signing and encryption keys.
func (c *Client) CheckOwnRecord(ctx context.Context) error {
	rec, err := c.dir.Lookup(ctx, c.Name)
	if err != nil {
		return err
	}
	mine, err := c.id.Profile(rec.Profile.Hubs)
	if err != nil {
		return err
	}
	switch {
	case rec.Revoked:
		return fmt.Errorf("%w: %s is revoked", ErrNotMine, c.Name)
	case rec.Owner != bns.PublicKeyOf(c.id.OwnerKey()):
		return fmt.Errorf("%w: %s has another owner (transferred at height %d?)", ErrNotMine, c.Name, rec.UpdatedAt)
	case !sameKeys(&bns.Record{Owner: rec.Owner, Profile: mine}, rec):
		return fmt.Errorf("%w: %s's keys were changed at height %d; if not by you, your owner key is in other hands", ErrNotMine, c.Name, rec.UpdatedAt)
	}
	return nil
}
