// Package keystore keeps a Parley identity on the user's device, encrypted
// at rest under a passphrase.
//
// An identity is four secrets, each a seed from which its key is derived:
// the owner key (Ed25519; it owns the name on the chain and signs chain
// transactions), the signing key (Ed25519; it signs what the user
// publishes), the X25519 encryption key and the MLKEM768-X25519 hybrid
// post-quantum encryption key (both HPKE, crypto/hpke). Once the name is
// registered (or recovered), the owner seed leaves the device
// ([Identity.DropOwner]): the recovery phrase holds it, and the identity
// keeps only the owner's public key and the root of its local keys.
//
// # File format
//
//	# parley keystore
//	# created: <RFC 3339 time>
//	# owner: ed25519:<hex>   (or: ed25519:<hex>, not on this device)
//	<base64 of: "parley/keystore/v2" ‖ u32 argon2 time ‖ u32 argon2 memory KiB
//	  ‖ u8 argon2 threads ‖ salt[16] ‖ nonce[24] ‖ ciphertext>
//
// The key is Argon2id(passphrase, salt, time, memory, threads, 32 bytes);
// the ciphertext is XChaCha20-Poly1305 of the secrets (below) with
// everything before it as associated data, so no parameter can be
// changed unnoticed. Comment lines are for people; only the last line is
// read. Files are written to a temporary file, fsynced and renamed.
//
//	secrets v2 = u8 flags (bit 0: the owner seed was dropped) ‖ owner seed[32] (zero when dropped)
//	             ‖ owner public key[32] ‖ signing[32] ‖ x25519[32] ‖ pq[64] ‖ local root[32]
//
// A v1 file ("parley/keystore/v1", the 160 seed bytes owner ‖ signing ‖
// x25519 ‖ pq) is still read; it always holds the owner seed.
//
// It owns the identity's secrets and their file; it must not log, print or
// send a secret, nor keep a passphrase after use.
package keystore

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/chain/bns"
)

// Errors.
var (
	ErrBadPassphrase = errors.New("keystore: wrong passphrase, or the keystore is damaged")
	ErrMalformed     = errors.New("keystore: malformed")
	// ErrKDFTooCostly: the file asks for Argon2id parameters beyond the
	// bound the caller gave (OpenWithin); no KDF was run.
	ErrKDFTooCostly = errors.New("keystore: the file asks for a costlier key derivation than this client makes")
	// ErrWeakPassphrase: a new passphrase is too easy to guess
	// (CheckPassphrase).
	ErrWeakPassphrase = errors.New("keystore: passphrase too weak")
)

// MinPassphrase is the fewest characters a new passphrase may have: the
// keystore, and the backup a hub holds and can attack offline, are only as
// strong as it.
const MinPassphrase = 12

// CheckPassphrase accepts a new passphrase (a keystore's, a backup's) only
// if it has at least MinPassphrase characters and is not one character
// repeated; otherwise it wraps ErrWeakPassphrase, saying why.
func CheckPassphrase(p []byte) error {
	s := string(p)
	if n := utf8.RuneCountInString(s); n < MinPassphrase {
		return fmt.Errorf("%w: %d characters, at least %d are needed", ErrWeakPassphrase, n, MinPassphrase)
	}
	if r, _ := utf8.DecodeRuneInString(s); strings.Trim(s, string(r)) == "" {
		return fmt.Errorf("%w: one character repeated", ErrWeakPassphrase)
	}
	return nil
}

const (
	magicV1   = "parley/keystore/v1"
	magic     = "parley/keystore/v2"
	saltLen   = 16
	seedBytes = 32 + 32 + 32 + 64 // v1 secrets
	// secretBytes is the length of the v2 secrets.
	secretBytes = 1 + 32 + 32 + seedBytes - 32 + 32

	flagNoOwner = 1 << 0
)

// ErrNoOwner: the identity holds no owner seed (it was dropped after the
// registration or the recovery, or the device was linked): what needs the
// owner key needs the recovery phrase.
var ErrNoOwner = errors.New("keystore: the owner key is not on this device")

