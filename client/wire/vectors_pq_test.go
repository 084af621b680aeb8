package wire

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/client/ratchet"
)

// fixedRandom hands out recorded random inputs in order, to a ratchet (its
// X25519 keys, ML-KEM seeds and encapsulations) and to SealMessage (the
// header nonce). Each read must ask for exactly the next input's length.
type fixedRandom struct {
	inputs [][]byte
	flipCT bool // alter the next ciphertext (for the bad-ciphertext vector)
}

func (r *fixedRandom) push(in ...[]byte) { r.inputs = append(r.inputs, in...) }

func (r *fixedRandom) Read(p []byte) (int, error) {
	if len(r.inputs) == 0 || len(r.inputs[0]) != len(p) {
		return 0, fmt.Errorf("a read of %d bytes, next input %d", len(p), len(r.inputs))
	}
	copy(p, r.inputs[0])
	r.inputs = r.inputs[1:]
	return len(p), nil
}

func (r *fixedRandom) Encapsulate(ek *mlkem.EncapsulationKey768) (ss, ct []byte) {
	m := make([]byte, 32)
	if _, err := r.Read(m); err != nil {
		panic(err)
	}
	ss, ct, err := mlkemtest.Encapsulate768(ek, m)
	if err != nil {
		panic(err)
	}
	if r.flipCT {
		ct[100] ^= 1
		r.flipCT = false
	}
	return ss, ct
}

// pqParty is one side of the vector conversation.
type pqParty struct {
	name  string
	r     *ratchet.State
	rand  *fixedRandom
	keys  Keys
	sent  uint64
	recvd uint64
}

// pqWorld is the recorded conversation: seal and open in order, with the
// random inputs taken from get (a seed when recording, the file when
// checking).
type pqWorld struct {
	t          *testing.T
	alice, bob *pqParty
	kv         [][2]string
	get        func(key string, n int) []byte
}

func newPQWorld(t *testing.T, mutual, bobPriv []byte, get func(string, int) []byte) *pqWorld {
	bk, err := ecdh.X25519().NewPrivateKey(bobPriv)
	if err != nil {
		t.Fatal(err)
	}
	k := [32]byte(mutual)
	ra, rb := &fixedRandom{}, &fixedRandom{}
	return &pqWorld{t: t, get: get,
		alice: &pqParty{name: "alice", r: ratchet.InitAlice(k, bk.PublicKey(), ra), rand: ra, keys: ConversationKeys(k, "alice", "bob")},
		bob:   &pqParty{name: "bob", r: ratchet.InitBob(k, bk, rb), rand: rb, keys: ConversationKeys(k, "bob", "alice")},
		kv:    [][2]string{{"mutual-key", hex.EncodeToString(mutual)}, {"bob-ratchet-private", hex.EncodeToString(bobPriv)}}}
}

func (w *pqWorld) add(key string, b []byte) {
	w.kv = append(w.kv, [2]string{key, hex.EncodeToString(b)})
}

// seal seals message label from one side with the inputs the ratchet
// says it will draw, and records them.
func (w *pqWorld) seal(label string, from, to *pqParty, text string) (blob []byte, path string) {
	t := w.t
	t.Helper()
	w.add(label+"-from", []byte(from.name))
	w.add(label+"-text", []byte(text))
	if n := from.r.Overhead(); n > 0 {
		for _, in := range []struct {
			key string
			n   int
		}{{"x25519", 32}, {"mlkem-seed", 64}, {"encaps", 32}} {
			if in.key == "encaps" && n != ratchet.EKLen+ratchet.CTLen {
				continue
			}
			b := w.get(label+"-"+in.key, in.n)
			w.add(label+"-"+in.key, b)
			from.rand.push(b)
		}
	}
	nonce := w.get(label+"-nonce", 24)
	w.add(label+"-nonce", nonce)
	from.rand.push(nonce)
	path = MessagePath(from.keys.SendKey, from.sent)
	blob, err := SealMessage(from.r, from.keys.Header, []byte(text), []byte(path), from.rand)
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	if len(from.rand.inputs) != 0 {
		t.Fatalf("%s: %d random inputs not drawn", label, len(from.rand.inputs))
	}
	from.sent++
	h := w.header(to, blob, path)
	w.add(label+"-flags", []byte{h.Flags})
	w.add(label+"-blob", blob)
	return blob, path
}

