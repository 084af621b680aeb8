package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/ratchet"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
)

// ErrIntroPending: the other side has not introduced itself yet (case 1,
// when the user's name sorts after theirs); try again later.
var ErrIntroPending = errors.New("client: waiting for them to add you")

// Introduce makes name a contact when both already know each other's
// names (the thesis's case 1): no inbox, no third party. Both sides compute
// a pair secret from their keys on the chain; the side whose name sorts
// first makes the mutual key and writes the introduction, sealed to the
// other and signed, to its own hub at wire.IntroPath; the other side reads
// it from there. Called by the second side before the first, it returns
// ErrIntroPending.
func (c *Client) Introduce(ctx context.Context, name, greeting string) error {
	if name == c.Name {
		return fmt.Errorf("%w: %s", ErrOwnName, name)
	}
	if greeting != "" {
		if err := CheckText(greeting); err != nil {
			return err
		}
	}
	if _, err := c.contact(name); err == nil {
		return fmt.Errorf("%w: %s", ErrAlreadyContact, name)
	}
	if c.LinkedDevice(ctx) {
		return fmt.Errorf("%w: introduce %s there, or send %s a request from here", ErrLinkedDevice, name, name)
	}
	if err := c.writable(ctx, false); err != nil {
		return err
	}
	rec, err := c.lookup(ctx, name)
	if err != nil {
		return err
	}
	their, err := x25519Of(rec)
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
	if c.Name < name { // we write the introduction
		ct, err := c.begin(rec, their, greeting, wire.IntroPath(pair, c.Name, name))
		if err != nil {
			return err
		}
		return c.ask(ctx, ct, greeting)
	}
	// They write it: read it from their hub.
	if len(rec.Profile.Hubs) == 0 || rec.Profile.SigningKey.IsZero() {
		return fmt.Errorf("%w: %s", ErrNoKeys, name)
	}
	env, err := c.getFrom(ctx, rec.Profile.Hubs, auth.NativeAddress(rec.Profile.SigningKey[:]), wire.IntroPath(pair, name, c.Name))
	if errors.Is(err, hub.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrIntroPending, name)
	}
	if err != nil {
		return err
	}
	xk, err := c.id.X25519Key()
	if err != nil {
		return err
	}
	hk, err := c.id.HybridKey()
	if err != nil {
		return err
	}
	in, err := wire.OpenIntro(env, c.Name, []hpkeKey{xk, hk}, func(from string) (*bns.Record, error) { return c.lookup(ctx, from) })
	if err != nil {
		return err
	}
	if in.From != name {
		return fmt.Errorf("%w: introduction on %s's hub is from %q", wire.ErrForged, name, in.From)
	}
	if err := c.addContact(&Contact{Name: name, Record: rec, mutual: in.MutualKey, keys: wire.ConversationKeys(in.MutualKey, c.Name, name),
		ratchet: ratchet.InitBob(in.MutualKey, mine, nil)}); err != nil {
		return err
	}
	if greeting == "" {
		return nil
	}
	return c.Send(ctx, name, greeting) // fetches their first message if needed
}

func (c *Client) addContact(ct *Contact) error {
	c.mu.Lock()
	if _, ok := c.contacts[ct.Name]; ok {
		c.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrAlreadyContact, ct.Name)
	}
	c.contacts[ct.Name] = ct
	return c.saveUnlock()
}
