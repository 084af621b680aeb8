package main

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/hub/server/hubtest"
)

// backupETags returns the ETag of each backup object in the bucket of
// the identity in home, on hub.
func backupETags(t *testing.T, hub *hubtest.Hub, home string) []string {
	t.Helper()
	id, err := keystore.Load(filepath.Join(home, "keystore"), []byte("a test passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	objs, _, err := hub.Driver.List(context.Background(), auth.NativeAddress(id.SigningKey().Public().(ed25519.PublicKey)), "b/", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, o := range objs {
		tags = append(tags, o.ETag)
	}
	return tags
}

// TestRestoreWhileOldDeviceRuns: alice restores her backup on a new
// device while the old one still has her identity. The old device's next
// commands say what happened and what to do, write nothing to her hub
// (the new device's backup stays as it wrote it, no message of the old
// one goes out), and still show what it holds; the new device goes on,
// and bob reads it.
func TestRestoreWhileOldDeviceRuns(t *testing.T) {
	rpc, _ := startWorld(t)
	hub := hubtest.Start(t, nil)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	t.Setenv("PARLEY_BACKUP_PASSPHRASE", "the backup passphrase")
	h := world(t, rpc, hub.URL, "alice", "bob")
	old, bob := h["alice"], h["bob"]
	parley(t, "--home", old, "contacts", "add", "bob", "--message", "hello bob")
	parley(t, "--home", bob, "contacts", "accept", "alice")
	parley(t, "--home", bob, "read", "alice")
	parley(t, "--home", old, "backup", "on")
	parley(t, "--home", old, "send", "bob", "before the restore")
	// A command that changes nothing does not rewrite the backup.
	before := backupETags(t, hub, old)
	parley(t, "--home", old, "search", "restore")
	if after := backupETags(t, hub, old); len(before) != 1 || len(after) != 1 || after[0] != before[0] {
		t.Fatalf("search rewrote the backup: %v, then %v", before, after)
	}

	// The new device.
	fresh := filepath.Join(t.TempDir(), "alice-new")
	if out := parley(t, "--home", fresh, "restore", "alice", "--node", rpc); !strings.Contains(out, "restored alice: 1 contacts") {
		t.Fatalf("restore: %s", out)
	}
	written := backupETags(t, hub, old)
	if len(written) != 1 {
		t.Fatalf("%d backups on the hub", len(written))
	}

	// The old device: a send is refused, saying what happened and what to do.
	_, errs := fails(t, 1, "--home", old, "send", "bob", "from the old device")
	if !strings.Contains(errs, "parley: your identity was restored on another device on ") ||
		!strings.Contains(errs, "this device no longer writes to your hubs") ||
		!strings.Contains(errs, "parley: hint: go on from the other device; to use this one instead, restore your backup here into a new home ('parley --home NEWDIR restore alice --node "+rpc+"')") {
		t.Fatalf("send on the old device after the restore:\n%s", errs)
	}
	// Reading what it holds works, and says it once.
	out, errs := fails(t, 0, "--home", old, "read", "bob")
	if !strings.Contains(out, "alice: before the restore") || strings.Contains(out, "from the old device") {
		t.Fatalf("read on the old device:\n%s", out)
	}
	if strings.Count(errs, "your identity was restored on another device") != 1 {
		t.Fatalf("read on the old device says it %d times:\n%s", strings.Count(errs, "restored on another device"), errs)
	}
	for _, args := range [][]string{{"contacts"}, {"search", "restore"}, {"settings"}} {
		if _, errs := fails(t, 0, append([]string{"--home", old}, args...)...); strings.Count(errs, "your identity was restored on another device") != 1 {
			t.Fatalf("%v on the old device:\n%s", args, errs)
		}
	}
	if got := backupETags(t, hub, old); len(got) != 1 || got[0] != written[0] {
		t.Fatalf("the new device's backup %v was overwritten: %v", written, got)
	}
	for _, banned := range []string{"Reset", "Flush", "Backup(", "hubclient", "another blob occupies"} {
		if strings.Contains(errs, banned) {
			t.Fatalf("an error names %q:\n%s", banned, errs)
		}
	}

	// The new device goes on; bob reads it, and nothing from the old one.
	parley(t, "--home", fresh, "send", "bob", "from the new device")
	out = parley(t, "--home", bob, "read", "alice")
	if !strings.Contains(out, "alice: before the restore") || !strings.Contains(out, "alice: from the new device") || strings.Contains(out, "from the old device") {
		t.Fatalf("bob reads:\n%s", out)
	}
	parley(t, "--home", bob, "send", "alice", "got it")
	if out := parley(t, "--home", fresh, "read", "bob"); !strings.Contains(out, "bob: got it") {
		t.Fatalf("the new device reads bob:\n%s", out)
	}
}
