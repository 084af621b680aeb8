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
//	v2: "parley/backup/v2\n" ‖ identity[200] ‖ nonce[24] ‖ sealed state
//	v1: "parley/backup/v1\n" ‖ u32 len ‖ identity (a keystore file) ‖ nonce[24] ‖ sealed state
//
// In v2 the identity is keystore.SealSeeds' output (nonce[24] ‖
// XChaCha20-Poly1305 of the 160 seed bytes); in v1 (read, never written
// by new backups) it is a keystore file, whose header names its Argon2id
// parameters.
const (
	BackupMagicV1 = "parley/backup/v1\n"
	BackupMagic   = "parley/backup/v2\n"
)

// BackupIdentityLen is the length of a v2 backup's sealed identity
// (keystore.SealedSeedsLen).
const BackupIdentityLen = chacha20poly1305.NonceSizeX + 160 + chacha20poly1305.Overhead

// maxBackupKeystore bounds a v1 backup's keystore file.
const maxBackupKeystore = 4096

// Backup is a backup blob taken apart.
type Backup struct {
	Version  int    // 1 or 2
	Identity []byte // v2: sealed seeds; v1: a keystore file
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
		b.Version, b.Identity, rest = 2, rest[:BackupIdentityLen], rest[BackupIdentityLen:]
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
	if b.Version == 1 {
		out = append([]byte(BackupMagicV1), binary.BigEndian.AppendUint32(nil, uint32(len(b.Identity)))...)
	} else {
		out = []byte(BackupMagic)
	}
	out = append(out, b.Identity...)
	out = append(out, b.Nonce...)
	return append(out, b.State...)
}

// BackupAD is the associated data of a backup's sealed state (and, in
// v2, of its sealed identity): the path in v1, the magic and the path in
// v2, so a blob opens only at the path it was written to.
func BackupAD(version int, path string) []byte {
	if version == 1 {
		return []byte(path)
	}
	return append([]byte(BackupMagic), path...)
}