// header opens a blob's header with the header key.
func (w *pqWorld) header(p *pqParty, blob []byte, path string) ratchet.Header {
	aead, _ := chacha20poly1305.NewX(p.keys.Header[:])
	hb, err := aead.Open(nil, blob[1:25], blob[25:blobHead(blob[0])], []byte(path))
	if err != nil {
		w.t.Fatal(err)
	}
	h, err := ratchet.ParseHeader(hb)
	if err != nil {
		w.t.Fatal(err)
	}
	return h
}

func (w *pqWorld) open(label string, p *pqParty, blob []byte, path, want string) {
	w.t.Helper()
	got, err := OpenMessage(p.r, p.keys.Header, blob, []byte(path))
	if err != nil || string(got) != want {
		w.t.Fatalf("%s: %q %v", label, got, err)
	}
	p.recvd++
}

// reseal replaces a blob's header (sealed again under the header key) and
// version byte, keeping its body: for headers no sender makes.
func reseal(headerKey [32]byte, blob []byte, version byte, header []byte, path string) []byte {
	aead, _ := chacha20poly1305.NewX(headerKey[:])
	out := append([]byte{version}, blob[1:25]...)
	out = aead.Seal(out, blob[1:25], header, []byte(path))
	out = append(out, blob[blobHead(blob[0]):]...)
	return append(out, make([]byte, len(blob))...)[:len(blob)]
}

// pqScript is the vector conversation: a burst, both ways, a long
// message, every first message of a chain with its KEM fields.
var pqScript = []struct{ from, text string }{
	{"a", "a0: the first message, with alice's encapsulation key"},
	{"a", "a1: same chain, nothing post-quantum"},
	{"b", "b0: bob's key and a ciphertext to alice's"},
	{"a", "a2: alice's chain mixes the secret of b0's ciphertext"},
	{"a", "a3"},
	{"b", "b1: a post-quantum step each way from here"},
	{"b", string(bytes.Repeat([]byte("b2: a long one. "), 150))},
	{"a", "a4"},
	{"b", "b3"},
}

// TestPQBlobVector replays a recorded conversation through post-quantum
// ratchet steps: with the random inputs the file gives, each blob is sealed
// again byte for byte and opens to its text. Then blobs that must be
// refused in place of the next message, each with its error, after which
// the next message still opens; and a ciphertext altered in a first
// message, which its receiver opens and whose answer the sender refuses.
func TestPQBlobVector(t *testing.T) {
	w := gen(t, func(key string, n int) []byte { return seed(key, n) }, nil)
	if *update {
		writeVector(t, "blob-pq.txt", "A conversation between alice (the requester) and bob through post-quantum ratchet steps\n"+
			"(docs/protocol.md, Double Ratchet and Messages): version 2 blobs. Message N's keys: N-from,\n"+
			"N-text, the sender's random inputs in the order drawn (N-x25519, N-mlkem-seed and N-encaps\n"+
			"when the message begins a chain, the last when it carries a ciphertext; then N-nonce), the\n"+
			"header's flags and the blob. Message N is at MessagePath(sender's path key, its number in\n"+
			"the sender's stream). bad-*: refused by bob in place of a5 (errors in vectors_pq_test.go).\n"+
			"badct-*: a new conversation (same keys) whose message 2 has its KEM ciphertext altered by\n"+
			"someone with the chain keys: bob opens it, alice refuses bob's answer badct-3.", w.kv)
	}
	keys := make([]string, len(w.kv))
	for i, p := range w.kv {
		keys[i] = p[0]
	}
	v := readVector(t, "blob-pq.txt", keys...)
	replay := gen(t, func(key string, n int) []byte {
		if len(v[key]) != n {
			t.Fatalf("%s: %d bytes, want %d", key, len(v[key]), n)
		}
		return v[key]
	}, v)
	for i, p := range replay.kv {
		if recorded := hex.EncodeToString(v[p[0]]); recorded != p[1] {
			t.Fatalf("%s (entry %d) differs from the recording:\n made     %.80s\n recorded %.80s", p[0], i, p[1], recorded)
		}
	}
}

