package speckit

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/client/ratchet"
	"github.com/parley-im/parley/client/wire"
)

// seed is a recorded "random" input: label-0|label-1|… cut to n bytes.
func seed(label string, n int) []byte {
	out := make([]byte, 0, n)
	for i := 0; len(out) < n; i++ {
		out = append(out, fmt.Sprintf("%s-%d|", label, i)...)
	}
	return out[:n]
}

func hx(b []byte) string { return hex.EncodeToString(b) }

// fixedRandom hands out recorded inputs in order to a ratchet and to
// SealMessage; each read must ask for exactly the next one's length.
type fixedRandom struct{ inputs [][]byte }

func (r *fixedRandom) Read(p []byte) (int, error) {
	if len(r.inputs) == 0 || len(r.inputs[0]) != len(p) {
		return 0, fmt.Errorf("a read of %d bytes, next input of %d", len(p), len(r.inputs))
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
	return ss, ct
}

// event is a text event as a client writes it.
func event(text string) []byte {
	b, err := wire.MarshalEvent(&wire.Event{Kind: wire.KindText, Time: 1800000000000, Text: text})
	if err != nil {
		panic(err)
	}
	return b
}

func newVector(name, format, expect string, comments ...string) *Vector {
	v := &Vector{Name: name, Fields: [][2]string{{"format", format}, {"expect", expect}}}
	for _, c := range comments {
		v.add("comment", c)
	}
	return v
}

func (v *Vector) add(k, val string) { v.Fields = append(v.Fields, [2]string{k, val}) }

// sealEnvelope HPKE-seals a handshake plaintext as the spec draws it.
func sealEnvelope(t *testing.T, pk hpke.PublicKey, to string, plaintext []byte) []byte {
	info := binary.BigEndian.AppendUint16([]byte("parley/handshake/v1"), uint16(len(to)))
	info = append(info, to...)
	enc, s, err := hpke.NewSender(pk, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), info)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := s.Seal(nil, plaintext)
	if err != nil {
		t.Fatal(err)
	}
	out := binary.BigEndian.AppendUint16([]byte{1}, pk.KEM().ID())
	out = binary.BigEndian.AppendUint16(out, uint16(len(enc)))
	return append(append(out, enc...), ct...)
}

func str(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...)
}

// handshakeBody is a body of version v (the spec's layout), signed.
func handshakeBody(v byte, from, to string, k []byte, when uint64, greeting string, pad []byte, signer ed25519.PrivateKey, pk []byte) []byte {
	b := str(str([]byte{v}, from), to)
	b = append(b, k...)
	b = binary.BigEndian.AppendUint64(b, when)
	if v != 1 {
		b = append(str(b, greeting), pad...)
	}
	sig := ed25519.Sign(signer, append(append([]byte("parley/handshake/v1"), b...), pk...))
	return append(b, sig...)
}