// KDF are the Argon2id parameters.
type KDF struct {
	Time    uint32
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultKDF is the cost new keystores and backups are made at: about a
// second and 64 MiB on a laptop. (A function, not a variable: a test that
// wants a cheaper one passes it, and cannot change it for others.)
func DefaultKDF() KDF { return KDF{Time: 3, Memory: 64 << 10, Threads: 4} }

// Identity is a user's secret keys.
type Identity struct {
	ownerSeed, signSeed, x25519Seed [32]byte
	pqSeed                          [64]byte
	noOwner                         bool          // the owner seed was dropped (zero)
	owner                           bns.PublicKey // the owner seed's public key, kept when it is dropped
	localRoot                       [32]byte      // HKDF-Extract of the v1 seeds: LocalKey's root
	// file is the key of the keystore file the identity was last opened
	// from or saved to (Resave), nil before either.
	file *fileKey
	// sealed is the key of the last Seal's output, which Save makes the
	// file's.
	sealed *fileKey
}

// fileKey is a keystore file's Argon2id output with its parameters and
// salt: what seals the file again without the passphrase.
type fileKey struct {
	kdf  KDF
	salt []byte
	key  []byte
}

// New makes a fresh identity from crypto/rand.
func New() (*Identity, error) {
	id := new(Identity)
	for _, b := range [][]byte{id.ownerSeed[:], id.signSeed[:], id.x25519Seed[:], id.pqSeed[:]} {
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
	}
	id.derive()
	return id, nil
}

// derive sets what follows from the seeds of an identity that holds its
// owner seed: the owner's public key and the local root.
func (id *Identity) derive() {
	id.owner = bns.PublicKeyOf(ed25519.NewKeyFromSeed(id.ownerSeed[:]))
	seeds := id.seeds()
	defer clear(seeds)
	prk, err := hkdf.Extract(sha256.New, seeds, []byte(localSalt))
	if err != nil {
		panic(err)
	}
	copy(id.localRoot[:], prk)
}

// OwnerKey is the chain account key that owns the user's name, or nil
// when the identity does not hold it (HasOwner).
func (id *Identity) OwnerKey() ed25519.PrivateKey {
	if id.noOwner {
		return nil
	}
	return ed25519.NewKeyFromSeed(id.ownerSeed[:])
}

// Owner is the owner key's public key, also once the seed was dropped.
func (id *Identity) Owner() bns.PublicKey { return id.owner }

// HasOwner reports whether the identity holds the owner seed.
func (id *Identity) HasOwner() bool { return !id.noOwner }

// DropOwner zeroes the owner seed and flags it dropped, keeping the
// owner's public key and the local keys (LocalKey gives what it gave).
// Saved, the keystore no longer holds it: the recovery phrase does
// (docs/devices.md, Where the owner key lives).
func (id *Identity) DropOwner() {
	clear(id.ownerSeed[:])
	id.noOwner = true
}

// WithOwner returns a copy of id holding the owner seed of key, if key is
// the identity's owner (Owner); otherwise ErrNoOwner. It is how a command
// that needs the owner key (transfer, revoke) takes it from the recovery
// phrase for one use, without saving it.
func (id *Identity) WithOwner(key ed25519.PrivateKey) (*Identity, error) {
	if len(key) != ed25519.PrivateKeySize || bns.PublicKeyOf(key) != id.owner {
		return nil, ErrNoOwner
	}
	c := *id
	copy(c.ownerSeed[:], key.Seed())
	c.noOwner = false
	return &c, nil
}

// SigningKey signs what the user publishes.
func (id *Identity) SigningKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(id.signSeed[:]) }

// X25519Key is the classical HPKE key.
func (id *Identity) X25519Key() (hpke.PrivateKey, error) {
	return hpke.DHKEM(x25519()).DeriveKeyPair(id.x25519Seed[:])
}

// HybridKey is the post-quantum hybrid HPKE key (MLKEM768-X25519).
func (id *Identity) HybridKey() (hpke.PrivateKey, error) {
	return hpke.MLKEM768X25519().DeriveKeyPair(id.pqSeed[:])
}