// gen runs the vector conversation, checking each step, and returns it;
// recorded (when checking a recording) holds the blobs it must make.
func gen(t *testing.T, get func(string, int) []byte, recorded map[string][]byte) *pqWorld {
	w := newPQWorld(t, get("mutual-key", 32), get("bob-ratchet-private", 32), get)
	var sizes []int
	for i, m := range pqScript {
		from, to := w.alice, w.bob
		if m.from == "b" {
			from, to = w.bob, w.alice
		}
		label := fmt.Sprint(i)
		blob, path := w.seal(label, from, to, m.text)
		w.open(label, to, blob, path, m.text)
		sizes = append(sizes, len(blob))
	}
	// A chain's first message carries 1184 or 2272 bytes of KEM fields: 4
	// KiB for a short text; the others stay 1 KiB.
	if fmt.Sprint(sizes) != "[4096 1024 4096 4096 1024 4096 4096 4096 4096]" {
		t.Fatalf("blob sizes %v", sizes)
	}
	// The next message, a5, and what is refused in its place.
	next, path := w.seal("a5", w.alice, w.bob, "a5: opens after the refusals")
	hb := w.header(w.bob, next, path).Marshal()
	hk := w.bob.keys.Header
	bad := []struct {
		key  string
		blob []byte
		want error
	}{
		{"bad-version", append([]byte{3}, next[1:]...), ErrMalformed},
		{"bad-truncated", next[:len(next)-1], ErrMalformed},
		{"bad-header-version", reseal(hk, next, blobV2, append([]byte{3}, hb[1:]...), path), ratchet.ErrVersion},
		{"bad-header-flags", reseal(hk, next, blobV2, append(bytes.Clone(hb[:ratchet.HeaderLen-1]), hb[ratchet.HeaderLen-1]|0x40), path), ratchet.ErrMalformed},
		{"bad-header-truncated", reseal(hk, next, blobV2, hb[:ratchet.HeaderLen-1], path), ratchet.ErrAuth},
		{"bad-header-v1", reseal(hk, next, blobV1, hb[1:ratchet.HeaderLen-1], path), ratchet.ErrVersion},
		{"bad-body", func() []byte { b := bytes.Clone(next); b[200] ^= 1; return b }(), ratchet.ErrAuth},
	}
	for _, b := range bad {
		if recorded != nil && !bytes.Equal(recorded[b.key], b.blob) {
			t.Fatalf("%s: made differently from the recording", b.key)
		}
		w.add(b.key, b.blob)
		if _, err := OpenMessage(w.bob.r, hk, b.blob, []byte(path)); !errors.Is(err, b.want) {
			t.Errorf("%s: %v, want %v", b.key, err, b.want)
		}
	}
	w.open("a5", w.bob, next, path, "a5: opens after the refusals")

	// A ciphertext altered in a first message.
	c := newPQWorld(t, get("mutual-key", 32), get("bob-ratchet-private", 32), get)
	b0, p0 := c.seal("badct-0", c.alice, c.bob, "badct-0")
	c.open("badct-0", c.bob, b0, p0, "badct-0")
	b1, p1 := c.seal("badct-1", c.bob, c.alice, "badct-1")
	c.open("badct-1", c.alice, b1, p1, "badct-1")
	c.alice.rand.flipCT = true
	b2, p2 := c.seal("badct-2", c.alice, c.bob, "badct-2: its ciphertext altered")
	c.open("badct-2", c.bob, b2, p2, "badct-2: its ciphertext altered")
	b3, p3 := c.seal("badct-3", c.bob, c.alice, "badct-3: keyed with another secret")
	if _, err := OpenMessage(c.alice.r, c.alice.keys.Header, b3, []byte(p3)); !errors.Is(err, ratchet.ErrAuth) {
		t.Errorf("badct-3: %v, want ratchet.ErrAuth", err)
	}
	w.kv = append(w.kv, c.kv[2:]...)
	return w
}

