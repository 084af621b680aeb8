package client

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
)

// Encrypted backup: the identity and the whole local state (contacts,
// conversations' ratchets, history less what expired) on the user's own
// hubs, so that a new device restores everything from the name and the
// backup passphrase alone.
//
// The blob lives at "b/" ‖ hex(first 16 bytes of Argon2id(passphrase,
// salt = "parley/backup-path/v1|" ‖ name)): only someone with the
// passphrase can find it. It holds the identity sealed under the backup
// passphrase (a keystore file, Argon2id then XChaCha20-Poly1305, made once
// when backup is turned on) and the state sealed under a key derived from
// the identity, padded to a multiple of 64 KiB:
//
//	"parley/backup/v1\n" ‖ u32 len ‖ keystore ‖ nonce[24] ‖ XChaCha20-Poly1305(state, ad = path)
//
// The backup is rewritten after any change (Backup, run after every CLI
// command and by Watch). The hub operator can guess names and try
// passphrases offline against Argon2id: the passphrase must be strong.

const backupMagic = "parley/backup/v1\n"

type backupConfig struct {
	Path     string `json:"path"`
	Keystore []byte `json:"keystore"` // the identity under the backup passphrase
}

// BackupKDF is the Argon2id cost of the backup path and keystore.
var BackupKDF = keystore.DefaultKDF

// BackupPath is where name's backup under passphrase lives.
func BackupPath(name string, passphrase []byte, kdf keystore.KDF) string {
	k := argon2.IDKey(passphrase, []byte("parley/backup-path/v1|"+name), kdf.Time, kdf.Memory, kdf.Threads, 16)
	return "b/" + hex.EncodeToString(k)
}

// EnableBackup turns backup on under passphrase and writes the first one.
func (c *Client) EnableBackup(ctx context.Context, passphrase []byte) error {
	if len(passphrase) < 12 {
		return errors.New("client: a backup passphrase needs at least 12 characters: the hub can try guesses offline")
	}
	ks, err := c.id.Seal(passphrase, BackupKDF, c.now())
	if err != nil {
		return err
	}
	cfg := &backupConfig{Path: BackupPath(c.Name, passphrase, BackupKDF), Keystore: ks}
	c.mu.Lock()
	old := c.backup
	c.backup = cfg
	err = c.save()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if old != nil && old.Path != cfg.Path {
		c.removeEverywhere(ctx, old.Path)
	}
	return c.Backup(ctx)
}

// DisableBackup turns backup off and deletes the backup from the hubs.
func (c *Client) DisableBackup(ctx context.Context) error {
	c.mu.Lock()
	if c.backup == nil {
		c.mu.Unlock()
		return nil
	}
	path := c.backup.Path
	c.backup = nil
	err := c.save()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.removeEverywhere(ctx, path)
}

// BackupOn reports whether backup is on.
func (c *Client) BackupOn() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.backup != nil
}

// Backup writes the backup to every hub of the user if backup is on and
// the state changed since the last one.
func (c *Client) Backup(ctx context.Context) error {
	c.mu.Lock()
	if c.backup == nil || (c.backedUp == c.saves && c.backedUp != 0) {
		c.mu.Unlock()
		return nil
	}
	saves, cfg := c.saves, c.backup
	plain, err := c.snapshot(c.now(), true)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	key := c.id.LocalKey("backup")
	blob := sealBackup(key, cfg, plain)
	var firstErr error
	stored := false
	for _, url := range c.own {
		h, err := c.dial(ctx, url)
		if err == nil {
			_, err = h.Put(ctx, cfg.Path, blob, "application/octet-stream", hubclient.Cond{})
		}
		if err != nil {
			firstErr = cmp.Or(firstErr, fmt.Errorf("client: backup to %s: %w", url, err))
			continue
		}
		stored = true
	}
	if stored {
		c.mu.Lock()
		c.backedUp = max(c.backedUp, saves)
		c.mu.Unlock()
	}
	return firstErr
}

func sealBackup(key [32]byte, cfg *backupConfig, state []byte) []byte {
	padded := binary.BigEndian.AppendUint32(nil, uint32(len(state)))
	padded = append(padded, state...)
	padded = append(padded, make([]byte, (65536-len(padded)%65536)%65536)...)
	out := append([]byte(backupMagic), binary.BigEndian.AppendUint32(nil, uint32(len(cfg.Keystore)))...)
	out = append(out, cfg.Keystore...)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(nonce)
	out = append(out, nonce...)
	aead, _ := chacha20poly1305.NewX(key[:])
	return aead.Seal(out, nonce, padded, []byte(cfg.Path))
}

