package wire

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"
)

// Files travel in chunks of ChunkSize bytes (the last one shorter), each
// sealed with its own key and stored on the sender's hubs at a path
// derived from the file key: nothing links a chunk to its file, its
// conversation or its neighbours except the file key, which only the
// message that shares the file carries.
//
// chunk i of count (v2):
//
//	key_i ‖ nk_i = HKDF-SHA256(file key, info = "parley/chunk-key/v2" ‖ u64 i, 64 bytes)
//	padded       = u32 len ‖ bytes ‖ zeros, so that the blob is a ChunkBuckets size
//	nonce_i      = HMAC-SHA256(nk_i, u64 count ‖ padded)[0:24]
//	blob         = u8 2 ‖ nonce_i ‖ XChaCha20-Poly1305(key_i, nonce_i, padded, ad = "parley/chunk/v2" ‖ u64 i ‖ u64 count)
//
// The nonce is synthetic: it is bound to the content, so sealing the same
// chunk again gives the same blob (an interrupted upload resumes by
// skipping the chunks already stored), and two contents at one index (a
// file that changed mid-upload) never share a (key, nonce). The padding
// hides a file's exact size as message padding hides a message's: a hub
// sees full chunks and the last one's bucket.
//
// v1 chunks (u8 1 ‖ XChaCha20-Poly1305(key_i, nonce_i, bytes, ad =
// "parley/chunk/v1" ‖ u64 i ‖ u64 count), key_i ‖ nonce_i =
// HKDF-SHA256(file key, info = "parley/chunk-key/v1" ‖ u64 i), unpadded)
// are still opened: files shared before v2 stay readable.
const ChunkSize = 1 << 20

const (
	chunkV1 = 1
	chunkV2 = 2
	// chunkHead is what a v2 blob holds besides the padded plaintext.
	chunkHead = 1 + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead
)

// ChunkBuckets are the sizes of v2 chunk blobs: the message sizes, then
// the size of a full chunk's blob.
var ChunkBuckets = []int{1024, 4096, 16384, 65536, 262144, chunkHead + 4 + ChunkSize}

// ChunkCount is the number of chunks of a file of size bytes (at least one).
func ChunkCount(size int64) int {
	if size <= 0 {
		return 1
	}
	return int((size + ChunkSize - 1) / ChunkSize)
}

func chunkKeyV1(fileKey []byte, i int) (key, nonce []byte) {
	info := binary.BigEndian.AppendUint64([]byte("parley/chunk-key/v1"), uint64(i))
	b, _ := hkdf.Key(sha256.New, fileKey, nil, string(info), chacha20poly1305.KeySize+chacha20poly1305.NonceSizeX)
	return b[:chacha20poly1305.KeySize], b[chacha20poly1305.KeySize:]
}

func chunkKey(fileKey []byte, i int) (key, nonceKey []byte) {
	info := binary.BigEndian.AppendUint64([]byte("parley/chunk-key/v2"), uint64(i))
	b, _ := hkdf.Key(sha256.New, fileKey, nil, string(info), 64)
	return b[:32], b[32:]
}

func chunkNonce(nonceKey []byte, count int, padded []byte) []byte {
	m := hmac.New(sha256.New, nonceKey)
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(count)))
	m.Write(padded)
	return m.Sum(nil)[:chacha20poly1305.NonceSizeX]
}

// Associated data labels of chunks.
const (
	chunkLabelV1 = "parley/chunk/v1"
	chunkLabelV2 = "parley/chunk/v2"
)

func chunkAD(version, i, count int) []byte {
	label := chunkLabelV2
	if version == chunkV1 {
		label = chunkLabelV1
	}
	ad := binary.BigEndian.AppendUint64([]byte(label), uint64(i))
	return binary.BigEndian.AppendUint64(ad, uint64(count))
}