func genHandshakes(t *testing.T) []*Vector {
	signer := ed25519.NewKeyFromSeed(seed("alice-signing", 32))
	other := ed25519.NewKeyFromSeed(seed("mallory-signing", 32))
	xs, ps := seed("bob-x25519", 32), seed("bob-pq", 64)
	x, err := hpke.DHKEM(ecdh.X25519()).DeriveKeyPair(xs)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hpke.MLKEM768X25519().DeriveKeyPair(ps)
	if err != nil {
		t.Fatal(err)
	}
	k := seed("mutual", 32)
	const when = 1800000000
	greeting := "Hi Bob, it's Alice — from the climbing club."
	pad := make([]byte, 512-len(greeting))
	base := func(name, expect string, comments ...string) *Vector {
		v := newVector(name, "handshake", expect, comments...)
		v.add("to", "bob")
		v.add("to-x25519-seed", hx(xs))
		v.add("to-pq-seed", hx(ps))
		v.add("from-signing-key", hx(signer.Public().(ed25519.PublicKey)))
		return v
	}
	ok := func(v *Vector, g string) *Vector {
		v.add("from", "alice")
		v.add("mutual-key", hx(k))
		v.add("time", strconv.Itoa(when))
		v.add("greeting", hx([]byte(g)))
		return v
	}
	hpk, xpk := h.PublicKey(), x.PublicKey()
	body := handshakeBody(2, "alice", "bob", k, when, greeting, pad, signer, hpk.Bytes())
	good := sealEnvelope(t, hpk, "bob", body)
	var out []*Vector
	v := ok(base("handshake-v2-hybrid", "success", "a version 2 handshake with a greeting, sealed to bob's MLKEM768-X25519 key"), greeting)
	v.Payload = good
	out = append(out, v)
	v = ok(base("handshake-v2-x25519", "success", "sealed to bob's X25519 key, as to a record that publishes no hybrid key; no greeting"), "")
	v.Payload = sealEnvelope(t, xpk, "bob", handshakeBody(2, "alice", "bob", k, when, "", make([]byte, 512), signer, xpk.Bytes()))
	out = append(out, v)
	v = ok(base("handshake-v1-body", "success", "a body of version 1 (no greeting), still opened"), "")
	v.Payload = sealEnvelope(t, hpk, "bob", handshakeBody(1, "alice", "bob", k, when, "", nil, signer, hpk.Bytes()))
	out = append(out, v)
	bad := func(name, expect, comment string, payload []byte) {
		v := base(name, expect, comment)
		v.Payload = payload
		out = append(out, v)
	}
	bad("handshake-envelope-version", "version", "the envelope's version byte is 2", append([]byte{2}, good[1:]...))
	bad("handshake-truncated", "malformed", "cut to 4 bytes", good[:4])
	bad("handshake-enc-length", "malformed", "enc's length runs past the envelope", append(append([]byte{}, good[:3]...), 0xff, 0xff))
	bad("handshake-unknown-kem", "malformed", "KEM 0x0021, of which bob holds no key", append([]byte{1, 0x00, 0x21}, good[3:]...))
	altered := bytes.Clone(good)
	altered[len(altered)-20] ^= 1
	bad("handshake-altered", "mac", "one byte of the HPKE ciphertext flipped", altered)
	cut := good[:len(good)-1]
	bad("handshake-cut-tag", "mac", "the last byte of the HPKE ciphertext cut off", cut)
	bad("handshake-sealed-for-carol", "mac", "the HPKE info names carol: bob, opening with his own name, fails", sealEnvelope(t, hpk, "carol", body))
	bad("handshake-body-version", "version", "the body's version byte is 3", sealEnvelope(t, hpk, "bob", handshakeBody(3, "alice", "bob", k, when, greeting, pad, signer, hpk.Bytes())))
	bad("handshake-padding", "malformed", "the greeting's padding is not all zeros",
		sealEnvelope(t, hpk, "bob", handshakeBody(2, "alice", "bob", k, when, greeting, append(make([]byte, len(pad)-1), 1), signer, hpk.Bytes())))
	bad("handshake-short-padding", "malformed", "the greeting's padding is one byte short",
		sealEnvelope(t, hpk, "bob", handshakeBody(2, "alice", "bob", k, when, greeting, pad[1:], signer, hpk.Bytes())))
	bad("handshake-forged", "signature", "signed by mallory's key, not alice's", sealEnvelope(t, hpk, "bob", handshakeBody(2, "alice", "bob", k, when, greeting, pad, other, hpk.Bytes())))
	bad("handshake-for-carol", "signature", "the body names carol as the recipient, sealed to bob", sealEnvelope(t, hpk, "bob", handshakeBody(2, "alice", "carol", k, when, greeting, pad, signer, hpk.Bytes())))
	bad("handshake-resealed", "signature", "alice signed it for bob's X25519 key; someone re-sealed it to his hybrid key",
		sealEnvelope(t, hpk, "bob", handshakeBody(2, "alice", "bob", k, when, greeting, pad, signer, xpk.Bytes())))
	return out
}

