package wire

import (
	"bytes"
	"slices"
	"testing"
)

// TestChunkPadding: whatever a chunk holds, from nothing to a full
// ChunkSize, its blob is one of ChunkBuckets (a 4-byte file made a
// 21-byte chunk in v1: its size to the byte), the smallest that fits,
// and opens to what went in.
func TestChunkPadding(t *testing.T) {
	key := seed("file-key", 32)
	for _, n := range []int{0, 1, 4, 975, 976, 977, 4000, 16000, 65000, 262100, 262101, 500000, ChunkSize - 1, ChunkSize} {
		plain := bytes.Repeat([]byte{'x'}, n)
		blob := SealChunk(key, 0, 1, plain)
		i := slices.Index(ChunkBuckets, len(blob))
		if i < 0 || (i > 0 && ChunkBuckets[i-1] >= chunkHead+4+n) {
			t.Errorf("%d bytes make a chunk of %d bytes, buckets %v", n, len(blob), ChunkBuckets)
		}
		if got, err := OpenChunk(key, 0, 1, blob); err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
}

// TestChunkNonceFollowsContent: one chunk sealed twice is the same blob
// (a resumed upload); two contents at one index of one file (a file that
// changed mid-upload) get two nonces, so no (key, nonce) seals both.
func TestChunkNonceFollowsContent(t *testing.T) {
	key := seed("file-key", 32)
	a, b := bytes.Repeat([]byte("a"), 3000), bytes.Repeat([]byte("b"), 3000)
	if !bytes.Equal(SealChunk(key, 4, 9, a), SealChunk(key, 4, 9, a)) {
		t.Fatal("sealing the same chunk twice gave two blobs")
	}
	x, y := SealChunk(key, 4, 9, a), SealChunk(key, 4, 9, b)
	if bytes.Equal(x[1:25], y[1:25]) {
		t.Fatal("two contents at one index share a nonce")
	}
}

// FuzzOpenChunk: whatever a hub serves as a chunk, opening neither panics
// nor accepts a v2 blob other than the one sealing its content makes.
func FuzzOpenChunk(f *testing.F) {
	key := seed("file-key", 32)
	f.Add(SealChunk(key, 1, 3, []byte("hello")))
	f.Add(sealChunkV1(key, 1, 3, []byte("hello")))
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, blob []byte) {
		p, err := OpenChunk(key, 1, 3, blob)
		if err == nil && blob[0] == chunkV2 && !bytes.Equal(SealChunk(key, 1, 3, p), blob) {
			t.Fatalf("opened %x, which sealing %q does not make", blob, p)
		}
	})
}
