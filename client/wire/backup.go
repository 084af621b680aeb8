package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// A backup blob (client/backup.go) holds the identity, sealed under a key
// only the backup passphrase gives, and the state, sealed under a key
// derived from the identity. Its clear part says only which version it
// is: no name, no key, no time, no KDF parameter.
//
//	v3: "parley/backup/v3\n" ‖ identity[265] ‖ nonce[24] ‖ sealed state
//	v2: "parley/backup/v2\n" ‖ identity[200] ‖ nonce[24] ‖ sealed state
//	v1: "parley/backup/v1\n" ‖ u32 len ‖ identity (a keystore file) ‖ nonce[24] ‖ sealed state
//
// In v3 the identity is keystore.SealSeeds' output (nonce[24] ‖
// XChaCha20-Poly1305 of the keystore's 225-byte v2 secrets, which may
// lack the owner seed); in v2 (read, and written by a device whose backup
// was turned on before v3) the same of the 160 v1 seed bytes; in v1
// (read, never written by new backups) it is a keystore file, whose
// header names its Argon2id parameters.
const (
	BackupMagicV1 = "parley/backup/v1\n"
	BackupMagicV2 = "parley/backup/v2\n"
	BackupMagic   = "parley/backup/v3\n"
)

// BackupIdentityLen is the length of a v3 backup's sealed identity
// (keystore.SealedSeedsLen), BackupIdentityLenV2 a v2 backup's
// (keystore.SealedSeedsLenV1).
const (
	BackupIdentityLen   = chacha20poly1305.NonceSizeX + 225 + chacha20poly1305.Overhead
	BackupIdentityLenV2 = chacha20poly1305.NonceSizeX + 160 + chacha20poly1305.Overhead
)

// maxBackupKeystore bounds a v1 backup's keystore file.
const maxBackupKeystore = 4096

// Backup is a backup blob taken apart.
type Backup struct {
	Version  int    // 1, 2 or 3
	Identity []byte // v2, v3: sealed seeds; v1: a keystore file
	Nonce    []byte // the state's nonce (24 bytes)
	State    []byte // the sealed, padded state (at least the AEAD tag)
}

// ParseBackup takes a backup blob apart (it opens nothing). Unknown
// versions, short blobs and, in v1, a keystore longer than 4 KiB are
// ErrMalformed.
func ParseBackup(blob []byte) (*Backup, error) {
	var b Backup
	var rest []byte
	switch {
	case bytes.HasPrefix(blob, []byte(BackupMagic)):
		rest = blob[len(BackupMagic):]
		if len(rest) < BackupIdentityLen {
			return nil, fmt.Errorf("%w: backup of %d bytes", ErrMalformed, len(blob))
		}
		b.Version, b.Identity, rest = 3, rest[:BackupIdentityLen], rest[BackupIdentityLen:]
	case bytes.HasPrefix(blob, []byte(BackupMagicV2)):
		rest = blob[len(BackupMagicV2):]
		if len(rest) < BackupIdentityLenV2 {
			return nil, fmt.Errorf("%w: backup of %d bytes", ErrMalformed, len(blob))
		}
		b.Version, b.Identity, rest = 2, rest[:BackupIdentityLenV2], rest[BackupIdentityLenV2:]
	case bytes.HasPrefix(blob, []byte(BackupMagicV1)):
		rest = blob[len(BackupMagicV1):]
		if len(rest) < 4 {
			return nil, fmt.Errorf("%w: backup of %d bytes", ErrMalformed, len(blob))
		}
		n := int(binary.BigEndian.Uint32(rest))
		if n > maxBackupKeystore || len(rest) < 4+n {
			return nil, fmt.Errorf("%w: backup keystore of %d bytes", ErrMalformed, n)
		}
		b.Version, b.Identity, rest = 1, rest[4:4+n], rest[4+n:]
	default:
		return nil, fmt.Errorf("%w: not a backup of a known version", ErrMalformed)
	}
	if len(rest) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: backup of %d bytes", ErrMalformed, len(blob))
	}
	b.Nonce, b.State = rest[:chacha20poly1305.NonceSizeX], rest[chacha20poly1305.NonceSizeX:]
	return &b, nil
}

// Marshal gives the blob back.
func (b *Backup) Marshal() []byte {
	var out []byte
	switch b.Version {
	case 1:
		out = append([]byte(BackupMagicV1), binary.BigEndian.AppendUint32(nil, uint32(len(b.Identity)))...)
	case 2:
		out = []byte(BackupMagicV2)
	default:
		out = []byte(BackupMagic)
	}
	out = append(out, b.Identity...)
	out = append(out, b.Nonce...)
	return append(out, b.State...)
}

// BackupAD is the associated data of a backup's sealed state (and, in
// v2 and v3, of its sealed identity): the path in v1, the version's magic
// and the path in v2 and v3, so a blob opens only at the path it was
// written to, as the version it was written as.
func BackupAD(version int, path string) []byte {
	switch version {
	case 1:
		return []byte(path)
	case 2:
		return append([]byte(BackupMagicV2), path...)
	}
	return append([]byte(BackupMagic), path...)
}
