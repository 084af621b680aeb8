package wire

import (
	"bufio"
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/ratchet"
)

var update = flag.Bool("update", false, "rewrite the test vectors in testdata/")

// Vectors are decryption vectors: fixed keys and recorded ciphertexts that
// must open to the recorded contents. (Encryption is randomized; Go 1.26
// may ignore a supplied random source, so sealing is not replayed.)

func seed(label string, n int) []byte {
	out := make([]byte, 0, n)
	for i := 0; len(out) < n; i++ {
		out = append(out, []byte(fmt.Sprintf("%s-%d|", label, i))...)
	}
	return out[:n]
}

func writeVector(t *testing.T, name string, comment string, kv [][2]string) {
	var b strings.Builder
	for _, l := range strings.Split(comment, "\n") {
		b.WriteString("# " + l + "\n")
	}
	for _, p := range kv {
		fmt.Fprintf(&b, "%s: %s\n", p[0], p[1])
	}
	if err := os.WriteFile(filepath.Join("testdata", name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readVector(t *testing.T, name string, keys ...string) map[string][]byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	v := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, val, ok := strings.Cut(line, ": ")
		known := false
		for _, kk := range keys {
			known = known || kk == k
		}
		if !ok || !known {
			t.Fatalf("%s: unexpected line %q", name, line)
		}
		if v[k], err = hex.DecodeString(val); err != nil {
			t.Fatalf("%s: %s: %v", name, k, err)
		}
	}
	if len(v) != len(keys) {
		t.Fatalf("%s: %d of %d keys", name, len(v), len(keys))
	}
	return v
}

func vectorKeys(t *testing.T) (signer ed25519.PrivateKey, x, h hpke.PrivateKey, rec *bns.Record) {
	signer = ed25519.NewKeyFromSeed(seed("sender-signing", 32))
	var err error
	if x, err = hpke.DHKEM(ecdh.X25519()).DeriveKeyPair(seed("recipient-x25519", 32)); err != nil {
		t.Fatal(err)
	}
	if h, err = hpke.MLKEM768X25519().DeriveKeyPair(seed("recipient-hybrid", 64)); err != nil {
		t.Fatal(err)
	}
	rec = &bns.Record{Name: "bob", Profile: bns.Profile{EncKeys: []bns.EncKey{
		{KEM: bns.KEMX25519, Key: x.PublicKey().Bytes()}, {KEM: bns.KEMMLKEM768X25519, Key: h.PublicKey().Bytes()}}}}
	return
}

// TestHandshakeVector: the recorded envelopes open: handshake.txt is of
// version 1 (no greeting), kept as it was recorded; handshake-v2.txt, of
// the version SealIntro writes, carries a greeting.
func TestHandshakeVector(t *testing.T) {
	signer, x, h, rec := vectorKeys(t)
	for _, tc := range []struct {
		file     string
		greeting string
		frozen   bool // a format no longer written: -update leaves it
	}{
		{"handshake.txt", "", true},
		{"handshake-v2.txt", "hi bob, it's alice", false},
	} {
		in := Intro{From: "alice", To: "bob", MutualKey: [32]byte(seed("mutual", 32)), Time: time.Unix(1800000000, 0), Greeting: tc.greeting}
		keys := []string{"sender-signing-seed", "recipient-x25519-seed", "recipient-hybrid-seed", "from", "to", "mutual-key", "unix-time", "envelope"}
		if tc.greeting != "" {
			keys = append(keys, "greeting")
		}
		if *update && !tc.frozen {
			env, err := SealIntro(signer, in, rec)
			if err != nil {
				t.Fatal(err)
			}
			kv := [][2]string{
				{"sender-signing-seed", hex.EncodeToString(seed("sender-signing", 32))},
				{"recipient-x25519-seed", hex.EncodeToString(seed("recipient-x25519", 32))},
				{"recipient-hybrid-seed", hex.EncodeToString(seed("recipient-hybrid", 64))},
				{"from", hex.EncodeToString([]byte(in.From))}, {"to", hex.EncodeToString([]byte(in.To))},
				{"mutual-key", hex.EncodeToString(in.MutualKey[:])},
				{"unix-time", fmt.Sprintf("%016x", in.Time.Unix())},
				{"greeting", hex.EncodeToString([]byte(in.Greeting))},
				{"envelope", hex.EncodeToString(env)},
			}
			writeVector(t, tc.file, "A handshake envelope (version 2, with a greeting) from alice to bob (client/wire doc).\nKeys and seeds are derived by seed() in vectors_test.go; values are hex.", kv)
		}
		v := readVector(t, tc.file, keys...)
		sender := &bns.Record{Name: string(v["from"]), Profile: bns.Profile{SigningKey: bns.PublicKeyOf(ed25519.NewKeyFromSeed(v["sender-signing-seed"]))}}
		got, err := OpenIntro(v["envelope"], string(v["to"]), []hpke.PrivateKey{x, h}, func(string) (*bns.Record, error) { return sender, nil })
		if err != nil {
			t.Fatalf("%s: the recorded envelope no longer opens: %v", tc.file, err)
		}
		if got.From != "alice" || !bytes.Equal(got.MutualKey[:], v["mutual-key"]) || fmt.Sprintf("%016x", got.Time.Unix()) != hex.EncodeToString(v["unix-time"]) ||
			got.Greeting != string(v["greeting"]) {
			t.Fatalf("%s: opened %+v", tc.file, got)
		}
	}
}

// TestBlobVector: message 0 of a conversation as the previous client
// sealed it (a version 1 blob, recorded then: no longer made) still opens.
func TestBlobVector(t *testing.T) {
	keys := ConversationKeys([32]byte(seed("mutual", 32)), "alice", "bob")
	path := MessagePath(keys.SendKey, 0)
	v := readVector(t, "blob.txt", "mutual-key", "bob-ratchet-private", "path", "text", "blob")
	if string(v["path"]) != path {
		t.Fatalf("path derivation changed: %s, recorded %s", path, v["path"])
	}
	bk, _ := ecdh.X25519().NewPrivateKey(v["bob-ratchet-private"])
	b := ratchet.InitBob([32]byte(v["mutual-key"]), bk, nil)
	got, err := OpenMessage(b, ConversationKeys([32]byte(v["mutual-key"]), "bob", "alice").Header, v["blob"], v["path"])
	if err != nil || !bytes.Equal(got, v["text"]) {
		t.Fatalf("the recorded blob no longer opens: %q %v", got, err)
	}
	if len(v["blob"]) != Buckets[0] || v["blob"][0] != blobV1 {
		t.Fatalf("recorded blob of %d bytes, version %d", len(v["blob"]), v["blob"][0])
	}
}

// sealChunkV1 is how chunks were sealed before v2 (for the v1 vector).
func sealChunkV1(fileKey []byte, i, count int, plain []byte) []byte {
	key, nonce := chunkKeyV1(fileKey, i)
	aead, _ := chacha20poly1305.NewX(key)
	return aead.Seal([]byte{chunkV1}, nonce, plain, chunkAD(chunkV1, i, count))
}

// sealChunkRaw seals a v2 chunk's padded plaintext under a given nonce,
// for vectors that no sealer makes.
func sealChunkRaw(fileKey []byte, i, count int, padded, nonce []byte) []byte {
	key, _ := chunkKey(fileKey, i)
	aead, _ := chacha20poly1305.NewX(key)
	return aead.Seal(append([]byte{chunkV2}, nonce...), nonce, padded, chunkAD(chunkV2, i, count))
}

// TestChunkVector: a v1 chunk (files shared before v2) still opens.
func TestChunkVector(t *testing.T) {
	key := seed("file-key", 32)
	plain := seed("chunk-content", 100)
	if *update {
		writeVector(t, "chunk.txt", "Chunk 1 of 3 of a file, v1 (client/wire/file.go: no longer made, still opened):\nsealing was deterministic, so the blob is reproduced exactly, and opens to the content.", [][2]string{
			{"file-key", hex.EncodeToString(key)}, {"index", "01"}, {"count", "03"},
			{"path", hex.EncodeToString([]byte(ChunkPath(key, 1)))},
			{"content", hex.EncodeToString(plain)},
			{"blob", hex.EncodeToString(sealChunkV1(key, 1, 3, plain))},
		})
	}
	v := readVector(t, "chunk.txt", "file-key", "index", "count", "path", "content", "blob")
	if ChunkPath(v["file-key"], 1) != string(v["path"]) || !bytes.Equal(sealChunkV1(v["file-key"], 1, 3, v["content"]), v["blob"]) {
		t.Fatal("chunk path or v1 sealing changed")
	}
	if got, err := OpenChunk(v["file-key"], 1, 3, v["blob"]); err != nil || !bytes.Equal(got, v["content"]) {
		t.Fatalf("the recorded v1 chunk no longer opens: %v", err)
	}
}

// TestChunkV2Vector: v2 chunks are reproduced byte for byte (the nonce is
// the content's), padded to their bucket, and open to their content; the
// recorded bad chunks are refused with their errors.
func TestChunkV2Vector(t *testing.T) {
	key := seed("file-key", 32)
	small, mid := seed("chunk-content", 100), seed("chunk-content", 2000)
	keys := []string{"file-key", "count", "path-1", "content-1", "blob-1", "path-2", "content-2", "blob-2",
		"bad-truncated", "bad-version", "bad-padding", "bad-nonce", "bad-length"}
	if *update {
		good := SealChunk(key, 1, 3, small)
		_, nk := chunkKey(key, 1)
		pad := func(n int, fill byte, size int) []byte {
			p := make([]byte, size-chunkHead)
			binary.BigEndian.PutUint32(p, uint32(n))
			copy(p[4:], small)
			p[len(p)-1] = fill
			return p
		}
		badPad := pad(len(small), 1, 1024)
		badLen := pad(1021, 0, 1024)
		writeVector(t, "chunk2.txt", "Chunks 1 and 2 of 3 of a file, v2 (client/wire/file.go), of 100 and 2000 bytes: each\n"+
			"reproduced exactly, 1 KiB and 4 KiB long, and opens to its content. Refused: bad-truncated\n"+
			"(no bucket size), bad-version (a byte 3), bad-padding (fill not zero), bad-nonce (a nonce that\n"+
			"is not the content's), bad-length (a length past the blob): ErrMalformed, as chunk 1; and\n"+
			"blob-1 opened as chunk 2 or with one bit flipped: ErrForged.", [][2]string{
			{"file-key", hex.EncodeToString(key)}, {"count", "03"},
			{"path-1", hex.EncodeToString([]byte(ChunkPath(key, 1)))}, {"content-1", hex.EncodeToString(small)}, {"blob-1", hex.EncodeToString(good)},
			{"path-2", hex.EncodeToString([]byte(ChunkPath(key, 2)))}, {"content-2", hex.EncodeToString(mid)}, {"blob-2", hex.EncodeToString(SealChunk(key, 2, 3, mid))},
			{"bad-truncated", hex.EncodeToString(good[:1000])},
			{"bad-version", hex.EncodeToString(append([]byte{3}, good[1:]...))},
			{"bad-padding", hex.EncodeToString(sealChunkRaw(key, 1, 3, badPad, chunkNonce(nk, 3, badPad)))},
			{"bad-nonce", hex.EncodeToString(sealChunkRaw(key, 1, 3, pad(len(small), 0, 1024), seed("not-the-nonce", 24)))},
			{"bad-length", hex.EncodeToString(sealChunkRaw(key, 1, 3, badLen, chunkNonce(nk, 3, badLen)))},
		})
	}
	v := readVector(t, "chunk2.txt", keys...)
	k := v["file-key"]
	for _, i := range []string{"1", "2"} {
		n := int(i[0] - '0')
		blob := v["blob-"+i]
		if ChunkPath(k, n) != string(v["path-"+i]) || !bytes.Equal(SealChunk(k, n, 3, v["content-"+i]), blob) {
			t.Fatalf("chunk %s: path or sealing changed", i)
		}
		if got, err := OpenChunk(k, n, 3, blob); err != nil || !bytes.Equal(got, v["content-"+i]) {
			t.Fatalf("the recorded chunk %s no longer opens: %v", i, err)
		}
	}
	if len(v["blob-1"]) != 1024 || len(v["blob-2"]) != 4096 {
		t.Fatalf("chunks of %d and %d bytes, not padded to 1 and 4 KiB", len(v["blob-1"]), len(v["blob-2"]))
	}
	flipped := bytes.Clone(v["blob-1"])
	flipped[40] ^= 1
	for _, tc := range []struct {
		name  string
		index int
		blob  []byte
		want  error
	}{
		{"blob-1 as chunk 2", 2, v["blob-1"], ErrForged},
		{"blob-1 flipped", 1, flipped, ErrForged},
		{"bad-truncated", 1, v["bad-truncated"], ErrMalformed},
		{"bad-version", 1, v["bad-version"], ErrMalformed},
		{"bad-padding", 1, v["bad-padding"], ErrMalformed},
		{"bad-nonce", 1, v["bad-nonce"], ErrMalformed},
		{"bad-length", 1, v["bad-length"], ErrMalformed},
	} {
		if _, err := OpenChunk(k, tc.index, 3, tc.blob); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestIndexAndReceiptVector(t *testing.T) {
	keys := ConversationKeys([32]byte(seed("mutual", 32)), "alice", "bob")
	ipath, rpath := IndexPath(keys.SendKey), ReceiptPath(keys.RecvKey)
	if *update {
		writeVector(t, "index.txt", "alice's index of her messages to bob (10 on this hub, 2 and 7 deleted) and bob's\nreceipt of alice's messages (5 fetched, 3 seen), under the conversation's header key.", [][2]string{
			{"mutual-key", hex.EncodeToString(seed("mutual", 32))},
			{"index-path", hex.EncodeToString([]byte(ipath))},
			{"index", hex.EncodeToString(SealIndex(keys.Header, ipath, Index{Count: 10, Deleted: []uint64{2, 7}}))},
			{"receipt-path", hex.EncodeToString([]byte(rpath))},
			{"receipt", hex.EncodeToString(SealReceipt(keys.Header, rpath, Receipt{Delivered: 5, Read: 3}))},
		})
	}
	v := readVector(t, "index.txt", "mutual-key", "index-path", "index", "receipt-path", "receipt")
	bk := ConversationKeys([32]byte(v["mutual-key"]), "bob", "alice")
	if IndexPath(bk.RecvKey) != string(v["index-path"]) || ReceiptPath(bk.SendKey) != string(v["receipt-path"]) {
		t.Fatal("index or receipt path derivation changed")
	}
	x, err := OpenIndex(bk.Header, string(v["index-path"]), v["index"])
	if err != nil || x.Count != 10 || len(x.Deleted) != 2 || !x.IsDeleted(7) {
		t.Fatalf("the recorded index: %+v %v", x, err)
	}
	if r, err := OpenReceipt(bk.Header, string(v["receipt-path"]), v["receipt"]); err != nil || !reflect.DeepEqual(r, Receipt{Delivered: 5, Read: 3}) {
		t.Fatalf("the recorded receipt: %+v %v", r, err)
	}
}

// TestIndexVector: an index of the second format (with expiring
// messages), and that one of the first format still opens.
func TestIndexVector(t *testing.T) {
	keys := ConversationKeys([32]byte(seed("mutual", 32)), "alice", "bob")
	ipath := IndexPath(keys.SendKey)
	want := Index{Count: 10, Deleted: []uint64{2, 7}, Expiring: []Expiry{{Seq: 8, At: time.Unix(1800000000, 0)}, {Seq: 9, At: time.Unix(1800000060, 0)}}}
	if *update {
		writeVector(t, "index-v2.txt", "alice's index of her messages to bob (10 on this hub, 2 and 7 deleted, 8 and 9 written with\nhub expiries 1800000000 and 1800000060) under the conversation's header key, in the second\nformat; bad-* do not open (wire.ErrMalformed).", [][2]string{
			{"mutual-key", hex.EncodeToString(seed("mutual", 32))},
			{"index-path", hex.EncodeToString([]byte(ipath))},
			{"index", hex.EncodeToString(SealIndex(keys.Header, ipath, want))},
			{"bad-deleted-and-expiring", hex.EncodeToString(SealIndex(keys.Header, ipath, Index{Count: 10, Deleted: []uint64{8}, Expiring: want.Expiring}))},
			{"bad-trailing", hex.EncodeToString(sealSmall(keys.Header, indexVersion, ipath, append(indexPlain(want), 0)))},
		})
	}
	v := readVector(t, "index-v2.txt", "mutual-key", "index-path", "index", "bad-deleted-and-expiring", "bad-trailing")
	bk := ConversationKeys([32]byte(v["mutual-key"]), "bob", "alice")
	x, err := OpenIndex(bk.Header, string(v["index-path"]), v["index"])
	if err != nil || !reflect.DeepEqual(x, &want) {
		t.Fatalf("the recorded index: %+v %v", x, err)
	}
	for _, k := range []string{"bad-deleted-and-expiring", "bad-trailing"} {
		if _, err := OpenIndex(bk.Header, string(v["index-path"]), v[k]); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", k, err)
		}
	}
}

func TestGroupMessageVector(t *testing.T) {
	senderKey := seed("sender-key", 32)
	signer := ed25519.NewKeyFromSeed(seed("member-signing", 32))
	group := hex.EncodeToString(seed("group-id", 16))
	event := []byte(`{"v":1,"k":"text","t":1800000000000,"text":"hello group"}`)
	if *update {
		ck := GroupChainStart(senderKey)
		ck, _ = GroupChainStep(ck) // message 0
		_, mk := GroupChainStep(ck)
		path := GroupPath(senderKey, 1)
		blob, err := SealGroupMessage(mk, signer, group, 3, 1, path, event)
		if err != nil {
			t.Fatal(err)
		}
		writeVector(t, "group.txt", "Message 1 of a member in epoch 3 of a group (client/wire/group.go): the member's\nsender key, its signing key seed, the path, the event and the blob.", [][2]string{
			{"sender-key", hex.EncodeToString(senderKey)}, {"signing-seed", hex.EncodeToString(seed("member-signing", 32))},
			{"group", hex.EncodeToString([]byte(group))}, {"path", hex.EncodeToString([]byte(path))},
			{"event", hex.EncodeToString(event)}, {"blob", hex.EncodeToString(blob)},
		})
	}
	v := readVector(t, "group.txt", "sender-key", "signing-seed", "group", "path", "event", "blob")
	if GroupPath(v["sender-key"], 1) != string(v["path"]) {
		t.Fatal("group path derivation changed")
	}
	ck := GroupChainStart(v["sender-key"])
	ck, _ = GroupChainStep(ck)
	_, mk := GroupChainStep(ck)
	pub := ed25519.NewKeyFromSeed(v["signing-seed"]).Public().(ed25519.PublicKey)
	got, err := OpenGroupMessage(mk, pub, string(v["group"]), 3, 1, string(v["path"]), v["blob"])
	if err != nil || !bytes.Equal(got, v["event"]) {
		t.Fatalf("the recorded group message no longer opens: %q %v", got, err)
	}
	if _, err := OpenGroupMessage(mk, pub, string(v["group"]), 4, 1, string(v["path"]), v["blob"]); !errors.Is(err, ErrForged) {
		t.Fatalf("the message as another epoch's: %v, want ErrForged (its signature covers the epoch)", err)
	}
}

// TestLinkVector: a group link's introduction path and its conversation
// key and paths, from a recorded pair secret and mutual key.
func TestLinkVector(t *testing.T) {
	pair, mutual := [32]byte(seed("pair", 32)), [32]byte(seed("mutual", 32))
	keys := []string{"pair-secret", "mutual-key", "intro-path-alice-to-bob", "link-key", "message-0-path-alice-to-bob"}
	if *update {
		lk := LinkKey(mutual)
		writeVector(t, "link.txt", "A group link between alice and bob (protocol.md, Group links): where alice's\nintroduction lives, the key the link runs on, and where alice's message 0 on it lives.", [][2]string{
			{"pair-secret", hex.EncodeToString(pair[:])},
			{"mutual-key", hex.EncodeToString(mutual[:])},
			{"intro-path-alice-to-bob", hex.EncodeToString([]byte(LinkIntroPath(pair, "alice", "bob")))},
			{"link-key", hex.EncodeToString(lk[:])},
			{"message-0-path-alice-to-bob", hex.EncodeToString([]byte(MessagePath(ConversationKeys(lk, "alice", "bob").SendKey, 0)))},
		})
	}
	v := readVector(t, "link.txt", keys...)
	lk := LinkKey([32]byte(v["mutual-key"]))
	if LinkIntroPath([32]byte(v["pair-secret"]), "alice", "bob") != string(v["intro-path-alice-to-bob"]) {
		t.Error("the link introduction path changed")
	}
	if !bytes.Equal(lk[:], v["link-key"]) {
		t.Error("LinkKey changed")
	}
	if MessagePath(ConversationKeys(lk, "bob", "alice").RecvKey, 0) != string(v["message-0-path-alice-to-bob"]) {
		t.Error("a link's message paths changed")
	}
}
