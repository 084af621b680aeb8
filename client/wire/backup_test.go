package wire

import (
	"bytes"
	"errors"
	"testing"
)

// TestBackupParse: the recorded backups (testdata/backup.txt, written by
// the client package's TestBackupVector, which opens them) take apart
// into their parts and marshal back to the same bytes; the bad ones that
// are malformed are refused.
func TestBackupParse(t *testing.T) {
	v := readVector(t, "backup.txt", "name", "passphrase", "argon2id", "path", "path-v1", "signing-key", "state",
		"blob-v3", "blob", "blob-v1", "bad-v1-costly", "bad-truncated", "bad-version")
	for name, want := range map[string]int{"blob-v3": 3, "blob": 2, "blob-v1": 1, "bad-v1-costly": 1} {
		b, err := ParseBackup(v[name])
		if err != nil || b.Version != want {
			t.Fatalf("%s: %+v %v", name, b, err)
		}
		if !bytes.Equal(b.Marshal(), v[name]) {
			t.Fatalf("%s does not marshal back to itself", name)
		}
		if want >= 2 && (len(b.Identity) != map[int]int{2: BackupIdentityLenV2, 3: BackupIdentityLen}[want] || (len(b.State)-16)%65536 != 0) {
			t.Fatalf("%s: identity of %d bytes, state of %d", name, len(b.Identity), len(b.State))
		}
		if want == 1 && !bytes.HasPrefix(b.Identity, []byte("cGFybGV5L2tleXN0b3JlL3Yx")) { // base64 of the keystore magic: no comment line first
			t.Fatalf("%s: the v1 keystore starts %.30q", name, b.Identity)
		}
	}
	for _, name := range []string{"bad-truncated", "bad-version"} {
		if _, err := ParseBackup(v[name]); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzParseBackup: whatever a hub serves as a backup, parsing neither
// panics nor accepts bytes that do not marshal back to themselves.
func FuzzParseBackup(f *testing.F) {
	f.Add([]byte(BackupMagic + string(make([]byte, BackupIdentityLen+40))))
	f.Add([]byte(BackupMagicV1 + "\x00\x00\x00\x02ab" + string(make([]byte, 40))))
	f.Add([]byte(BackupMagicV1 + "\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, blob []byte) {
		b, err := ParseBackup(blob)
		if err == nil && !bytes.Equal(b.Marshal(), blob) {
			t.Fatalf("parsed %x, marshals to %x", blob, b.Marshal())
		}
	})
}