// ChunkPath is where chunk i of a file lives on its sender's hubs.
func ChunkPath(fileKey []byte, i int) string {
	m := hmac.New(sha256.New, fileKey)
	m.Write(binary.BigEndian.AppendUint64([]byte("parley/chunk-path/v1"), uint64(i)))
	return "f/" + hex.EncodeToString(m.Sum(nil)[:16])
}

// SealChunk seals chunk i of count (at most ChunkSize bytes; it panics
// on more, a caller's bug).
func SealChunk(fileKey []byte, i, count int, plain []byte) []byte {
	if len(plain) > ChunkSize {
		panic(fmt.Sprintf("wire: chunk of %d bytes", len(plain)))
	}
	size := 0
	for _, b := range ChunkBuckets {
		if chunkHead+4+len(plain) <= b {
			size = b
			break
		}
	}
	padded := make([]byte, size-chunkHead)
	binary.BigEndian.PutUint32(padded, uint32(len(plain)))
	copy(padded[4:], plain)
	key, nk := chunkKey(fileKey, i)
	nonce := chunkNonce(nk, count, padded)
	aead, _ := chacha20poly1305.NewX(key)
	out := make([]byte, 0, size)
	out = append(append(out, chunkV2), nonce...)
	return aead.Seal(out, nonce, padded, chunkAD(chunkV2, i, count))
}

// OpenChunk opens chunk i of count, v2 or v1; a chunk that was altered,
// or is another chunk (of this file or another), does not open
// (ErrForged); one of a size or layout no sealer makes is ErrMalformed.
func OpenChunk(fileKey []byte, i, count int, blob []byte) ([]byte, error) {
	if len(blob) > 0 && blob[0] == chunkV1 {
		return openChunkV1(fileKey, i, count, blob)
	}
	valid := false
	for _, b := range ChunkBuckets {
		valid = valid || len(blob) == b
	}
	if !valid {
		return nil, fmt.Errorf("%w: chunk %d of %d bytes", ErrMalformed, i, len(blob))
	}
	if blob[0] != chunkV2 {
		return nil, fmt.Errorf("%w: chunk %d of version %d", ErrVersion, i, blob[0])
	}
	key, nk := chunkKey(fileKey, i)
	nonce := blob[1 : 1+chacha20poly1305.NonceSizeX]
	aead, _ := chacha20poly1305.NewX(key)
	padded, err := aead.Open(nil, nonce, blob[1+chacha20poly1305.NonceSizeX:], chunkAD(chunkV2, i, count))
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %d does not open: %w", ErrForged, i, ErrAuth)
	}
	n := int(binary.BigEndian.Uint32(padded))
	if n > len(padded)-4 || n > ChunkSize || !bytes.Equal(padded[4+n:], make([]byte, len(padded)-4-n)) {
		return nil, fmt.Errorf("%w: chunk %d: bad padding", ErrMalformed, i)
	}
	if k := slices.Index(ChunkBuckets, len(blob)); k > 0 && chunkHead+4+n <= ChunkBuckets[k-1] {
		return nil, fmt.Errorf("%w: chunk %d of %d bytes in a blob of %d, not the smallest", ErrMalformed, i, n, len(blob))
	}
	if !hmac.Equal(nonce, chunkNonce(nk, count, padded)) {
		return nil, fmt.Errorf("%w: chunk %d: its nonce is not its content's", ErrMalformed, i)
	}
	return padded[4 : 4+n], nil
}

func openChunkV1(fileKey []byte, i, count int, blob []byte) ([]byte, error) {
	if len(blob) < 1+chacha20poly1305.Overhead || len(blob) > 1+ChunkSize+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: chunk %d of %d bytes", ErrMalformed, i, len(blob))
	}
	key, nonce := chunkKeyV1(fileKey, i)
	aead, _ := chacha20poly1305.NewX(key)
	p, err := aead.Open(nil, nonce, blob[1:], chunkAD(chunkV1, i, count))
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %d does not open: %w", ErrForged, i, ErrAuth)
	}
	return p, nil
}