// party is one side of the recorded conversation.
type party struct {
	name string
	r    *ratchet.State
	rand *fixedRandom
	keys wire.Keys
	sent uint64
}

// genMessages records a conversation through post-quantum steps, then
// vectors of its last message, valid and refused.
func genMessages(t *testing.T) []*Vector {
	k := seed("conversation-mutual", 32)
	bobPriv := seed("bob-x25519-private", 32)
	bk, err := ecdh.X25519().NewPrivateKey(bobPriv)
	if err != nil {
		t.Fatal(err)
	}
	ra, rb := &fixedRandom{}, &fixedRandom{}
	alice := &party{name: "alice", r: ratchet.InitAlice([32]byte(k), bk.PublicKey(), ra), rand: ra, keys: wire.ConversationKeys([32]byte(k), "alice", "bob")}
	bob := &party{name: "bob", r: ratchet.InitBob([32]byte(k), bk, rb), rand: rb, keys: wire.ConversationKeys([32]byte(k), "bob", "alice")}
	type sent struct {
		from, to *party
		n        uint64
		ev, blob []byte
		line     string
	}
	var msgs []sent
	send := func(label string, from, to *party, text string) sent {
		var inputs [][]byte
		if n := from.r.Overhead(); n > 0 {
			inputs = append(inputs, seed(label+"-x25519", 32), seed(label+"-mlkem", 64))
			if n == ratchet.EKLen+ratchet.CTLen {
				inputs = append(inputs, seed(label+"-encaps", 32))
			}
		}
		inputs = append(inputs, seed(label+"-nonce", 24))
		from.rand.inputs = inputs
		random := bytes.Join(inputs, nil)
		ev := event(text)
		path := wire.MessagePath(from.keys.SendKey, from.sent)
		blob, err := wire.SealMessage(from.r, from.keys.Header, ev, []byte(path), from.rand)
		if err != nil || len(from.rand.inputs) != 0 {
			t.Fatalf("%s: %v (%d inputs left)", label, err, len(from.rand.inputs))
		}
		got, err := wire.OpenMessage(to.r, to.keys.Header, blob, []byte(path))
		if err != nil || !bytes.Equal(got, ev) {
			t.Fatalf("%s: %v", label, err)
		}
		m := sent{from, to, from.sent, ev, blob, fmt.Sprintf("from=%s n=%d random=%s event=%s blob=%s", from.name, from.sent, hx(random), hx(ev), hx(blob))}
		from.sent++
		msgs = append(msgs, m)
		return m
	}
	a0 := send("a0", alice, bob, "a0: alice's first message, with her encapsulation key")
	send("a1", alice, bob, "a1: the same chain")
	send("b0", bob, alice, "b0: bob's key and a ciphertext to alice's")
	send("a2", alice, bob, "a2: alice mixes nothing yet; she encapsulates to bob's key")
	send("b1", bob, alice, "b1: a post-quantum step: bob mixes the secret of a2's ciphertext")
	prior := append([]sent(nil), msgs...)
	last := send("a3", alice, bob, "a3: a post-quantum step both ways from here")

	base := func(name, expect string, withPrior []sent, comments ...string) *Vector {
		v := newVector(name, "message", expect, comments...)
		v.add("alice", "alice")
		v.add("bob", "bob")
		v.add("mutual-key", hx(k))
		v.add("bob-x25519-private", hx(bobPriv))
		for _, m := range withPrior {
			v.add("message", m.line)
		}
		return v
	}
	var out []*Vector
	v := base("message-first", "success", nil, "alice's first message: it begins her chain and carries her ML-KEM key (flags EK)")
	v.add("open-by", "bob")
	v.add("n", "0")
	v.add("event", hx(a0.ev))
	v.Payload = a0.blob
	out = append(out, v)
	v = base("message-pq-step", "success", prior, "after a0 … b1, alice's a3: a post-quantum step (flags PQ, EK, CT)")
	v.add("open-by", "bob")
	v.add("n", "3")
	v.add("event", hx(last.ev))
	v.Payload = last.blob
	out = append(out, v)
	bad := func(name, expect, comment string, n uint64, payload []byte, withPrior []sent) {
		v := base(name, expect, withPrior, comment)
		v.add("open-by", "bob")
		v.add("n", strconv.FormatUint(n, 10))
		v.Payload = payload
		out = append(out, v)
	}
	flip := func(i int) []byte { b := bytes.Clone(last.blob); b[i] ^= 1; return b }
	bad("message-version", "version", "a3 with its version byte set to 3", 3, append([]byte{3}, last.blob[1:]...), prior)
	bad("message-header-altered", "header", "a3 with a byte of its sealed header flipped", 3, flip(40), prior)
	bad("message-wrong-path", "header", "a3 read at the path of message 4: the header is bound to its path", 4, last.blob, prior)
	bad("message-body-altered", "mac", "a3 with a byte of its ratchet body flipped", 3, flip(200), prior)
	bad("message-mac-altered", "mac", "a3 with the last byte of its ratchet MAC flipped", 3, flip(len(last.blob)-14), prior)
	bad("message-truncated", "malformed", "a3 cut by one byte: no bucket size", 3, last.blob[:len(last.blob)-1], prior)
	bad("message-fill", "malformed", "a3 whose zero fill ends in 01", 3, flip(len(last.blob)-1), prior)
	bad("message-replay", "replay", "a3 again, once bob has read it", 3, last.blob, msgs)
	headerKey := alice.keys.Header
	path := wire.MessagePath(alice.keys.SendKey, 3)
	aead, _ := chacha20poly1305.NewX(headerKey[:])
	hb, err := aead.Open(nil, last.blob[1:25], last.blob[25:83], []byte(path))
	if err != nil {
		t.Fatal(err)
	}
	reseal := func(header []byte) []byte {
		out := aead.Seal(bytes.Clone(last.blob[:25]), last.blob[1:25], header, []byte(path))
		return append(out, last.blob[83:]...)
	}
	h3 := bytes.Clone(hb)
	h3[0] = 3
	bad("message-header-version", "version", "a3 whose sealed header says version 3", 3, reseal(h3), prior)
	hf := bytes.Clone(hb)
	hf[41] |= 0x08
	bad("message-header-flags", "malformed", "a3 whose sealed header has the unknown flag 0x08", 3, reseal(hf), prior)
	return out
}

