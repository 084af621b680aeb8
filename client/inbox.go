package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
)

// ErrUndecodable marks an envelope in the user's inbox that this device
// can never open: not sealed to its keys, malformed, or not signed by the
// key its claimed sender's record holds. Anyone can post such junk (a
// stamp costs work, not identity); it never blocks the user:
// ClearUndecodable removes it and MoveInbox leaves it behind. An envelope
// that fails for a reason that may pass (its sender's name not provable
// yet, the chain unreachable) is not undecodable.
var ErrUndecodable = errors.New("client: the request cannot be opened")

// openEnvelope opens an envelope of the user's inbox; an error that no
// later try can change wraps ErrUndecodable.
func (c *Client) openEnvelope(ctx context.Context, env []byte) (*opened, error) {
	xk, err := c.id.X25519Key()
	if err != nil {
		return nil, err
	}
	hk, err := c.id.HybridKey()
	if err != nil {
		return nil, err
	}
	in, signer, rec, err := wire.OpenRequest(env, c.Name, []hpkeKey{xk, hk}, func(from string) (*bns.Record, error) { return c.lookup(ctx, from) })
	switch {
	case errors.Is(err, wire.ErrForged):
		return nil, &undecodable{why: "not signed by a device its sender's record lists on the chain, or not for you", err: err}
	case errors.Is(err, wire.ErrMalformed):
		return nil, &undecodable{why: "not sealed to your keys, or malformed", err: err}
	case err != nil:
		return nil, err
	}
	o := &opened{Intro: in, signer: signer}
	if signer != rec.Profile.SigningKey {
		d, _ := rec.Device(signer)
		o.device = d.Label
	}
	return o, nil
}

// opened is a request that opened: the intro, the device that signed it
// and, if that is not the sender's first device, its label.
type opened struct {
	*wire.Intro
	signer bns.PublicKey
	device string
}

// undecodable is an ErrUndecodable with the reason in words.
type undecodable struct {
	why string
	err error
}

func (u *undecodable) Error() string   { return "the request cannot be opened: " + u.why }
func (u *undecodable) Unwrap() []error { return []error{ErrUndecodable, u.err} }

// Junk is an undecodable envelope removed from an inbox.
type Junk struct {
	ID     string
	Hub    string
	Reason string // why it cannot be opened, in words
}

// ClearUndecodable removes every envelope that cannot be opened
// (ErrUndecodable) from the inboxes on the user's hubs, and returns what
// it removed. Requests that open, or may open later, stay. A hub that does
// not answer is left out; if none answers, err says why.
func (c *Client) ClearUndecodable(ctx context.Context) ([]Junk, error) {
	var (
		removed []Junk
		errs    []error
	)
	own := c.ownHubs()
	for _, url := range own {
		junk, err := c.clearOn(ctx, url)
		removed = append(removed, junk...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", url, err))
		}
	}
	if len(errs) == len(own) {
		return removed, errors.Join(errs...)
	}
	return removed, nil
}

func (c *Client) clearOn(ctx context.Context, url string) ([]Junk, error) {
	h, err := c.dial(ctx, url)
	if err != nil {
		return nil, err
	}
	entries, err := h.InboxList(ctx)
	if err != nil {
		return nil, err
	}
	var removed []Junk
	for _, e := range entries {
		env, err := h.InboxGet(ctx, e.ID)
		if errors.Is(err, hub.ErrNotFound) {
			continue // answered meanwhile
		}
		if err != nil {
			return removed, err
		}
		if _, err := c.openEnvelope(ctx, env); !errors.Is(err, ErrUndecodable) {
			continue
		} else if derr := h.InboxDelete(ctx, e.ID); derr != nil && !errors.Is(derr, hub.ErrNotFound) {
			return removed, derr
		} else {
			var u *undecodable
			errors.As(err, &u)
			removed = append(removed, Junk{ID: e.ID, Hub: url, Reason: u.why})
		}
	}
	return removed, nil
}
