package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/hub"
)

// hostileKeystore is a keystore file whose header asks Argon2id for time
// passes over memory KiB with threads: the rest is noise, since the
// restore must refuse it before deriving any key from it.
func hostileKeystore(time, memory uint32, threads uint8) []byte {
	b := []byte("parley/keystore/v1")
	b = binary.BigEndian.AppendUint32(b, time)
	b = binary.BigEndian.AppendUint32(b, memory)
	b = append(b, threads)
	b = append(b, bytes.Repeat([]byte{7}, 16+24+160+16)...)
	return []byte(base64.StdEncoding.EncodeToString(b) + "\n")
}

// TestRestoreRefusesCostlyKDF: a hostile hub plants, where a backup made
// before v2 is looked for, a blob whose keystore header asks for a
// costlier Argon2id than this client makes (up to the 4 GiB and 100
// passes the keystore format allows). The restore refuses it, saying so,
// before any key derivation runs with those parameters.
func TestRestoreRefusesCostlyKDF(t *testing.T) {
	w := newWorld(t)
	alice, _, _ := w.userOn("alice", []string{w.hubs[0]}, filepath.Join(t.TempDir(), "alice.state"))
	w.settle("alice")
	pass := []byte("a long backup passphrase")
	kdf := testKDF()
	v1path := "b/" + hex.EncodeToString(argon2.IDKey(pass, []byte("parley/backup-path/v1|alice"), kdf.Time, kdf.Memory, kdf.Threads, 16))
	for _, tc := range []struct {
		name         string
		time, memory uint32
		threads      uint8
	}{
		{"1 MiB", 1, 1 << 10, 1},
		{"4 GiB and 100 passes", 100, 4 << 20, 4},
		{"255 threads", 1, 64, 255},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks := hostileKeystore(tc.time, tc.memory, tc.threads)
			blob := append([]byte("parley/backup/v1\n"), binary.BigEndian.AppendUint32(nil, uint32(len(ks)))...)
			blob = append(append(blob, ks...), make([]byte, 24+16+4)...)
			setBlob(w, 0, alice.Address(), v1path, blob)
			_, _, err := client.Restore(context.Background(), "alice", pass, w.directory(), filepath.Join(t.TempDir(), "alice2.state"), client.WithBackupKDF(testKDF()))
			if !errors.Is(err, keystore.ErrKDFTooCostly) || !strings.Contains(err.Error(), "costlier key derivation") {
				t.Fatalf("restore of a backup asking Argon2id for %d passes over %d KiB with %d threads: %v", tc.time, tc.memory, tc.threads, err)
			}
		})
	}
}

// TestBackupClearHeader: what a hub (or anyone with the blob) reads of a
// backup without the passphrase is its version: not the name, no key,
// no time, no KDF cost. A device whose backup predates v2 keeps writing
// v1, now without the keystore's comment lines (they named the owner
// key), and that backup still restores; turning backup on again moves it
// to v2 and deletes the v1 blob.
func TestBackupClearHeader(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	alice, id, _ := w.userOn("alice", []string{w.hubs[0]}, filepath.Join(t.TempDir(), "alice.state"))
	w.settle("alice")
	pass := []byte("a long backup passphrase")
	// identifying checks the blob for identifying bytes; short ones only
	// in its readable part (random bytes hold any two-byte pattern).
	identifying := func(t *testing.T, blob []byte, readable int) {
		t.Helper()
		owner := []byte(id.OwnerKey().Public().(ed25519.PublicKey))
		signing := []byte(id.SigningKey().Public().(ed25519.PublicKey))
		for what, b := range map[string][]byte{
			"the name": []byte("alice"), "the owner key": owner, "the owner key in hex": []byte(hex.EncodeToString(owner)),
			"the signing key": signing, "a comment": []byte("# "), "a creation time": []byte("created"),
		} {
			in := blob
			if len(b) <= 4 {
				in = blob[:readable]
			}
			if bytes.Contains(in, b) {
				t.Errorf("the backup's clear part holds %s", what)
			}
		}
	}

	v1path := client.UseBackupV1(t, alice, pass)
	if err := alice.Backup(ctx); err != nil {
		t.Fatal(err)
	}
	old := blob(t, w, 0, alice.Address(), v1path)
	if !bytes.HasPrefix(old, []byte("parley/backup/v1\n")) {
		t.Fatalf("a v1 device wrote %q", old[:20])
	}
	identifying(t, old, len(old)-24-65536-16) // all but the sealed state
	if _, alice2, err := client.Restore(ctx, "alice", pass, w.directory(), filepath.Join(t.TempDir(), "a2.state"), client.WithBackupKDF(testKDF())); err != nil || alice2.Address() != alice.Address() {
		t.Fatalf("restoring a v1 backup: %v", err)
	}

	if err := alice.EnableBackup(ctx, pass); err != nil {
		t.Fatal(err)
	}
	if _, err := w.drivers[0].Stat(ctx, alice.Address(), v1path); !errors.Is(err, hub.ErrNotFound) {
		t.Fatal("the v1 backup is still on the hub after moving to v3")
	}
	v3 := blob(t, w, 0, alice.Address(), client.BackupPath("alice", pass, testKDF()))
	if !bytes.HasPrefix(v3, []byte("parley/backup/v3\n")) || (len(v3)-len("parley/backup/v3\n")-265-24-16)%65536 != 0 {
		t.Fatalf("v3 backup of %d bytes starting %q", len(v3), v3[:17])
	}
	identifying(t, v3, len("parley/backup/v3\n"))
	if _, alice3, err := client.Restore(ctx, "alice", pass, w.directory(), filepath.Join(t.TempDir(), "a3.state"), client.WithBackupKDF(testKDF())); err != nil || alice3.Address() != alice.Address() {
		t.Fatalf("restoring a v3 backup: %v", err)
	}
}