// sealSmall is the spec's small sealed object (index, receipt, profile).
func sealSmall(key []byte, v byte, path string, plain []byte) []byte {
	aead, _ := chacha20poly1305.NewX(key)
	nonce := seed("small-nonce-"+path, 24)
	return aead.Seal(append([]byte{v}, nonce...), nonce, plain, []byte(path))
}

func u64s(vals ...uint64) []byte {
	var b []byte
	for _, x := range vals {
		b = binary.BigEndian.AppendUint64(b, x)
	}
	return b
}

func genIndexAndReceipts(t *testing.T) []*Vector {
	k := seed("index-mutual", 32)
	keys := wire.ConversationKeys([32]byte(k), "alice", "bob")
	ipath, rpath := wire.IndexPath(keys.SendKey), wire.ReceiptPath(keys.SendKey)
	var out []*Vector
	idx := func(name, expect, comment string, payload []byte, ok bool) {
		v := newVector(name, "index", expect, comment)
		v.add("mutual-key", hx(k))
		v.add("sender", "alice")
		v.add("reader", "bob")
		if ok {
			v.add("count", "10")
			v.add("deleted", "2,7")
			if payload[0] == 3 {
				v.add("expiring", "3@1800000000,8@1800000600")
			}
		}
		v.Payload = payload
		out = append(out, v)
	}
	plain := append(binary.BigEndian.AppendUint32(u64s(10), 2), u64s(2, 7)...)
	plain3 := append(binary.BigEndian.AppendUint32(bytes.Clone(plain), 2), u64s(3, 1800000000, 8, 1800000600)...)
	idx("index", "success", "alice's index of her messages to bob: 10 on this hub, 2 and 7 deleted, 3 and 8 expiring", sealSmall(keys.Header[:], 3, ipath, plain3), true)
	idx("index-v1", "success", "the first format (version 1): no expiring list", sealSmall(keys.Header[:], 1, ipath, plain), true)
	idx("index-version", "version", "version byte 2 (a receipt's)", sealSmall(keys.Header[:], 2, ipath, plain3), false)
	idx("index-expiring-deleted", "malformed", "message 7 both deleted and expiring", sealSmall(keys.Header[:], 3, ipath,
		append(binary.BigEndian.AppendUint32(bytes.Clone(plain), 1), u64s(7, 1800000000)...)), false)
	idx("index-wrong-path", "mac", "sealed for the receipt's path", sealSmall(keys.Header[:], 1, rpath, plain), false)
	alt := sealSmall(keys.Header[:], 1, ipath, plain)
	alt[30] ^= 1
	idx("index-altered", "mac", "a byte of the ciphertext flipped", alt, false)
	idx("index-unsorted", "malformed", "deleted 7 then 2", sealSmall(keys.Header[:], 1, ipath, append(binary.BigEndian.AppendUint32(u64s(10), 2), u64s(7, 2)...)), false)
	idx("index-past-count", "malformed", "deleted 10 of a count of 10", sealSmall(keys.Header[:], 1, ipath, append(binary.BigEndian.AppendUint32(u64s(10), 1), u64s(10)...)), false)
	idx("index-trailing", "malformed", "a byte after the list", sealSmall(keys.Header[:], 1, ipath, append(bytes.Clone(plain), 0)), false)
	idx("index-truncated", "malformed", "40 bytes: shorter than version, nonce and tag", sealSmall(keys.Header[:], 1, ipath, plain)[:40], false)
	rec := func(name, expect, comment string, payload []byte, ok bool) {
		v := newVector(name, "receipt", expect, comment)
		v.add("mutual-key", hx(k))
		v.add("sender", "alice")
		v.add("reader", "bob")
		if ok {
			v.add("delivered", "9")
			v.add("read", "5")
			v.add("skipped", "1-3,6-7")
		}
		v.Payload = payload
		out = append(out, v)
	}
	rp := u64s(9, 5, 1, 3, 6, 7)
	rec("receipt", "success", "bob's receipt of alice's messages: 9 fetched, 5 seen, [1,3) and [6,7) never shown", sealSmall(keys.Header[:], 2, rpath, rp), true)
	rec("receipt-version", "version", "version 1 (retired)", sealSmall(keys.Header[:], 1, rpath, rp), false)
	rec("receipt-wrong-path", "mac", "sealed for the index's path", sealSmall(keys.Header[:], 2, ipath, rp), false)
	rec("receipt-read-beyond", "malformed", "read 6 of 5 delivered", sealSmall(keys.Header[:], 2, rpath, u64s(5, 6)), false)
	rec("receipt-overlap", "malformed", "runs [1,4) and [3,5) overlap", sealSmall(keys.Header[:], 2, rpath, u64s(9, 5, 1, 4, 3, 5)), false)
	rec("receipt-length", "malformed", "an 8-byte run", sealSmall(keys.Header[:], 2, rpath, append(u64s(9, 5), u64s(1)...)), false)
	return out
}

