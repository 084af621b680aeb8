package keystore

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/chain/bns"
)

var fastKDF = KDF{Time: 1, Memory: 64, Threads: 1}

func TestRoundTrip(t *testing.T) {
	id, err := New()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keys")
	if err := Save(path, id, []byte("correct horse"), fastKDF); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.seeds(), id.seeds()) {
		t.Fatal("identity changed in the round trip")
	}
	p, err := got.Profile([]string{"https://hub.example"})
	if err != nil || p.Validate() != nil {
		t.Fatalf("profile %v: %v", err, p.Validate())
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("keystore mode %v", st.Mode())
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "# owner: "+bns.PublicKeyOf(id.OwnerKey()).String()) {
		t.Fatalf("no owner comment: %s", b)
	}
	for _, secret := range [][]byte{id.ownerSeed[:], id.signSeed[:], id.x25519Seed[:]} {
		if bytes.Contains(b, secret) {
			t.Fatal("a secret is in the file in the clear")
		}
	}
}

func TestRefusals(t *testing.T) {
	id, _ := New()
	good, _ := id.Seal([]byte("pw"), fastKDF, time.Unix(0, 0))
	if _, err := Open(good, []byte("wrong")); !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(good)), "\n")
	data := lines[len(lines)-1]
	flip := func(i int) []byte {
		b := []byte(data)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return []byte(strings.Join(append(lines[:len(lines)-1:len(lines)-1], string(b)), "\n"))
	}
	for name, f := range map[string][]byte{
		"tampered KDF params": flip(26), "tampered ciphertext": flip(len(data) - 10),
		"not base64": []byte("!!!"), "empty": nil, "two data lines": append(append([]byte{}, good...), "AAAA\n"...),
	} {
		want := ErrMalformed
		if name == "tampered ciphertext" {
			want = ErrBadPassphrase // the AEAD cannot tell a wrong passphrase from a changed byte
		}
		if _, err := Open(f, []byte("pw")); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
	if _, err := id.Seal(nil, fastKDF, time.Now()); err == nil || !strings.Contains(err.Error(), "empty passphrase") {
		t.Errorf("sealing under an empty passphrase: %v, want it refused as empty", err)
	}
}

// TestCrashLeavesOldFile: a failed save (here: into a missing directory)
// leaves the previous keystore intact; no temp file remains.
func TestAtomicSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys")
	a, _ := New()
	b, _ := New()
	Save(path, a, []byte("pw"), fastKDF)
	if err := Save(path, b, []byte("pw"), fastKDF); err != nil {
		t.Fatal(err)
	}
	got, _ := Load(path, []byte("pw"))
	if !bytes.Equal(got.seeds(), b.seeds()) {
		t.Fatal("second save not visible")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries after saves", len(entries))
	}
	if err := Save(filepath.Join(dir, "missing", "keys"), a, []byte("pw"), fastKDF); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("save into a missing directory: %v, want fs.ErrNotExist", err)
	}
}

// TestOpenWithin: a file asking for more Argon2id time, memory or threads
// than the caller allows is refused before any KDF runs; one within the
// bound opens, also from its data line alone (DataLine drops the
// comments, which name the owner key).
func TestOpenWithin(t *testing.T) {
	id, _ := New()
	file, _ := id.Seal([]byte("pw"), fastKDF, time.Unix(0, 0))
	for _, max := range []KDF{{Time: 0, Memory: 64, Threads: 1}, {Time: 1, Memory: 63, Threads: 1}, {Time: 1, Memory: 64, Threads: 0}} {
		if _, err := OpenWithin(file, []byte("pw"), max); !errors.Is(err, ErrKDFTooCostly) {
			t.Errorf("bound %+v: %v", max, err)
		}
	}
	line := DataLine(file)
	if bytes.Contains(line, []byte("#")) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("data line %q", line)
	}
	got, err := OpenWithin(line, []byte("pw"), fastKDF)
	if err != nil || !bytes.Equal(got.seeds(), id.seeds()) {
		t.Fatalf("the data line alone: %v", err)
	}
	sealed := id.SealSeeds([32]byte{1}, []byte("ad"))
	if got, err := OpenSeeds([32]byte{1}, sealed, []byte("ad")); err != nil || !bytes.Equal(got.seeds(), id.seeds()) {
		t.Fatalf("sealed seeds: %v", err)
	}
	if _, err := OpenSeeds([32]byte{1}, sealed, []byte("other ad")); !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("sealed seeds under another ad: %v", err)
	}
}

// FuzzOpenWithin: whatever a keystore file (or a backup's) holds, opening
// it within a small bound neither panics nor runs a costlier KDF: a
// header above the bound is ErrKDFTooCostly, and nothing opens without
// the passphrase that sealed it.
func FuzzOpenWithin(f *testing.F) {
	id, _ := New()
	good, _ := id.Seal([]byte("pw"), fastKDF, time.Unix(0, 0))
	f.Add(good)
	f.Add(DataLine(good))
	f.Add([]byte("# only a comment\n"))
	f.Fuzz(func(t *testing.T, file []byte) {
		got, err := OpenWithin(file, []byte("other"), fastKDF)
		if err == nil {
			t.Fatalf("opened %q under another passphrase: %v", file, got)
		}
	})
}

