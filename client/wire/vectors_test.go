package wire

import (
	"bufio"
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

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

func TestHandshakeVector(t *testing.T) {
	signer, x, h, rec := vectorKeys(t)
	in := Intro{From: "alice", To: "bob", MutualKey: [32]byte(seed("mutual", 32)), Time: time.Unix(1800000000, 0)}
	keys := []string{"sender-signing-seed", "recipient-x25519-seed", "recipient-hybrid-seed", "from", "to", "mutual-key", "unix-time", "envelope"}
	if *update {
		env, err := SealIntro(signer, in, rec)
		if err != nil {
			t.Fatal(err)
		}
		writeVector(t, "handshake.txt", "A handshake envelope from alice to bob (client/wire doc). Keys and seeds are\nderived by seed() in vectors_test.go; values are hex.", [][2]string{
			{"sender-signing-seed", hex.EncodeToString(seed("sender-signing", 32))},
			{"recipient-x25519-seed", hex.EncodeToString(seed("recipient-x25519", 32))},
			{"recipient-hybrid-seed", hex.EncodeToString(seed("recipient-hybrid", 64))},
			{"from", hex.EncodeToString([]byte(in.From))}, {"to", hex.EncodeToString([]byte(in.To))},
			{"mutual-key", hex.EncodeToString(in.MutualKey[:])},
			{"unix-time", fmt.Sprintf("%016x", in.Time.Unix())},
			{"envelope", hex.EncodeToString(env)},
		})
	}
	v := readVector(t, "handshake.txt", keys...)
	sender := &bns.Record{Name: string(v["from"]), Profile: bns.Profile{SigningKey: bns.PublicKeyOf(ed25519.NewKeyFromSeed(v["sender-signing-seed"]))}}
	got, err := OpenIntro(v["envelope"], string(v["to"]), []hpke.PrivateKey{x, h}, func(string) (*bns.Record, error) { return sender, nil })
	if err != nil {
		t.Fatalf("the recorded envelope no longer opens: %v", err)
	}
	if got.From != "alice" || !bytes.Equal(got.MutualKey[:], v["mutual-key"]) || fmt.Sprintf("%016x", got.Time.Unix()) != hex.EncodeToString(v["unix-time"]) {
		t.Fatalf("opened %+v", got)
	}
}

func TestBlobVector(t *testing.T) {
	k := [32]byte(seed("mutual", 32))
	bobKey, err := ecdh.X25519().NewPrivateKey(seed("bob-ratchet", 32))
	if err != nil {
		t.Fatal(err)
	}
	keys := ConversationKeys(k, "alice", "bob")
	path := MessagePath(keys.SendKey, 0)
	text := "the first message of the vector conversation"
	if *update {
		a, err := ratchet.InitAlice(k, bobKey.PublicKey(), nil)
		if err != nil {
			t.Fatal(err)
		}
		blob, err := SealMessage(a, keys.Header, []byte(text), []byte(path), nil)
		if err != nil {
			t.Fatal(err)
		}
		writeVector(t, "blob.txt", "Message 0 from alice to bob: a blob (client/wire doc) and what it must open to,\nwith bob's ratchet started from the mutual key and bob's ratchet private key.", [][2]string{
			{"mutual-key", hex.EncodeToString(k[:])},
			{"bob-ratchet-private", hex.EncodeToString(bobKey.Bytes())},
			{"path", hex.EncodeToString([]byte(path))},
			{"text", hex.EncodeToString([]byte(text))},
			{"blob", hex.EncodeToString(blob)},
		})
	}
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
	if len(v["blob"]) != Buckets[0] {
		t.Fatalf("recorded blob of %d bytes", len(v["blob"]))
	}
}

func TestChunkVector(t *testing.T) {
	key := seed("file-key", 32)
	plain := seed("chunk-content", 100)
	if *update {
		writeVector(t, "chunk.txt", "Chunk 1 of 3 of a file (client/wire/file.go): sealing is deterministic, so the\nblob must be reproduced exactly, and open to the content.", [][2]string{
			{"file-key", hex.EncodeToString(key)}, {"index", "01"}, {"count", "03"},
			{"path", hex.EncodeToString([]byte(ChunkPath(key, 1)))},
			{"content", hex.EncodeToString(plain)},
			{"blob", hex.EncodeToString(SealChunk(key, 1, 3, plain))},
		})
	}
	v := readVector(t, "chunk.txt", "file-key", "index", "count", "path", "content", "blob")
	if ChunkPath(v["file-key"], 1) != string(v["path"]) || !bytes.Equal(SealChunk(v["file-key"], 1, 3, v["content"]), v["blob"]) {
		t.Fatal("chunk path or sealing changed")
	}
	if got, err := OpenChunk(v["file-key"], 1, 3, v["blob"]); err != nil || !bytes.Equal(got, v["content"]) {
		t.Fatalf("the recorded chunk no longer opens: %v", err)
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
	if _, err := OpenGroupMessage(mk, pub, string(v["group"]), 4, 1, string(v["path"]), v["blob"]); err == nil {
		t.Fatal("the message opened as another epoch's")
	}
}