func genGroups(t *testing.T) []*Vector {
	s := seed("sender-key", 32)
	signer := ed25519.NewKeyFromSeed(seed("member-signing", 32))
	other := ed25519.NewKeyFromSeed(seed("mallory-signing", 32))
	const id, epoch, from, i = "0123456789abcdef0123456789abcdef", 3, 5, 7
	ck := wire.GroupChainStart(s)
	var mk [32]byte
	for j := from; j <= i; j++ {
		ck, mk = wire.GroupChainStep(ck)
	}
	ev := event("hello group")
	path := wire.GroupPath(s, i)
	ad := str(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(str([]byte("parley/group/v1"), id), epoch), i), path)
	seal := func(plain []byte, by ed25519.PrivateKey, key [32]byte) []byte {
		aead, _ := chacha20poly1305.NewX(key[:])
		nonce := seed("group-nonce", 24)
		b := aead.Seal(append([]byte{1}, nonce...), nonce, plain, ad)
		return append(b, ed25519.Sign(by, append(bytes.Clone(ad), b[1:]...))...)
	}
	padded := func(size int, fill byte) []byte {
		p := make([]byte, size-1-24-16-64)
		binary.BigEndian.PutUint32(p, uint32(len(ev)))
		copy(p[4:], ev)
		p[len(p)-1] = fill
		return p
	}
	good := seal(padded(1024, 0), signer, mk)
	var out []*Vector
	add := func(name, expect, comment string, payload []byte, ok bool) {
		v := newVector(name, "group", expect, comment)
		v.add("group", id)
		v.add("epoch", strconv.Itoa(epoch))
		v.add("from", strconv.Itoa(from))
		v.add("i", strconv.Itoa(i))
		v.add("sender-key", hx(s))
		v.add("sign-key", hx(signer.Public().(ed25519.PublicKey)))
		if ok {
			v.add("event", hx(ev))
		}
		v.Payload = payload
		out = append(out, v)
	}
	add("group", "success", "a member's message 7, the third under its sender key of epoch 3 (from = 5)", good, true)
	add("group-version", "version", "version byte 2", append([]byte{2}, good[1:]...), false)
	add("group-truncated", "malformed", "cut by one byte", good[:len(good)-1], false)
	add("group-forged", "signature", "signed by mallory's key", seal(padded(1024, 0), other, mk), false)
	sig := bytes.Clone(good)
	sig[len(sig)-1] ^= 1
	add("group-signature-altered", "signature", "a byte of the signature flipped", sig, false)
	var wrong [32]byte
	copy(wrong[:], seed("another-key", 32))
	add("group-wrong-key", "mac", "sealed under another message key, then signed by the member", seal(padded(1024, 0), signer, wrong), false)
	add("group-fill", "malformed", "the padding after the event is not zero (signed and sealed so)", seal(padded(1024, 1), signer, mk), false)
	add("group-not-smallest", "malformed", "a short event in a 4096-byte blob", seal(padded(4096, 0), signer, mk), false)
	if _, err := wire.OpenGroupMessage(mk, signer.Public().(ed25519.PublicKey), id, epoch, i, path, good); err != nil {
		t.Fatal(err)
	}
	return out
}

