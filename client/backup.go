package client

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/store"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
)

// Encrypted backup: the identity and the whole local state (contacts,
// conversations' ratchets, history less what expired) on the user's own
// hubs, so that a new device restores everything from the name and the
// backup passphrase alone.
//
// One Argon2id run, at this client's cost (WithBackupKDF), gives M from the
// passphrase and the name; M gives where the blob lives and the key its
// identity is sealed under:
//
//	M    = Argon2id(passphrase, salt = "parley/backup/v2|" ‖ name, 32)
//	path = "b/" ‖ hex(HKDF-SHA256(M, info "parley/backup-path/v2", 16))
//	key  = HKDF-SHA256(M, info "parley/backup-key/v2", 32)
//
// Only someone with the passphrase can find the blob. It holds the
// identity sealed under key (made once, when backup is turned on) and the
// state sealed under a key derived from the identity, padded to a multiple
// of 64 KiB (wire.Backup):
//
//	"parley/backup/v2\n" ‖ nonce[24] ‖ XChaCha20-Poly1305(key, seeds, ad = magic ‖ path)
//	  ‖ nonce[24] ‖ XChaCha20-Poly1305(identity's "backup" key, u32 len ‖ state ‖ zeros, ad = magic ‖ path)
//
// Nothing in the clear names the user, a key, a time or a KDF cost. A
// backup made before v2 ("parley/backup/v1", at the path
// hex(Argon2id(passphrase, "parley/backup-path/v1|" ‖ name, 16)), with a
// keystore file inside) is still restored, but only if the Argon2id cost
// its keystore header asks for is within this client's (else
// keystore.ErrKDFTooCostly, before any KDF runs: a hub cannot make a
// restore spend 4 GiB); a device whose backup is v1 keeps writing v1,
// without the keystore's comment lines, until backup is turned on again.
//
// The backup is rewritten after any change (Backup, run after every CLI
// command and by Watch). The hub operator can guess names and try
// passphrases offline against Argon2id: the passphrase must be strong.

type backupConfig struct {
	Version  int // 3, or 2 (turned on before v3); absent in a v1 backup's
	Path     string
	Keystore []byte // v2, v3: the sealed seeds; v1: a keystore file under the backup passphrase
}

// WithBackupKDF sets the Argon2id cost of the backup path and key, and
// the most a restore accepts from a v1 backup's header
// (keystore.DefaultKDF). A backup is found only at the cost it was made
// with.
func WithBackupKDF(kdf keystore.KDF) Option { return func(c *Client) { c.backupKDF = kdf } }

// backupKeys derives a v2 backup's path and identity key.
func backupKeys(name string, passphrase []byte, kdf keystore.KDF) (string, [32]byte) {
	m := argon2.IDKey(passphrase, []byte("parley/backup/v2|"+name), kdf.Time, kdf.Memory, kdf.Threads, 32)
	defer clear(m)
	p, _ := hkdf.Key(sha256.New, m, nil, "parley/backup-path/v2", 16)
	k, _ := hkdf.Key(sha256.New, m, nil, "parley/backup-key/v2", 32)
	return "b/" + hex.EncodeToString(p), [32]byte(k)
}

// BackupPath is where name's backup under passphrase lives.
func BackupPath(name string, passphrase []byte, kdf keystore.KDF) string {
	p, _ := backupKeys(name, passphrase, kdf)
	return p
}

// backupPathV1 is where a backup made before v2 lives.
func backupPathV1(name string, passphrase []byte, kdf keystore.KDF) string {
	k := argon2.IDKey(passphrase, []byte("parley/backup-path/v1|"+name), kdf.Time, kdf.Memory, kdf.Threads, 16)
	return "b/" + hex.EncodeToString(k)
}

// EnableBackup turns backup on under passphrase and writes the first one.
func (c *Client) EnableBackup(ctx context.Context, passphrase []byte) error {
	if err := keystore.CheckPassphrase(passphrase); err != nil {
		return fmt.Errorf("client: backup (the hub can try guesses offline): %w", err)
	}
	path, key := backupKeys(c.Name, passphrase, c.backupKDF)
	cfg := &backupConfig{Version: 3, Path: path, Keystore: c.id.SealSeeds(key, wire.BackupAD(3, path))}
	c.mu.Lock()
	old := c.backup
	c.backup, c.backupETag = cfg, ""
	err := c.saveUnlock()
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
	err := c.saveUnlock()
	if err != nil {
		return err
	}
	return c.removeEverywhere(ctx, path)
}