// ErrNoBackup: no hub of the name holds a backup under that passphrase.
var ErrNoBackup = errors.New("client: no backup found for that name and passphrase")

// Restore brings a backup back on a fresh device: it finds name's hubs
// and keys on the chain (verified), reads the backup under passphrase,
// checks that its identity holds the keys the chain publishes, and writes
// the state to statePath. It returns the identity; the caller keeps it in
// a keystore. Messages that expired are not restored. Conversations that
// went on after the backup was made are marked stale (ErrStale until
// Reset).
func Restore(ctx context.Context, name string, passphrase []byte, dir Directory, statePath string, opts ...Option) (*keystore.Identity, *Client, error) {
	rec, err := dir.Lookup(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	if len(rec.Profile.Hubs) == 0 {
		return nil, nil, fmt.Errorf("%w: %s", ErrNoKeys, name)
	}
	path := BackupPath(name, passphrase, BackupKDF)
	addr := auth.NativeAddress(rec.Profile.SigningKey[:])
	var blob []byte
	err = ErrNoBackup
	for _, url := range rec.Profile.Hubs {
		h, derr := hubclient.Dial(ctx, url, ed25519.NewKeyFromSeed(make([]byte, 32)), nil) // reads need no key
		if derr != nil {
			err = derr
			continue
		}
		b, _, gerr := h.Get(ctx, addr, path)
		if gerr == nil {
			blob = b
			break
		}
		if !errors.Is(gerr, hub.ErrNotFound) {
			err = gerr
		}
	}
	if blob == nil {
		return nil, nil, err
	}
	if !bytes.HasPrefix(blob, []byte(backupMagic)) || len(blob) < len(backupMagic)+4 {
		return nil, nil, fmt.Errorf("client: backup: %w", wire.ErrMalformed)
	}
	rest := blob[len(backupMagic):]
	n := int(binary.BigEndian.Uint32(rest))
	if len(rest) < 4+n+chacha20poly1305.NonceSizeX {
		return nil, nil, fmt.Errorf("client: backup: %w", wire.ErrMalformed)
	}
	id, err := keystore.Open(rest[4:4+n], passphrase)
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(id.SigningKey().Public().(ed25519.PublicKey), rec.Profile.SigningKey[:]) {
		return nil, nil, fmt.Errorf("client: the backup's keys are not the ones %s publishes on the chain now", name)
	}
	key := id.LocalKey("backup")
	aead, _ := chacha20poly1305.NewX(key[:])
	body := rest[4+n:]
	padded, err := aead.Open(nil, body[:chacha20poly1305.NonceSizeX], body[chacha20poly1305.NonceSizeX:], []byte(path))
	if err != nil || len(padded) < 4 || int(binary.BigEndian.Uint32(padded)) > len(padded)-4 {
		return nil, nil, fmt.Errorf("client: backup does not open: %w", wire.ErrForged)
	}
	state := padded[4 : 4+binary.BigEndian.Uint32(padded)]
	c, err := New(ctx, name, id, dir, rec.Profile.Hubs[0], opts...)
	if err != nil {
		return nil, nil, err
	}
	c.statePath = statePath
	if err := c.loadPlain(state); err != nil {
		return nil, nil, fmt.Errorf("client: backup: %w", err)
	}
	// Conversations that went on after the backup: the hubs hold more of
	// our messages than the restored state sent.
	for _, ct := range c.contacts {
		if x := c.bestIndex(ctx, c.own, c.Address(), wire.IndexPath(ct.keys.SendKey), ct.keys.Header); x.Count > ct.out.next {
			ct.stale = true
		}
	}
	if err := c.Expire(ctx); err != nil { // what expired since the backup
		return nil, nil, err
	}
	c.mu.Lock()
	err = c.save()
	c.mu.Unlock()
	return id, c, err
}

// ErrStale: the conversation went on (on another device) after the backup
// this device restored; Reset starts it over.
var ErrStale = errors.New("client: this conversation went on after the backup was made")

// Reset starts the conversation with name over: a new contact request with
// a new mutual key, which their client accepts in place of the old one.
func (c *Client) Reset(ctx context.Context, name, greeting string) error {
	c.mu.Lock()
	c.startOver(name)
	err := c.save()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.Request(ctx, name, greeting)
}
