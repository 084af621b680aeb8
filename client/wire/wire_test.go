package wire

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/ratchet"
)

type party struct {
	name string
	id   *keystore.Identity
	rec  *bns.Record
	keys []hpke.PrivateKey
	x    *ecdh.PrivateKey
}

func newParty(t *testing.T, name string, hybrid bool) *party {
	id, err := keystore.New()
	if err != nil {
		t.Fatal(err)
	}
	p, err := id.Profile([]string{"http://127.0.0.1:4000"})
	if err != nil {
		t.Fatal(err)
	}
	xk, _ := id.X25519Key()
	hk, _ := id.HybridKey()
	keys := []hpke.PrivateKey{xk, hk}
	if !hybrid {
		p.EncKeys = p.EncKeys[:1]
		keys = keys[:1]
	}
	xb, _ := xk.Bytes()
	x, _ := ecdh.X25519().NewPrivateKey(xb)
	return &party{name: name, id: id, rec: &bns.Record{Name: name, Profile: p}, keys: keys, x: x}
}

func (p *party) lookup(others ...*party) func(string) (*bns.Record, error) {
	return func(name string) (*bns.Record, error) {
		for _, o := range others {
			if o.name == name {
				return o.rec, nil
			}
		}
		return nil, errors.New("no such name")
	}
}