func genChunks(t *testing.T) []*Vector {
	f := seed("file-key", 32)
	content := []byte("the quarterly report, in a few bytes")
	var out []*Vector
	add := func(name, expect, comment string, i, count int, payload []byte, ok []byte) {
		v := newVector(name, "chunk", expect, comment)
		v.add("file-key", hx(f))
		v.add("i", strconv.Itoa(i))
		v.add("count", strconv.Itoa(count))
		if ok != nil {
			v.add("content", hx(ok))
		}
		v.Payload = payload
		out = append(out, v)
	}
	good := wire.SealChunk(f, 1, 3, content)
	add("chunk", "success", "chunk 1 of 3 of a file, its last bytes: a 1024-byte chunk", 1, 3, good, content)
	big := bytes.Repeat([]byte("0123456789"), 500)
	add("chunk-4k", "success", "chunk 2 of 3: 5000 bytes in a 16384-byte chunk", 2, 3, wire.SealChunk(f, 2, 3, big), big)
	add("chunk-version", "version", "version byte 3", 1, 3, append([]byte{3}, good[1:]...), nil)
	add("chunk-truncated", "malformed", "cut by one byte", 1, 3, good[:len(good)-1], nil)
	alt := bytes.Clone(good)
	alt[50] ^= 1
	add("chunk-altered", "mac", "a ciphertext byte flipped", 1, 3, alt, nil)
	add("chunk-swapped", "mac", "chunk 1 read as chunk 0", 0, 3, good, nil)
	add("chunk-count", "mac", "chunk 1 of 3 read as chunk 1 of 4", 1, 4, good, nil)
	// Made by hand, as a sealer that breaks the rules would.
	raw := func(size int, nonce []byte) []byte {
		padded := make([]byte, size-41)
		binary.BigEndian.PutUint32(padded, uint32(len(content)))
		copy(padded[4:], content)
		info := binary.BigEndian.AppendUint64([]byte("parley/chunk-key/v2"), 1)
		kk := hkdf64(f, string(info))
		if nonce == nil {
			m := hmacSHA256(kk[32:], append(u64s(3), padded...))
			nonce = m[:24]
		}
		aead, _ := chacha20poly1305.NewX(kk[:32])
		return aead.Seal(append([]byte{2}, nonce...), nonce, padded, append([]byte("parley/chunk/v2"), u64s(1, 3)...))
	}
	if !bytes.Equal(raw(1024, nil), good) {
		t.Fatal("the chunk made by hand is not SealChunk's")
	}
	add("chunk-nonce", "malformed", "sealed with a nonce that is not its content's", 1, 3, raw(1024, seed("chunk-nonce", 24)), nil)
	add("chunk-not-smallest", "malformed", "36 bytes in a 4096-byte chunk", 1, 3, raw(4096, nil), nil)
	return out
}