// Profile returns what the identity publishes on the chain, with hubs.
func (id *Identity) Profile(hubs []string) (bns.Profile, error) {
	x, err := id.X25519Key()
	if err != nil {
		return bns.Profile{}, err
	}
	h, err := id.HybridKey()
	if err != nil {
		return bns.Profile{}, err
	}
	return bns.Profile{
		SigningKey: bns.PublicKeyOf(id.SigningKey()),
		EncKeys: []bns.EncKey{
			{KEM: bns.KEMX25519, Key: x.PublicKey().Bytes()},
			{KEM: bns.KEMMLKEM768X25519, Key: h.PublicKey().Bytes()},
		},
		Hubs: append([]string(nil), hubs...),
	}, nil
}

// localSalt is LocalKey's HKDF salt.
const localSalt = "parley/local/v1"

// LocalKey derives a 32-byte key for sealing local state (never sent
// anywhere) from the identity's secrets and a label: HKDF-SHA256 of the
// v1 seeds (salt "parley/local/v1", info label), computed from the local
// root (the extract step) so that it is the same once the owner seed is
// dropped.
func (id *Identity) LocalKey(label string) [32]byte {
	b, err := hkdf.Expand(sha256.New, id.localRoot[:], label, 32)
	if err != nil {
		panic(err)
	}
	var k [32]byte
	copy(k[:], b)
	return k
}

func (id *Identity) seeds() []byte {
	b := make([]byte, 0, seedBytes)
	b = append(b, id.ownerSeed[:]...)
	b = append(b, id.signSeed[:]...)
	b = append(b, id.x25519Seed[:]...)
	return append(b, id.pqSeed[:]...)
}

// secrets is the v2 secrets block.
func (id *Identity) secrets() []byte {
	b := make([]byte, 0, secretBytes)
	var flags byte
	if id.noOwner {
		flags |= flagNoOwner
	}
	b = append(b, flags)
	b = append(b, id.ownerSeed[:]...)
	b = append(b, id.owner[:]...)
	b = append(b, id.signSeed[:]...)
	b = append(b, id.x25519Seed[:]...)
	b = append(b, id.pqSeed[:]...)
	return append(b, id.localRoot[:]...)
}

// fromSecrets reads a v2 secrets block: a flag other than bit 0, an owner
// seed kept while flagged dropped, or one that does not give the owner
// key it names, is ErrMalformed.
func fromSecrets(b []byte) (*Identity, error) {
	if len(b) != secretBytes || b[0]&^flagNoOwner != 0 {
		return nil, fmt.Errorf("%w: keystore secrets", ErrMalformed)
	}
	id := new(Identity)
	id.noOwner = b[0]&flagNoOwner != 0
	p := b[1:]
	for _, f := range [][]byte{id.ownerSeed[:], id.owner[:], id.signSeed[:], id.x25519Seed[:], id.pqSeed[:], id.localRoot[:]} {
		p = p[copy(f, p):]
	}
	switch {
	case id.noOwner && id.ownerSeed != [32]byte{}:
		return nil, fmt.Errorf("%w: an owner seed flagged dropped", ErrMalformed)
	case !id.noOwner && bns.PublicKeyOf(ed25519.NewKeyFromSeed(id.ownerSeed[:])) != id.owner:
		return nil, fmt.Errorf("%w: the owner seed does not give the owner key", ErrMalformed)
	}
	return id, nil
}

// Seal encrypts the identity under passphrase and returns the file's bytes.
func (id *Identity) Seal(passphrase []byte, kdf KDF, now time.Time) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("keystore: empty passphrase")
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	fk := &fileKey{kdf: kdf, salt: salt, key: argon2.IDKey(passphrase, salt, kdf.Time, kdf.Memory, kdf.Threads, chacha20poly1305.KeySize)}
	id.sealed = fk
	return id.sealWith(fk, now)
}

// Resave seals id again into path under the key of the keystore file it
// was last opened from or saved to (Load, Open, Save; not Seal alone) (a fresh nonce, the same passphrase,
// salt and cost), so a change to the identity (DropOwner) is saved
// without asking for the passphrase again. An identity that came from no
// file (New, FromPhrase, OpenSeeds) has none: an error.
func Resave(path string, id *Identity) error {
	if id.file == nil {
		return errors.New("keystore: this identity was not opened from a keystore file")
	}
	data, err := id.sealWith(id.file, time.Now())
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data)
}

