package client

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/wire"
)

var update = flag.Bool("update", false, "rewrite the backup test vector in wire/testdata/")

const backupVector = "wire/testdata/backup.txt"

var backupVectorKeys = []string{"name", "passphrase", "argon2id", "path", "path-v1", "signing-key", "state",
	"blob-v3", "blob", "blob-v1", "bad-v1-costly", "bad-truncated", "bad-version"}

// readBackupVector reads backupVector: "key: hex" lines after # comments,
// exactly the keys above.
func readBackupVector(t *testing.T) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(backupVector))
	if err != nil {
		t.Fatalf("%v (go test -run TestBackupVector -update ./client makes it)", err)
	}
	v := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			k, val, ok := strings.Cut(line, ": ")
			if !ok || !strings.Contains(" "+strings.Join(backupVectorKeys, " ")+" ", " "+k+" ") {
				t.Fatalf("%s: unexpected line %.40q", backupVector, line)
			}
			if v[k], err = hex.DecodeString(val); err != nil {
				t.Fatalf("%s: %s: %v", backupVector, k, err)
			}
		}
	}
	if len(v) != len(backupVectorKeys) && !*update { // -update adds the keys a new version brings
		t.Fatalf("%s: %d of %d keys", backupVector, len(v), len(backupVectorKeys))
	}
	return v
}

// TestBackupVector: the recorded v3 backup (without the owner seed), and
// those made before it (v2, v1, with the owner seed), open
// with the name and the passphrase to the recorded identity and state;
// the recorded bad blobs are refused with their errors, a costly v1
// header before any KDF runs.
func TestBackupVector(t *testing.T) {
	kdf := keystore.KDF{Time: 1, Memory: 64, Threads: 1}
	if *update {
		// The v2 and v1 blobs were written by clients before v3: they
		// are kept; the v3 blob is made of the same identity, its owner
		// seed dropped, as a device writes it after its registration.
		old := readBackupVector(t)
		name, pass, state := string(old["name"]), old["passphrase"], old["state"]
		path, key := backupKeys(name, pass, kdf)
		id, _, err := openBackup(old["blob"], path, pass, key, kdf)
		if err != nil {
			t.Fatal(err)
		}
		id.DropOwner()
		v3 := sealBackup(id.LocalKey("backup"), &backupConfig{Version: 3, Path: path, Keystore: id.SealSeeds(key, wire.BackupAD(3, path))}, state)
		var out strings.Builder
		out.WriteString("# Backups (client/backup.go, client/wire/backup.go) of one identity made with the\n" +
			"# name and passphrase below and Argon2id time ‖ memory KiB ‖ threads = argon2id: v3 (the\n" +
			"# identity without its owner seed, as a device writes it once the name is registered),\n" +
			"# and v2 and v1 as devices made before them still write them. All open to the identity\n" +
			"# with signing-key and to state. The bad- ones are refused: a v1 whose keystore asks\n" +
			"# Argon2id for 100 passes over 4 GiB (keystore.ErrKDFTooCostly, before any KDF), a v2\n" +
			"# cut short and an unknown version (wire.ErrMalformed). Values are hex.\n")
		v := map[string][]byte{"blob-v3": v3, "bad-version": append([]byte("parley/backup/v9\n"), v3[len(wire.BackupMagic):len(wire.BackupMagic)+300]...)}
		for _, k := range backupVectorKeys {
			val, ok := v[k]
			if !ok {
				val = old[k]
			}
			fmt.Fprintf(&out, "%s: %x\n", k, val)
		}
		if err := os.WriteFile(filepath.FromSlash(backupVector), []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v := readBackupVector(t)
	if a := v["argon2id"]; binary.BigEndian.Uint32(a) != kdf.Time || binary.BigEndian.Uint32(a[4:]) != kdf.Memory || a[8] != kdf.Threads {
		t.Fatalf("the vector's Argon2id parameters %x are not this test's", a)
	}
	name, pass := string(v["name"]), v["passphrase"]
	path, key := backupKeys(name, pass, kdf)
	if path != string(v["path"]) || backupPathV1(name, pass, kdf) != string(v["path-v1"]) {
		t.Fatalf("backup path derivation changed: %s, %s", path, backupPathV1(name, pass, kdf))
	}
	for _, tc := range []struct{ blob, path string }{{"blob-v3", path}, {"blob", path}, {"blob-v1", string(v["path-v1"])}} {
		id, state, err := openBackup(v[tc.blob], tc.path, pass, key, kdf)
		if err != nil {
			t.Fatalf("%s no longer opens: %v", tc.blob, err)
		}
		if id.HasOwner() == (tc.blob == "blob-v3") {
			t.Fatalf("%s opened to an identity holding its owner seed: %v", tc.blob, id.HasOwner())
		}
		if !bytes.Equal(id.SigningKey().Public().(ed25519.PublicKey), v["signing-key"]) || !bytes.Equal(state, v["state"]) {
			t.Fatalf("%s opened to another identity or state: %q", tc.blob, state)
		}
		if _, _, err := openBackup(v[tc.blob], tc.path+"0", pass, key, kdf); !errors.Is(err, wire.ErrForged) {
			t.Fatalf("%s opened at another path: %v", tc.blob, err)
		}
	}
	altered := bytes.Clone(v["blob"])
	altered[len(wire.BackupMagic)+30] ^= 1
	for _, tc := range []struct {
		name string
		blob []byte
		want error
	}{
		{"altered identity", altered, wire.ErrForged},
		{"bad-v1-costly", v["bad-v1-costly"], keystore.ErrKDFTooCostly},
		{"bad-truncated", v["bad-truncated"], wire.ErrMalformed},
		{"bad-version", v["bad-version"], wire.ErrMalformed},
	} {
		if _, _, err := openBackup(tc.blob, path, pass, key, kdf); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