func genProfiles(t *testing.T) []*Vector {
	p := seed("profile-key", 32)
	path := wire.ProfilePath(p)
	js := []byte(`{"name":"Alice","status":"climbing"}`)
	plain := func(n int, fill byte) []byte {
		b := make([]byte, n)
		binary.BigEndian.PutUint32(b, uint32(len(js)))
		copy(b[4:], js)
		b[n-1] = fill
		return b
	}
	var out []*Vector
	add := func(name, expect, comment string, payload []byte, ok bool) {
		v := newVector(name, "profile", expect, comment)
		v.add("profile-key", hx(p))
		if ok {
			v.add("profile", hx(js))
		}
		v.Payload = payload
		out = append(out, v)
	}
	add("profile", "success", "a display name and a status", sealSmall(p, 1, path, plain(4096, 0)), true)
	add("profile-version", "version", "version byte 2", sealSmall(p, 2, path, plain(4096, 0)), false)
	alt := sealSmall(p, 1, path, plain(4096, 0))
	alt[100] ^= 1
	add("profile-altered", "mac", "a ciphertext byte flipped", alt, false)
	add("profile-size", "malformed", "a plaintext of 4000 bytes, no multiple of 4096", sealSmall(p, 1, path, plain(4000, 0)), false)
	add("profile-fill", "malformed", "padding that ends in 01", sealSmall(p, 1, path, plain(4096, 1)), false)
	add("profile-wrong-path", "mac", "sealed for the path of another key", sealSmall(p, 1, wire.ProfilePath(seed("other", 32)), plain(4096, 0)), false)
	return out
}