// Backup writes the backup to every hub of the user if backup is on and
// the state changed since the last one.
//
// It replaces only the backup this device last wrote (If-Match its ETag):
// a hub holding another one is asked which device wrote it, and if the
// identity was restored on another device since, nothing is written and
// the error is a *RestoredError (restored.go).
func (c *Client) Backup(ctx context.Context) error {
	c.mu.Lock()
	if c.backup == nil || !c.backupDue {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	if err := c.writable(ctx, false); err != nil {
		return err
	}
	c.mu.Lock()
	saves, cfg, etag := c.saves, c.backup, c.backupETag
	plain, err := c.snapshot(c.now(), true)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	key := c.id.LocalKey("backup")
	blob := sealBackup(key, cfg, plain)
	var firstErr error
	stored := false
	for _, url := range c.ownHubs() {
		h, err := c.dial(ctx, url)
		if err == nil {
			_, err = h.Put(ctx, cfg.Path, blob, "application/octet-stream", hubclient.Cond{IfMatch: etag})
		}
		if errors.Is(err, hub.ErrPrecondition) { // not the one this device wrote last
			if err = c.checkBackup(ctx, []string{url}); err == nil {
				_, err = h.Put(ctx, cfg.Path, blob, "application/octet-stream", hubclient.Cond{})
			} else if errors.Is(err, ErrRestoredElsewhere) {
				return err
			}
		}
		if err != nil {
			firstErr = cmp.Or(firstErr, fmt.Errorf("client: backup to %s: %w", url, err))
			continue
		}
		stored = true
	}
	if stored {
		c.mu.Lock()
		c.backupETag = etagOf(blob)
		c.backupDue = c.saves != saves // changed meanwhile: the next Backup takes that too
		sv, err := c.prepareAsIs()     // the ETag, for the next run's If-Match
		c.mu.Unlock()
		firstErr = cmp.Or(firstErr, err, c.write(sv))
	}
	return firstErr
}

func sealBackup(key [32]byte, cfg *backupConfig, state []byte) []byte {
	padded := binary.BigEndian.AppendUint32(nil, uint32(len(state)))
	padded = append(padded, state...)
	padded = append(padded, make([]byte, (65536-len(padded)%65536)%65536)...)
	b := &wire.Backup{Version: cfg.Version, Identity: cfg.Keystore, Nonce: make([]byte, chacha20poly1305.NonceSizeX)}
	if cfg.Version < 2 {
		b.Version, b.Identity = 1, keystore.DataLine(cfg.Keystore) // not its comments: they name the owner key
	}
	rand.Read(b.Nonce)
	aead, _ := chacha20poly1305.NewX(key[:])
	b.State = aead.Seal(nil, b.Nonce, padded, wire.BackupAD(b.Version, cfg.Path))
	return b.Marshal()
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
	rec, id, state, blob, err := fetchBackup(ctx, name, passphrase, dir, opts)
	if err != nil {
		return nil, nil, err
	}
	c, err := New(ctx, name, id, dir, rec.Profile.Hubs[0], opts...)
	if err != nil {
		return nil, nil, err
	}
	c.statePath = statePath
	if statePath != "" {
		c.store, c.changes = store.New(statePath, storeKeys(id)), &store.Changes{}
	}
	st, err := store.Parse(state)
	if err == nil {
		err = c.take(st, st.History)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("client: backup: %w", err)
	}
	// This is a new device, of the next generation: the old one, reading
	// the backup this one writes below, learns it and stops writing.
	c.device, c.superseded = newDevice(c.device.Gen+1, c.now()), nil
	c.backupETag, c.restoreChecked = etagOf(blob), true
	// Conversations that went on after the backup: the hubs hold more of
	// our messages than the restored state sent.
	for _, ct := range c.contacts {
		if x := c.bestIndex(ctx, c.ownHubs(), c.Address(), wire.IndexPath(ct.keys.SendKey), ct.keys.Header); x.Count > ct.out.Next() {
			ct.stale = true
		}
	}
	for _, l := range c.links { // a stale group link starts over at once: the other side takes the newer introduction
		if x := c.bestIndex(ctx, c.ownHubs(), c.Address(), wire.IndexPath(l.keys.SendKey), l.keys.Header); x.Count > l.out.Next() {
			if _, err := c.writeLink(ctx, l.Record, l); err != nil {
				return nil, nil, fmt.Errorf("client: starting the group link with %s over: %w", l.Name, err)
			}
		}
	}
	if err := c.Expire(ctx); err != nil { // what expired since the backup
		return nil, nil, err
	}
	c.mu.Lock()
	err = c.saveUnlock()
	if err != nil {
		return nil, nil, err
	}
	if err := c.Backup(ctx); err != nil {
		return nil, nil, fmt.Errorf("client: restored, but the backup naming this device was not written (run any parley command to write it): %w", err)
	}
	return id, c, nil
}

// fetchBackup reads name's backup from the hubs of its verified record
// and opens it with passphrase: the record, the backup's identity (which
// must be the one the record publishes) and state JSON, and the blob.
func fetchBackup(ctx context.Context, name string, passphrase []byte, dir Directory, opts []Option) (*bns.Record, *keystore.Identity, []byte, []byte, error) {
	rec, err := dir.Lookup(ctx, name)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if len(rec.Profile.Hubs) == 0 {
		return nil, nil, nil, nil, fmt.Errorf("%w: %s", ErrNoKeys, name)
	}
	addr := auth.NativeAddress(rec.Profile.SigningKey[:])
	kdf := (&Client{backupKDF: keystore.DefaultKDF()}).with(opts).backupKDF
	path, key := backupKeys(name, passphrase, kdf)
	blob, err := readBackup(ctx, rec.Profile.Hubs, addr, path)
	if errors.Is(err, ErrNoBackup) { // perhaps one made before v2
		path = backupPathV1(name, passphrase, kdf)
		blob, err = readBackup(ctx, rec.Profile.Hubs, addr, path)
	}
	if err != nil {
		return nil, nil, nil, nil, err
	}
	id, state, err := openBackup(blob, path, passphrase, key, kdf)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if !bytes.Equal(id.SigningKey().Public().(ed25519.PublicKey), rec.Profile.SigningKey[:]) {
		return nil, nil, nil, nil, fmt.Errorf("client: the backup's keys are not the ones %s publishes on the chain now", name)
	}
	return rec, id, state, blob, nil
}

// openBackup opens a backup blob read at path: its identity (under key
// in v2, under passphrase in v1, refusing a v1 header costlier than
// kdf before any KDF runs) and its state JSON. A blob that does not
// open is wire.ErrForged (the path already proved the passphrase), one
// that does not parse wire.ErrMalformed.
func openBackup(blob []byte, path string, passphrase []byte, key [32]byte, kdf keystore.KDF) (*keystore.Identity, []byte, error) {
	b, err := wire.ParseBackup(blob)
	if err != nil {
		return nil, nil, fmt.Errorf("client: backup: %w", err)
	}
	var id *keystore.Identity
	if b.Version == 1 {
		id, err = keystore.OpenWithin(b.Identity, passphrase, kdf)
	} else {
		id, err = keystore.OpenSeeds(key, b.Identity, wire.BackupAD(b.Version, path))
	}
	switch {
	case errors.Is(err, keystore.ErrBadPassphrase):
		err = fmt.Errorf("client: the backup at %s does not open: it was altered: %w", path, wire.ErrForged)
	case errors.Is(err, keystore.ErrKDFTooCostly):
		err = fmt.Errorf("client: the backup on the hub asks for more work than a backup this client makes, so nothing was derived from it "+
			"(a hub can plant such a blob); turn backup on again on the device that has your keys: %w", err)
	}
	if err != nil {
		return nil, nil, err
	}
	sk := id.LocalKey("backup")
	aead, _ := chacha20poly1305.NewX(sk[:])
	padded, err := aead.Open(nil, b.Nonce, b.State, wire.BackupAD(b.Version, path))
	if err != nil || len(padded) < 4 || int(binary.BigEndian.Uint32(padded)) > len(padded)-4 {
		return nil, nil, fmt.Errorf("client: the backup's state does not open: it was altered: %w", wire.ErrForged)
	}
	return id, padded[4 : 4+binary.BigEndian.Uint32(padded)], nil
}

// readBackup reads the blob at path from the first of hubs that has it;
// ErrNoBackup if none has.
func readBackup(ctx context.Context, hubs []string, addr, path string) ([]byte, error) {
	return readObject(ctx, hubs, addr, path, ErrNoBackup)
}

// ErrStale: the conversation went on (on another device) after the backup
// this device restored; Reset starts it over.
var ErrStale = errors.New("client: this conversation went on after the backup was made")

// Reset starts the conversation with name over: a new contact request with
// a new mutual key, which their client accepts in place of the old one.
// It is refused (*KeyChange) if name's keys are not the confirmed ones.
func (c *Client) Reset(ctx context.Context, name, greeting string) error {
	if err := c.CheckKeys(ctx, name); err != nil && !errors.Is(err, ErrNotContact) {
		return err // never a way around confirming keys that changed
	}
	c.mu.Lock()
	c.startOver(name)
	err := c.saveUnlock()
	if err != nil {
		return err
	}
	return c.Request(ctx, name, greeting)
}
