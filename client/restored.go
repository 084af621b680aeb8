package client

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/client/store"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
)

// A restore while the old device still runs. Each device's state names
// the device: a random ID, its generation (one more than the backup's it
// was restored from; 0 for a device made by init) and when it began. The
// backup carries them. Before its first write to the user's hubs in a
// run (and whenever a write finds the backup or a message path holding
// what it did not write), a device reads the backup's ETag, and if it is
// not the one it last wrote, opens the backup (its state key is the
// identity's): a backup written by a device of a later generation (or of
// the same one with a greater ID: two restores of one backup) means this
// identity was restored elsewhere. This device then writes nothing more to
// the user's hubs, ever (ErrRestoredElsewhere): it would overwrite the
// backup and take message numbers the other device uses. What it holds
// stays readable. The restored device writes a new backup at once, so the
// old one notices on its next write.

// ErrRestoredElsewhere is wrapped by a *RestoredError.
var ErrRestoredElsewhere = errors.New("client: your identity was restored on another device")

// RestoredError reports that the user's identity was restored on another
// device, which now writes to the user's hubs; this device no longer does.
type RestoredError struct {
	Since time.Time // when the other device was restored (its clock)
}

func (e *RestoredError) Error() string {
	return fmt.Sprintf("your identity was restored on another device on %s: this device no longer writes to your hubs, so as not to overwrite what that one writes",
		e.Since.UTC().Format("2006-01-02 15:04 UTC"))
}

func (e *RestoredError) Unwrap() error { return ErrRestoredElsewhere }

// device is what the state says about the device it lives on.
type device struct {
	ID    string
	Gen   uint64
	Since time.Time
}

// newDevice makes a device of generation gen, begun at now.
func newDevice(gen uint64, now time.Time) device {
	b := make([]byte, 16)
	rand.Read(b)
	return device{ID: hex.EncodeToString(b), Gen: gen, Since: now.UTC().Truncate(time.Second)}
}

// newer reports whether d replaces o: a later generation, or the same
// one from another restore (the greater ID wins, as both devices see it).
func (d device) newer(o device) bool {
	return d.Gen > o.Gen || (d.Gen == o.Gen && d.ID > o.ID)
}

// etagOf is the ETag a hub gives blob (its MD5, in hex).
func etagOf(blob []byte) string {
	sum := md5.Sum(blob)
	return hex.EncodeToString(sum[:])
}

// Superseded returns, once this device learned that the identity was
// restored elsewhere, the *RestoredError its writes fail with; else nil.
func (c *Client) Superseded() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.supersededErr()
}

// supersededErr is Superseded; the caller holds c.mu.
func (c *Client) supersededErr() error {
	if c.superseded == nil {
		return nil
	}
	return &RestoredError{Since: c.superseded.Since}
}

// writable returns nil if this device may write to the user's hubs, or
// the *RestoredError that stops it. It reads the backup's ETag once a run
// (again if force: a write found something it did not write).
func (c *Client) writable(ctx context.Context, force bool) error {
	c.mu.Lock()
	if err := c.supersededErr(); err != nil || c.backup == nil || (c.restoreChecked && !force) {
		c.mu.Unlock()
		return err
	}
	c.mu.Unlock()
	return c.checkBackup(ctx, c.ownHubs())
}

// checkBackup reads the backup from the first of hubs that answers with
// it: if another device of a later generation wrote it, this device is
// superseded (a *RestoredError); if this device or an older one did,
// its ETag becomes the one the next write replaces.
func (c *Client) checkBackup(ctx context.Context, hubs []string) error {
	c.mu.Lock()
	if c.backup == nil {
		c.mu.Unlock()
		return nil
	}
	path, etag, me := c.backup.Path, c.backupETag, c.device
	c.mu.Unlock()
	for _, url := range hubs {
		h, err := c.dial(ctx, url)
		if err != nil {
			continue
		}
		blob, tag, err := h.GetIfChanged(ctx, c.Address(), path, etag)
		switch {
		case errors.Is(err, hub.ErrNotFound):
			c.mu.Lock()
			c.restoreChecked = true // not there (yet): nothing to compare
			c.mu.Unlock()
			continue
		case err != nil:
			continue
		case blob == nil: // as this device last wrote it
			c.mu.Lock()
			c.restoreChecked = true
			c.mu.Unlock()
			return nil
		}
		other, err := c.backupDevice(blob, path)
		if err != nil {
			continue // not a backup of this identity: that hub's copy proves nothing
		}
		c.mu.Lock()
		if other.ID != "" && other.ID != me.ID && other.newer(me) {
			c.superseded = &device{ID: other.ID, Gen: other.Gen, Since: other.Since}
			superseded := c.supersededErr()
			if err := c.saveUnlock(); err != nil {
				return err
			}
			return superseded
		}
		c.backupETag, c.restoreChecked = tag, true // ours, or an older device's: overwritten next
		c.mu.Unlock()
		return nil
	}
	return nil
}

// backupDevice opens the state in a backup blob at path with this
// identity's key and returns the device it names.
func (c *Client) backupDevice(blob []byte, path string) (device, error) {
	b, err := wire.ParseBackup(blob)
	if err != nil {
		return device{}, err
	}
	sk := c.id.LocalKey("backup")
	aead, _ := chacha20poly1305.NewX(sk[:])
	padded, err := aead.Open(nil, b.Nonce, b.State, wire.BackupAD(b.Version, path))
	if err != nil || len(padded) < 4 || int(binary.BigEndian.Uint32(padded)) > len(padded)-4 {
		return device{}, fmt.Errorf("client: a backup this identity did not write: %w", wire.ErrForged)
	}
	var d store.Device // the state's device fields
	if err := json.Unmarshal(padded[4:4+binary.BigEndian.Uint32(padded)], &d); err != nil {
		return device{}, fmt.Errorf("client: backup: %w", err)
	}
	return deviceOf(d), nil
}