func genEvents() []*Vector {
	var out []*Vector
	add := func(name, expect, comment, kind, js string) {
		v := newVector(name, "event", expect, comment)
		if kind != "" {
			v.add("kind", kind)
		}
		v.Payload = []byte(js)
		out = append(out, v)
	}
	add("event-text", "success", "a reply", "text", `{"v":1,"k":"text","t":1800000000000,"text":"yes <b>","ref":{"by":"bob","seq":4}}`)
	add("event-react", "success", "a reaction", "react", `{"v":1,"k":"react","t":1800000000000,"ref":{"by":"bob","seq":4},"emoji":"👍"}`)
	add("event-group", "success", "a roster and a sender key", "group",
		fmt.Sprintf(`{"v":1,"k":"group","t":1800000000000,"group":{"id":"0123456789abcdef0123456789abcdef","name":"climbers","creator":"alice","members":["alice","bob"],"epoch":2,"seed":%q,"from":5,"sign":%q}}`,
			base64.StdEncoding.EncodeToString(seed("sender-key", 32)), base64.StdEncoding.EncodeToString(seed("sign-key", 32))))
	add("event-unknown-field", "success", "a member this version does not know is ignored", "text", `{"v":1,"k":"text","t":1,"text":"hi","later":{"x":[1,2]}}`)
	add("event-kind", "unsupported", "a kind this version does not know", "", `{"v":1,"k":"poll","t":1}`)
	add("event-version", "unsupported", "event version 2", "", `{"v":2,"k":"text","t":1,"text":"hi"}`)
	add("event-duplicate", "malformed", "the member text twice", "", `{"v":1,"k":"text","t":1,"text":"hi","text":"bye"}`)
	add("event-capital", "malformed", `"K" for "k"`, "", `{"v":1,"K":"text","t":1,"text":"hi"}`)
	add("event-fraction", "malformed", "a time with a fraction", "", `{"v":1,"k":"text","t":1.5,"text":"hi"}`)
	add("event-big", "malformed", "a time of 2^53", "", `{"v":1,"k":"text","t":9007199254740992,"text":"hi"}`)
	add("event-utf8", "malformed", "text that is not UTF-8", "", "{\"v\":1,\"k\":\"text\",\"t\":1,\"text\":\"h\xffi\"}")
	add("event-no-ref", "malformed", "a reaction without a reference", "", `{"v":1,"k":"react","t":1,"emoji":"x"}`)
	add("event-bad-ref", "malformed", "a reference by a name that is not valid", "", `{"v":1,"k":"edit","t":1,"text":"x","ref":{"by":"Bob","seq":1}}`)
	add("event-group-id", "malformed", "a group ID in capitals", "", `{"v":1,"k":"group","t":1,"group":{"id":"0123456789ABCDEF0123456789ABCDEF","name":"x","creator":"alice","members":["alice"],"epoch":1,"from":0}}`)
	add("event-file-name", "malformed", "a file name with a slash", "", `{"v":1,"k":"text","t":1,"file":{"name":"../x","size":1,"sha256":"`+b64(32)+`","key":"`+b64(32)+`","chunks":1}}`)
	add("event-surrogate", "malformed", "text with an unpaired surrogate escape", "", `{"v":1,"k":"text","t":1,"text":"a\ud800b"}`)
	add("event-base64", "malformed", "a profile key whose base64 has a line break", "", `{"v":1,"k":"profile","t":1,"key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"}`)
	add("event-deep", "malformed", "arrays nested 18 deep", "", `{"v":1,"k":"text","t":1,"x":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}`)
	add("event-trailing", "malformed", "a second value after the object", "", `{"v":1,"k":"text","t":1,"text":"hi"}{}`)
	return out
}

func hkdf64(key []byte, info string) []byte {
	b, err := hkdf.Key(sha256.New, key, nil, info, 64)
	if err != nil {
		panic(err)
	}
	return b
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

func b64(n int) string { return strings.Repeat("A", (n+2)/3*4-1) + "=" }

// All generates every vector of testdata/vectors.
func generate(t *testing.T) []*Vector {
	var out []*Vector
	out = append(out, genHandshakes(t)...)
	out = append(out, genMessages(t)...)
	out = append(out, genIndexAndReceipts(t)...)
	out = append(out, genGroups(t)...)
	out = append(out, genChunks(t)...)
	out = append(out, genProfiles(t)...)
	out = append(out, genEvents()...)
	return out
}