func TestHandshake(t *testing.T) {
	for _, hybrid := range []bool{true, false} {
		alice, bob := newParty(t, "alice", true), newParty(t, "bob", hybrid)
		in := Intro{From: "alice", To: "bob", MutualKey: [32]byte{1, 2, 3}, Time: time.Unix(1800000000, 0)}
		env, err := SealIntro(alice.id.SigningKey(), in, bob.rec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := OpenIntro(env, "bob", bob.keys, bob.lookup(alice))
		if err != nil {
			t.Fatalf("hybrid=%v: %v", hybrid, err)
		}
		if got.From != "alice" || got.MutualKey != in.MutualKey || !got.Time.Equal(in.Time) {
			t.Fatalf("intro %+v", got)
		}
		if bytes.Contains(env, in.MutualKey[:3]) && bytes.Contains(env, []byte("alice")) {
			t.Fatal("envelope shows its content")
		}
	}
}

func TestHandshakeRefusals(t *testing.T) {
	alice, bob, eve := newParty(t, "alice", true), newParty(t, "bob", true), newParty(t, "eve", true)
	in := Intro{From: "alice", To: "bob", MutualKey: [32]byte{9}, Time: time.Now()}
	env, _ := SealIntro(alice.id.SigningKey(), in, bob.rec)

	// Eve cannot open it, not even claiming to be bob.
	if _, err := OpenIntro(env, "bob", eve.keys, eve.lookup(alice)); err == nil {
		t.Fatal("eve opened bob's envelope")
	}
	// Opened as another name (HPKE info differs).
	if _, err := OpenIntro(env, "carol", bob.keys, bob.lookup(alice)); err == nil {
		t.Fatal("opened under another recipient name")
	}
	// Eve signs as "alice": the chain lists alice's real key, so it is refused.
	forged, _ := SealIntro(eve.id.SigningKey(), in, bob.rec)
	if _, err := OpenIntro(forged, "bob", bob.keys, bob.lookup(alice)); !errors.Is(err, ErrForged) {
		t.Fatalf("forged sender: %v", err)
	}
	// Any flipped byte is refused.
	for i := 0; i < len(env); i += 97 {
		b := bytes.Clone(env)
		b[i] ^= 0x20
		if _, err := OpenIntro(b, "bob", bob.keys, bob.lookup(alice)); err == nil {
			t.Fatalf("envelope with byte %d flipped opened", i)
		}
	}
	// Unknown sender name.
	if _, err := OpenIntro(env, "bob", bob.keys, bob.lookup()); err == nil {
		t.Fatal("opened with an unknown sender")
	}
}

func TestPairSecretAndIntroPath(t *testing.T) {
	alice, bob := newParty(t, "alice", false), newParty(t, "bob", false)
	ab, err := PairSecret(alice.x, bob.rec.Profile.EncKeys[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	ba, _ := PairSecret(bob.x, alice.rec.Profile.EncKeys[0].Key)
	if ab != ba {
		t.Fatal("pair secrets differ")
	}
	if IntroPath(ab, "alice", "bob") != IntroPath(ba, "alice", "bob") {
		t.Fatal("intro paths differ between the two sides")
	}
	if LinkIntroPath(ab, "alice", "bob") != LinkIntroPath(ba, "alice", "bob") || LinkIntroPath(ab, "alice", "bob") == IntroPath(ab, "alice", "bob") {
		t.Fatal("a link's introduction path: not the same for both sides, or a contact's")
	}
	var k [32]byte
	if lk := LinkKey(k); lk == k || lk != LinkKey(k) {
		t.Fatal("LinkKey: the mutual key itself, or not deterministic")
	}
	if IntroPath(ab, "alice", "bob") == IntroPath(ab, "bob", "alice") {
		t.Fatal("both directions share one intro path")
	}
}

// conversation sets up both ratchets as the handshake does.
func conversation(t *testing.T) (a, b *ratchet.State, ka, kb Keys) {
	bob := newParty(t, "bob", true)
	k := [32]byte{42}
	return ratchet.InitAlice(k, bob.x.PublicKey(), nil), ratchet.InitBob(k, bob.x, nil), ConversationKeys(k, "alice", "bob"), ConversationKeys(k, "bob", "alice")
}

func TestMessageBlobs(t *testing.T) {
	a, b, ka, kb := conversation(t)
	if ka.SendKey != kb.RecvKey || ka.RecvKey != kb.SendKey || ka.Header != kb.Header || ka.SendKey == ka.RecvKey {
		t.Fatal("conversation keys do not pair up")
	}
	for i, text := range []string{"", "hi", strings.Repeat("x", 900), strings.Repeat("y", 5000), strings.Repeat("z", MaxText())} {
		ad := []byte(MessagePath(ka.SendKey, uint64(i)))
		blob, err := SealMessage(a, ka.Header, []byte(text), ad, nil)
		if err != nil {
			t.Fatal(err)
		}
		ok := false
		for _, size := range Buckets {
			ok = ok || len(blob) == size
		}
		if !ok {
			t.Fatalf("blob of %d bytes is not a bucket size", len(blob))
		}
		if len(text) > 8 && bytes.Contains(blob, []byte(text[:8])) {
			t.Fatal("plaintext visible in the blob")
		}
		got, err := OpenMessage(b, kb.Header, blob, ad)
		if err != nil || string(got) != text {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if _, err := SealMessage(a, ka.Header, make([]byte, MaxText()+1), nil, nil); err == nil {
		t.Fatal("an oversized message was sealed")
	}
}

func TestMessageTampering(t *testing.T) {
	a, b, ka, kb := conversation(t)
	ad := []byte(MessagePath(ka.SendKey, 0))
	blob, _ := SealMessage(a, ka.Header, []byte("the real message"), ad, nil)
	for name, f := range map[string]func() ([]byte, []byte, [32]byte){
		"header byte":       func() ([]byte, []byte, [32]byte) { c := bytes.Clone(blob); c[30] ^= 1; return c, ad, kb.Header },
		"body byte":         func() ([]byte, []byte, [32]byte) { c := bytes.Clone(blob); c[200] ^= 1; return c, ad, kb.Header },
		"fill byte":         func() ([]byte, []byte, [32]byte) { c := bytes.Clone(blob); c[len(c)-1] = 1; return c, ad, kb.Header },
		"moved to a path":   func() ([]byte, []byte, [32]byte) { return blob, []byte(MessagePath(ka.SendKey, 1)), kb.Header },
		"wrong header key":  func() ([]byte, []byte, [32]byte) { return blob, ad, [32]byte{7} },
		"truncated":         func() ([]byte, []byte, [32]byte) { return blob[:1000], ad, kb.Header },
		"not a bucket size": func() ([]byte, []byte, [32]byte) { return append(bytes.Clone(blob), 0), ad, kb.Header },
	} {
		c, d, hk := f()
		if _, err := OpenMessage(b, hk, c, d); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
	if got, err := OpenMessage(b, kb.Header, blob, ad); err != nil || string(got) != "the real message" {
		t.Fatalf("after refusals: %q %v", got, err)
	}
}

func TestMessagePaths(t *testing.T) {
	var k [32]byte
	seen := map[string]bool{}
	for i := uint64(0); i < 1000; i++ {
		p := MessagePath(k, i)
		if seen[p] || strings.Contains(p, fmt.Sprint(i)) && len(p) < 10 {
			t.Fatalf("path %d repeats or shows its counter", i)
		}
		seen[p] = true
	}
	if MessagePath(k, 5) != MessagePath(k, 5) {
		t.Fatal("paths are not deterministic")
	}
}
