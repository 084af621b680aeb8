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
