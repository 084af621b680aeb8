package client

import (
	"context"
	"fmt"

	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/store"
)

// Recovering a name with its recovery phrase (docs/devices.md): the new
// device has new keys, and a backup, when there is one, gives it the
// contacts, groups, settings and history it held.

// RecoveredState is what a recovery takes from a backup: its state, read
// and opened before the new keys are published (the backup lives in the
// bucket of the keys the record publishes until then).
type RecoveredState struct {
	state *store.State
}

// ReadBackupForRecovery reads and opens name's backup with passphrase, as
// Restore does (its errors: ErrNoBackup, wire.ErrForged...), keeping only
// the state: the backup's keys are about to be retired.
func ReadBackupForRecovery(ctx context.Context, name string, passphrase []byte, dir Directory, opts ...Option) (*RecoveredState, error) {
	_, _, state, _, err := fetchBackup(ctx, name, passphrase, dir, opts)
	if err != nil {
		return nil, err
	}
	st, err := store.Parse(state)
	if err != nil {
		return nil, fmt.Errorf("client: backup: %w", err)
	}
	return &RecoveredState{state: st}, nil
}

// Recovered makes the client of a recovered name: id is the new device's
// identity (whose keys the chain now publishes for name), b the state a
// backup gave (nil: none, the client starts empty), kept in statePath.
// With b, the device is of the backup's next generation, and backup stays
// on under passphrase, sealing the new identity at once (in the new
// keys' bucket). What expired meanwhile is dropped.
// Conversations keep their history; each starts over once its contact
// confirms the new keys (their request replaces the old conversation).
// Group links start over, and the user's sender key in every group is a
// new one the lost device does not have, given to each member over a new
// link (the user writes the introductions of members whose names sort
// after its own, and reads the others').
func Recovered(ctx context.Context, name string, id *keystore.Identity, dir Directory, statePath string, b *RecoveredState, passphrase []byte, opts ...Option) (*Client, error) {
	rec, err := dir.Lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(rec.Profile.Hubs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoKeys, name)
	}
	if b == nil {
		return Open(ctx, name, id, dir, rec.Profile.Hubs[0], statePath, opts...)
	}
	c, err := New(ctx, name, id, dir, rec.Profile.Hubs[0], opts...)
	if err != nil {
		return nil, err
	}
	c.statePath = statePath
	if statePath != "" {
		c.store, c.changes = store.New(statePath, storeKeys(id)), &store.Changes{}
	}
	if err := c.take(b.state, b.state.History); err != nil {
		return nil, fmt.Errorf("client: backup: %w", err)
	}
	// A device of the backup's next generation (take set the backup's);
	// the backup's config sealed the old keys: EnableBackup seals the new.
	c.device, c.superseded = newDevice(c.device.Gen+1, c.now()), nil
	c.backup = nil
	// Group links were made with the old keys: every member drops its
	// link once it confirms the new ones, and needs a new introduction
	// (written by the name that sorts first), so none of them is kept.
	clear(c.links)
	if err := c.Expire(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	// The lost device holds the user's sender keys: every group gets a
	// new one, which members are given over the new links.
	c.notice(c.book.Recovered(c.genv()))
	if err := c.saveUnlock(); err != nil {
		return nil, err
	}
	if err := c.EnableBackup(ctx, passphrase); err != nil {
		return nil, fmt.Errorf("client: recovered, but the backup was not written (turn it on again: 'parley backup on'): %w", err)
	}
	return c, nil
}