// sealWith is Seal under fk.
func (id *Identity) sealWith(fk *fileKey, now time.Time) ([]byte, error) {
	header := []byte(magic)
	header = binary.BigEndian.AppendUint32(header, fk.kdf.Time)
	header = binary.BigEndian.AppendUint32(header, fk.kdf.Memory)
	header = append(header, fk.kdf.Threads)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	header = append(append(header, fk.salt...), nonce...)
	aead, err := chacha20poly1305.NewX(fk.key)
	if err != nil {
		return nil, err
	}
	secrets := id.secrets()
	defer clear(secrets)
	body := aead.Seal(header, nonce, secrets, header)
	var out bytes.Buffer
	owner := id.owner.String()
	if id.noOwner {
		owner += ", not on this device (the recovery phrase holds it)"
	}
	fmt.Fprintf(&out, "# parley keystore\n# created: %s\n# owner: %s\n", now.UTC().Format(time.RFC3339), owner)
	out.WriteString(base64.StdEncoding.EncodeToString(body))
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// Open decrypts a keystore file's bytes. It accepts any Argon2id cost
// the format allows (up to 100 passes and 4 GiB): use it for the user's
// own files, OpenWithin for a file from elsewhere.
func Open(file, passphrase []byte) (*Identity, error) {
	return OpenWithin(file, passphrase, KDF{Time: 100, Memory: 4 << 20, Threads: 255})
}

// OpenWithin is Open for a file that someone else may have written (a
// backup read from a hub): a file whose Argon2id parameters exceed max in
// any one of time, memory or threads is refused with ErrKDFTooCostly
// before any key derivation runs.
func OpenWithin(file, passphrase []byte, max KDF) (*Identity, error) {
	var last string
	sc := bufio.NewScanner(bytes.NewReader(file))
	sc.Buffer(make([]byte, 4096), 1<<16)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if last != "" {
			return nil, fmt.Errorf("%w: more than one data line", ErrMalformed)
		}
		last = line
	}
	body, err := base64.StdEncoding.Strict().DecodeString(last)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	hlen := len(magic) + 4 + 4 + 1 + saltLen + chacha20poly1305.NonceSizeX
	plain := secretBytes
	switch {
	case len(body) >= len(magic) && string(body[:len(magic)]) == magic:
	case len(body) >= len(magicV1) && string(body[:len(magicV1)]) == magicV1:
		plain = seedBytes
	default:
		return nil, fmt.Errorf("%w: not a %s or %s keystore", ErrMalformed, magic, magicV1)
	}
	if len(body) != hlen+plain+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: keystore of %d bytes", ErrMalformed, len(body))
	}
	p := body[len(magic):]
	kdf := KDF{Time: binary.BigEndian.Uint32(p), Memory: binary.BigEndian.Uint32(p[4:]), Threads: p[8]}
	if kdf.Time == 0 || kdf.Time > 100 || kdf.Memory < 8 || kdf.Memory > 4<<20 || kdf.Threads == 0 {
		return nil, fmt.Errorf("%w: KDF parameters out of range", ErrMalformed)
	}
	if kdf.Time > max.Time || kdf.Memory > max.Memory || kdf.Threads > max.Threads {
		return nil, fmt.Errorf("%w: it asks for %d passes over %d MiB with %d threads, this client makes at most %d over %d MiB with %d",
			ErrKDFTooCostly, kdf.Time, kdf.Memory>>10, kdf.Threads, max.Time, max.Memory>>10, max.Threads)
	}
	salt := p[9 : 9+saltLen]
	nonce := p[9+saltLen : 9+saltLen+chacha20poly1305.NonceSizeX]
	fk := &fileKey{kdf: kdf, salt: bytes.Clone(salt), key: argon2.IDKey(passphrase, salt, kdf.Time, kdf.Memory, kdf.Threads, chacha20poly1305.KeySize)}
	aead, err := chacha20poly1305.NewX(fk.key)
	if err != nil {
		return nil, err
	}
	seeds, err := aead.Open(nil, nonce, body[hlen:], body[:hlen])
	if err != nil {
		return nil, ErrBadPassphrase
	}
	defer clear(seeds)
	var id *Identity
	if plain == seedBytes {
		id = fromSeeds(seeds)
	} else if id, err = fromSecrets(seeds); err != nil {
		return nil, err
	}
	id.file = fk
	return id, nil
}

