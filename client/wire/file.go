package wire

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Files travel in chunks of ChunkSize bytes (the last one shorter), each
// sealed with its own key and stored on the sender's hubs at a path
// derived from the file key: nothing links a chunk to its file, its
// conversation or its neighbours except the file key, which only the
// message that shares the file carries.
//
// chunk i: u8 1 ‖ XChaCha20-Poly1305(key_i, nonce_i, plaintext,
// ad = "parley/chunk/v1" ‖ u64 i ‖ u64 count), where key_i ‖ nonce_i =
// HKDF-SHA256(file key, info = "parley/chunk-key/v1" ‖ u64 i). Keys and
// nonces are derived, so sealing a chunk again gives the same blob: an
// interrupted upload resumes by skipping the chunks already stored.
const ChunkSize = 1 << 20

const chunkVersion = 1

// ChunkCount is the number of chunks of a file of size bytes (at least one).
func ChunkCount(size int64) int {
	if size <= 0 {
		return 1
	}
	return int((size + ChunkSize - 1) / ChunkSize)
}

func chunkKey(fileKey []byte, i int) (key, nonce []byte) {
	info := binary.BigEndian.AppendUint64([]byte("parley/chunk-key/v1"), uint64(i))
	b, _ := hkdf.Key(sha256.New, fileKey, nil, string(info), chacha20poly1305.KeySize+chacha20poly1305.NonceSizeX)
	return b[:chacha20poly1305.KeySize], b[chacha20poly1305.KeySize:]
}

func chunkAD(i, count int) []byte {
	ad := binary.BigEndian.AppendUint64([]byte("parley/chunk/v1"), uint64(i))
	return binary.BigEndian.AppendUint64(ad, uint64(count))
}

// ChunkPath is where chunk i of a file lives on its sender's hubs.
func ChunkPath(fileKey []byte, i int) string {
	m := hmac.New(sha256.New, fileKey)
	m.Write(binary.BigEndian.AppendUint64([]byte("parley/chunk-path/v1"), uint64(i)))
	return "f/" + hex.EncodeToString(m.Sum(nil)[:16])
}

// SealChunk seals chunk i of count.
func SealChunk(fileKey []byte, i, count int, plain []byte) []byte {
	key, nonce := chunkKey(fileKey, i)
	aead, _ := chacha20poly1305.NewX(key)
	return aead.Seal([]byte{chunkVersion}, nonce, plain, chunkAD(i, count))
}

// OpenChunk opens chunk i of count; a chunk that was altered, or is another
// chunk (of this file or another), does not open.
func OpenChunk(fileKey []byte, i, count int, blob []byte) ([]byte, error) {
	if len(blob) < 1+chacha20poly1305.Overhead || blob[0] != chunkVersion || len(blob) > 1+ChunkSize+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: chunk %d of %d bytes", ErrMalformed, i, len(blob))
	}
	key, nonce := chunkKey(fileKey, i)
	aead, _ := chacha20poly1305.NewX(key)
	p, err := aead.Open(nil, nonce, blob[1:], chunkAD(i, count))
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %d does not open", ErrForged, i)
	}
	return p, nil
}
