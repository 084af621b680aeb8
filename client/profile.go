package client

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"

	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
)

// ownProfile is the user's own profile and the key it is sealed under.
type ownProfile struct {
	wire.Profile
	Key []byte
}

// MyProfile returns the user's profile.
func (c *Client) MyProfile() wire.Profile {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.profile.Profile
}

// SetProfile publishes p, sealed, on the user's hubs, and gives its key to
// every contact (not to blocked ones). Only contacts can read it. The
// user's other devices take it as theirs (a setting event in the self
// sessions).
func (c *Client) SetProfile(ctx context.Context, p wire.Profile) error {
	c.mu.Lock()
	key := c.profile.Key
	c.mu.Unlock()
	if key == nil {
		key = make([]byte, 32)
		rand.Read(key)
	}
	if err := c.publishProfile(ctx, p, key); err != nil {
		return err
	}
	return c.syncSetting(ctx, &wire.Event{Set: wire.SetProfile, Key: key})
}

// publishProfile writes p under key to every hub of the user, then gives
// the key to every contact not blocked. An old profile under another key
// is removed.
func (c *Client) publishProfile(ctx context.Context, p wire.Profile, key []byte) error {
	blob, err := wire.SealProfile(key, p)
	if err != nil {
		return err
	}
	if err := c.putOwn(ctx, wire.ProfilePath(key), blob); err != nil {
		return err
	}
	c.mu.Lock()
	old := c.profile.Key
	c.profile = ownProfile{Profile: p, Key: key}
	err = c.saveUnlock()
	if old != nil && !bytes.Equal(old, key) {
		err = cmp.Or(err, c.removeEverywhere(ctx, wire.ProfilePath(old)))
	}
	if err != nil {
		return err
	}
	for _, n := range c.unblocked() {
		// A contact whose keys changed gets it in the new conversation.
		if _, serr := c.SendEvent(ctx, ContactConv(n), &wire.Event{Kind: wire.KindProfile, Key: key}); serr != nil && !errors.Is(serr, ErrQueued) && !errors.Is(serr, ErrKeysChanged) {
			err = cmp.Or(err, serr)
		}
	}
	return err
}

// ErrNoProfile: the contact has not shared a profile (or it is gone).
var ErrNoProfile = errors.New("client: no profile shared")

// ContactProfile reads name's profile from name's hubs with the key name
// gave the user. While their hubs do not answer, it returns the profile
// as last read, if any (the hubs are in Offline).
func (c *Client) ContactProfile(ctx context.Context, name string) (*wire.Profile, error) {
	ct, err := c.contact(name)
	if err != nil {
		return nil, err
	}
	if err := c.closed(ct); err != nil {
		return nil, err
	}
	c.mu.Lock()
	key := ct.theirProfileKey
	c.mu.Unlock()
	if key == nil {
		return nil, fmt.Errorf("%w by %s", ErrNoProfile, name)
	}
	var p *wire.Profile
	hubs, addr := c.whereIs(ct)
	_, err = c.getVerified(ctx, hubs, addr, wire.ProfilePath(key), func(b []byte) (err error) {
		p, err = wire.OpenProfile(key, b)
		return err
	})
	c.mu.Lock()
	last := ct.theirProfile
	switch {
	case errors.Is(err, hub.ErrNotFound):
		c.mu.Unlock()
		return nil, fmt.Errorf("%w by %s", ErrNoProfile, name)
	case IsOffline(err) && last != nil:
		c.mu.Unlock()
		return last, nil
	case err != nil:
		c.mu.Unlock()
		return nil, err
	}
	if last == nil || !reflect.DeepEqual(*last, *p) {
		ct.theirProfile = p
		if err := c.saveUnlock(); err != nil {
			return nil, err
		}
		return p, nil
	}
	c.mu.Unlock()
	return p, nil
}
