package client

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/wire"
)

var update = flag.Bool("update", false, "rewrite the backup test vector in wire/testdata/")

const backupVector = "wire/testdata/backup.txt"

var backupVectorKeys = []string{"name", "passphrase", "argon2id", "path", "path-v1", "signing-key", "state",
	"blob", "blob-v1", "bad-v1-costly", "bad-truncated", "bad-version"}

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
	if len(v) != len(backupVectorKeys) {
		t.Fatalf("%s: %d of %d keys", backupVector, len(v), len(backupVectorKeys))
	}
	return v
}

// TestBackupVector: the recorded v2 backup (and one made before v2) open
// with the name and the passphrase to the recorded identity and state;
// the recorded bad blobs are refused with their errors, a costly v1
// header before any KDF runs.
func TestBackupVector(t *testing.T) {
	kdf := keystore.KDF{Time: 1, Memory: 64, Threads: 1}
	if *update {
		id, err := keystore.New()
		if err != nil {
			t.Fatal(err)
		}
		name, pass, state := "alice", []byte("a long backup passphrase"), []byte(`{"contacts":[]}`)
		path, key := backupKeys(name, pass, kdf)
		v2 := sealBackup(id.LocalKey("backup"), &backupConfig{Version: 2, Path: path, Keystore: id.SealSeeds(key, wire.BackupAD(2, path))}, state)
		ks, err := id.Seal(pass, kdf, time.Unix(1800000000, 0))
		if err != nil {
			t.Fatal(err)
		}
		pathV1 := backupPathV1(name, pass, kdf)
		v1 := sealBackup(id.LocalKey("backup"), &backupConfig{Path: pathV1, Keystore: ks}, state)
		costly := []byte("parley/keystore/v1")
		costly = binary.BigEndian.AppendUint32(costly, 100)
		costly = binary.BigEndian.AppendUint32(costly, 4<<20)
		costly = append(append(costly, 4), make([]byte, 16+24+160+16)...)
		costlyKS := []byte(base64.StdEncoding.EncodeToString(costly) + "\n")
		bad := (&wire.Backup{Version: 1, Identity: costlyKS, Nonce: make([]byte, 24), State: make([]byte, 20)}).Marshal()
		argon := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, kdf.Time), kdf.Memory)
		argon = append(argon, kdf.Threads)
		var out strings.Builder
		out.WriteString("# Backups (client/backup.go, client/wire/backup.go) of one identity made with the\n" +
			"# name and passphrase below and Argon2id time ‖ memory KiB ‖ threads = argon2id: v2, and v1\n" +
			"# as devices made before v2 still write it. Both open to the identity with signing-key\n" +
			"# and to state. The bad- ones are refused: a v1 whose keystore asks Argon2id for 100\n" +
			"# passes over 4 GiB (keystore.ErrKDFTooCostly, before any KDF), a v2 cut short and an\n" +
			"# unknown version (wire.ErrMalformed). Values are hex.\n")
		for _, kv := range [][2][]byte{{[]byte("name"), []byte(name)}, {[]byte("passphrase"), pass}, {[]byte("argon2id"), argon},
			{[]byte("path"), []byte(path)}, {[]byte("path-v1"), []byte(pathV1)},
			{[]byte("signing-key"), id.SigningKey().Public().(ed25519.PublicKey)}, {[]byte("state"), state},
			{[]byte("blob"), v2}, {[]byte("blob-v1"), v1}, {[]byte("bad-v1-costly"), bad},
			{[]byte("bad-truncated"), v2[:len(wire.BackupMagic)+100]},
			{[]byte("bad-version"), append([]byte("parley/backup/v3\n"), v2[len(wire.BackupMagic):len(wire.BackupMagic)+300]...)}} {
			fmt.Fprintf(&out, "%s: %x\n", kv[0], kv[1])
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
	for _, tc := range []struct{ blob, path string }{{"blob", path}, {"blob-v1", string(v["path-v1"])}} {
		id, state, err := openBackup(v[tc.blob], tc.path, pass, key, kdf)
		if err != nil {
			t.Fatalf("%s no longer opens: %v", tc.blob, err)
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