// TestV1StateVector: ratchet states saved by the previous client (state
// version 1) and its version 1 blobs still in flight open after the
// upgrade; the conversation then carries on in version 2 blobs and takes
// post-quantum steps both ways.
func TestV1StateVector(t *testing.T) {
	v := readVector(t, "blob-v1-state.txt", "mutual-key", "alice-state", "bob-state", "a1", "a1-text", "a3", "a3-text", "b1", "b1-text")
	if v["alice-state"][0] != 1 || v["bob-state"][0] != 1 || v["a1"][0] != blobV1 {
		t.Fatal("the recording is not of version 1")
	}
	k := [32]byte(v["mutual-key"])
	ra, err := ratchet.UnmarshalState(v["alice-state"])
	if err != nil {
		t.Fatalf("alice's saved state: %v", err)
	}
	rb, err := ratchet.UnmarshalState(v["bob-state"])
	if err != nil {
		t.Fatalf("bob's saved state: %v", err)
	}
	a := &pqParty{name: "alice", r: ra, keys: ConversationKeys(k, "alice", "bob"), sent: 4, recvd: 1}
	b := &pqParty{name: "bob", r: rb, keys: ConversationKeys(k, "bob", "alice"), sent: 2, recvd: 3}
	w := &pqWorld{t: t, alice: a, bob: b}
	w.open("a1", b, v["a1"], MessagePath(b.keys.RecvKey, 1), string(v["a1-text"])) // a skipped key kept in the saved state
	w.open("a3", b, v["a3"], MessagePath(b.keys.RecvKey, 3), string(v["a3-text"])) // a new DH step, version 1
	w.open("b1", a, v["b1"], MessagePath(a.keys.RecvKey, 1), string(v["b1-text"]))
	var flags []string
	for i := 0; i < 4; i++ {
		for _, d := range [][2]*pqParty{{b, a}, {a, b}} {
			from, to := d[0], d[1]
			path := MessagePath(from.keys.SendKey, from.sent)
			blob, err := SealMessage(from.r, from.keys.Header, []byte("after the upgrade"), []byte(path), nil)
			if err != nil {
				t.Fatal(err)
			}
			from.sent++
			if blob[0] != blobV2 {
				t.Fatalf("a version %d blob after the upgrade", blob[0])
			}
			flags = append(flags, fmt.Sprintf("%s:%#x", from.name, w.header(to, blob, path).Flags))
			w.open("after", to, blob, path, "after the upgrade")
		}
	}
	// a3 (a version 1 first message: no KEM fields) began bob's
	// receiving step, so bob's next chain sends his key only; alice
	// answers with a ciphertext to it, and from then on every chain is a
	// post-quantum step.
	want := "[bob:0x2 alice:0x6 bob:0x7 alice:0x7 bob:0x7 alice:0x7 bob:0x7 alice:0x7]"
	if fmt.Sprint(flags) != want {
		t.Fatalf("headers after the upgrade %v, want %s", flags, want)
	}
	if !a.r.PostQuantum() || !b.r.PostQuantum() {
		t.Fatal("the upgraded conversation takes no post-quantum steps")
	}
}