// fromSeeds reads the v1 seeds (owner ‖ signing ‖ x25519 ‖ pq).
func fromSeeds(seeds []byte) *Identity {
	id := new(Identity)
	copy(id.ownerSeed[:], seeds[0:32])
	copy(id.signSeed[:], seeds[32:64])
	copy(id.x25519Seed[:], seeds[64:96])
	copy(id.pqSeed[:], seeds[96:160])
	id.derive()
	return id
}

// SealedSeedsLen is the length of SealSeeds' output (the v2 secrets
// sealed); SealedSeedsLenV1 that of the v1 seeds sealed, which OpenSeeds
// still reads.
const (
	SealedSeedsLen   = chacha20poly1305.NonceSizeX + secretBytes + chacha20poly1305.Overhead
	SealedSeedsLenV1 = chacha20poly1305.NonceSizeX + seedBytes + chacha20poly1305.Overhead
)

// SealSeeds seals the identity's secrets under key, for a container that
// derives the key itself (the backup): nonce[24] ‖
// XChaCha20-Poly1305(key, nonce, the v2 secrets, ad), with nothing else
// (no parameters, no comment) in the clear.
func (id *Identity) SealSeeds(key [32]byte, ad []byte) []byte {
	secrets := id.secrets()
	defer clear(secrets)
	out := make([]byte, chacha20poly1305.NonceSizeX, SealedSeedsLen)
	rand.Read(out)
	aead, _ := chacha20poly1305.NewX(key[:])
	return aead.Seal(out, out[:chacha20poly1305.NonceSizeX], secrets, ad)
}

// OpenSeeds opens what SealSeeds made (SealedSeedsLen bytes), or the
// sealed v1 seeds of an older backup (SealedSeedsLenV1); anything else,
// or another key or ad, gives ErrBadPassphrase.
func OpenSeeds(key [32]byte, sealed, ad []byte) (*Identity, error) {
	if len(sealed) != SealedSeedsLen && len(sealed) != SealedSeedsLenV1 {
		return nil, fmt.Errorf("%w: sealed seeds of %d bytes", ErrMalformed, len(sealed))
	}
	aead, _ := chacha20poly1305.NewX(key[:])
	seeds, err := aead.Open(nil, sealed[:chacha20poly1305.NonceSizeX], sealed[chacha20poly1305.NonceSizeX:], ad)
	if err != nil {
		return nil, ErrBadPassphrase
	}
	defer clear(seeds)
	if len(seeds) == seedBytes {
		return fromSeeds(seeds), nil
	}
	return fromSecrets(seeds)
}

// DataLine returns the keystore file's data line alone, without its
// comment lines (which are for people, and name the owner key).
func DataLine(file []byte) []byte {
	var last []byte
	for line := range bytes.Lines(file) {
		if l := bytes.TrimSuffix(line, []byte("\n")); len(l) > 0 && l[0] != '#' {
			last = l
		}
	}
	return append(last, '\n')
}

// Save seals id into path: a temporary file in the same directory,
// fsynced, renamed over path, then the directory fsynced.
func Save(path string, id *Identity, passphrase []byte, kdf KDF) error {
	data, err := id.Seal(passphrase, kdf, time.Now())
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(path, data); err != nil {
		return err
	}
	id.file = id.sealed // the key of the file at path now (Resave)
	return nil
}

// Load reads and opens the keystore at path.
func Load(path string, passphrase []byte) (*Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	return Open(b, passphrase)
}

// WriteFileAtomic replaces path with data so that a crash leaves either the
// old file or the new one, never a part.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