func TestCheckPassphrase(t *testing.T) {
	for p, ok := range map[string]bool{
		"correct horse battery staple": true, "twelve chars": true, "ünïcödé ünï!": true,
		"": false, "hunter2": false, "eleven char": false, "ünïcödé": false, "aaaaaaaaaaaaaaaa": false, "éééééééééééé": false,
	} {
		if err := CheckPassphrase([]byte(p)); (err == nil) != ok || (err != nil && !errors.Is(err, ErrWeakPassphrase)) {
			t.Errorf("CheckPassphrase(%q) = %v, want ok=%v", p, err, ok)
		}
	}
}

// sealV1 is what Seal wrote before keystore v2: the 160 v1 seeds under
// "parley/keystore/v1".
func sealV1(t *testing.T, id *Identity, passphrase []byte) []byte {
	t.Helper()
	header := []byte(magicV1)
	header = binary.BigEndian.AppendUint32(header, fastKDF.Time)
	header = binary.BigEndian.AppendUint32(header, fastKDF.Memory)
	header = append(header, fastKDF.Threads)
	header = append(header, make([]byte, saltLen+chacha20poly1305.NonceSizeX)...)
	salt, nonce := header[len(header)-saltLen-chacha20poly1305.NonceSizeX:len(header)-chacha20poly1305.NonceSizeX], header[len(header)-chacha20poly1305.NonceSizeX:]
	aead, _ := chacha20poly1305.NewX(argon2.IDKey(passphrase, salt, fastKDF.Time, fastKDF.Memory, fastKDF.Threads, 32))
	return []byte("# parley keystore\n" + base64.StdEncoding.EncodeToString(aead.Seal(header, nonce, id.seeds(), header)) + "\n")
}

// TestDropOwner: a keystore v2 whose owner seed was dropped opens
// without it (OwnerKey nil, HasOwner false), still names the owner's
// public key, and gives the same local keys as before the drop, so the
// state sealed under them still opens; its file says the owner key is
// not on the device and holds no trace of the seed. WithOwner takes the
// owner key back for one use, only the right one. A v1 file (made
// before v2) opens with its owner seed and the same local keys.
func TestDropOwner(t *testing.T) {
	id, err := FromPhrase("legal winner thank year wave sausage worth useful legal winner thank yellow")
	if err != nil {
		t.Fatal(err)
	}
	owner, seed, local := id.Owner(), id.ownerSeed, id.LocalKey("state")
	ownerKey := id.OwnerKey()
	v1, err := Open(sealV1(t, id, []byte("pw")), []byte("pw"))
	if err != nil || !v1.HasOwner() || v1.Owner() != owner || v1.LocalKey("state") != local {
		t.Fatalf("a v1 keystore: %v, owner held %v", err, v1 != nil && v1.HasOwner())
	}

	id.DropOwner()
	file, err := id.Seal([]byte("pw"), fastKDF, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(file), "# owner: "+owner.String()+", not on this device (the recovery phrase holds it)\n") {
		t.Fatalf("the header of a keystore without its owner seed:\n%s", file)
	}
	got, err := Open(file, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if got.HasOwner() || got.OwnerKey() != nil || got.Owner() != owner || got.LocalKey("state") != local || got.SigningKey().Equal(id.SigningKey()) != true {
		t.Fatalf("after the drop: owner held %v, owner %s (want %s), same local key %v", got.HasOwner(), got.Owner(), owner, got.LocalKey("state") == local)
	}
	if bytes.Contains(got.secrets(), seed[:]) {
		t.Fatal("the dropped owner seed is still in the keystore's secrets")
	}

	if _, err := got.WithOwner(ed25519.NewKeyFromSeed(make([]byte, 32))); !errors.Is(err, ErrNoOwner) {
		t.Fatalf("WithOwner of another key: %v", err)
	}
	with, err := got.WithOwner(ownerKey)
	if err != nil || !with.HasOwner() || !with.OwnerKey().Equal(ownerKey) || got.HasOwner() {
		t.Fatalf("WithOwner of the owner key: %v (the copy holds it: %v, the original: %v)", err, with != nil && with.HasOwner(), got.HasOwner())
	}

	// Forged secrets: a seed kept while flagged dropped, a seed that is
	// not the named owner's, an unknown flag.
	for name, mutate := range map[string]func(b []byte){
		"seed kept while dropped": func(b []byte) { b[1] = 1 },
		"another owner":           func(b []byte) { b[0] = 0; b[1] = 1 },
		"unknown flag":            func(b []byte) { b[0] |= 2 },
	} {
		b := got.secrets()
		mutate(b)
		if _, err := fromSecrets(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestResave: an identity opened from a keystore file is saved again
// (its owner seed dropped) without the passphrase, under the same one;
// one that came from no file cannot be.
func TestResave(t *testing.T) {
	id, _ := New()
	path := filepath.Join(t.TempDir(), "keys")
	if err := Save(path, id, []byte("correct horse"), fastKDF); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	got.DropOwner()
	if err := Resave(path, got); err != nil {
		t.Fatal(err)
	}
	again, err := Load(path, []byte("correct horse"))
	if err != nil || again.HasOwner() || again.Owner() != id.Owner() || again.LocalKey("state") != id.LocalKey("state") {
		t.Fatalf("after Resave: %v, owner held %v", err, again != nil && again.HasOwner())
	}
	if _, err := Load(path, []byte("wrong horse")); !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("another passphrase: %v", err)
	}
	fresh, _ := New()
	if err := Resave(filepath.Join(t.TempDir(), "other"), fresh); err == nil {
		t.Fatal("an identity from no file was saved")
	}
}
