package wire

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

// errNoName is what a party's lookup says of a name it does not know.
var errNoName = errors.New("no such name")

func (p *party) lookup(others ...*party) func(string) (*bns.Record, error) {
	return func(name string) (*bns.Record, error) {
		for _, o := range others {
			if o.name == name {
				return o.rec, nil
			}
		}
		return nil, errNoName
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

// TestHandshakeGreeting: the greeting travels in the envelope, padded, so
// every envelope to a recipient has one size whatever the greeting; one too
// long is refused, and GreetingPreview cuts a long text between characters.
func TestHandshakeGreeting(t *testing.T) {
	alice, bob := newParty(t, "alice", true), newParty(t, "bob", true)
	sizes := map[int]bool{}
	for _, g := range []string{"", "hi bob, it's alice", strings.Repeat("é", MaxGreeting/2)} {
		env, err := SealIntro(alice.id.SigningKey(), Intro{From: "alice", To: "bob", Time: time.Unix(1800000000, 0), Greeting: g}, bob.rec)
		if err != nil {
			t.Fatal(err)
		}
		sizes[len(env)] = true
		got, err := OpenIntro(env, "bob", bob.keys, bob.lookup(alice))
		if err != nil || got.Greeting != g {
			t.Fatalf("greeting %q came out as %+v, %v", g, got, err)
		}
	}
	if len(sizes) != 1 {
		t.Fatalf("envelope sizes %v: the size tells the greeting's length", sizes)
	}
	long := strings.Repeat("a", MaxGreeting-2) + "éé" // the cut falls inside an é
	if _, err := SealIntro(alice.id.SigningKey(), Intro{From: "alice", To: "bob", Greeting: long}, bob.rec); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a greeting of %d bytes: %v", len(long), err)
	}
	p := GreetingPreview(long)
	if len(p) > MaxGreeting || !utf8.ValidString(p) || !strings.HasSuffix(p, "…") || !strings.HasPrefix(long, strings.TrimSuffix(p, "…")) {
		t.Fatalf("preview of %d bytes: %q", len(p), p[len(p)-8:])
	}
	if GreetingPreview("short") != "short" {
		t.Fatal("a short greeting is cut")
	}
}

// TestParseIntroRefusals: a body whose greeting is too long, whose padding
// is not zeros or has the wrong length, or of an unknown version.
func TestParseIntroRefusals(t *testing.T) {
	head := appendStr(appendStr([]byte{introVersion}, "alice"), "bob")
	head = append(head, make([]byte, 32+8)...)
	good := append(appendStr(slices.Clone(head), "hi"), make([]byte, MaxGreeting-2)...)
	if in, err := parseIntro(good); err != nil || in.Greeting != "hi" {
		t.Fatalf("the good body: %+v, %v", in, err)
	}
	v1 := append([]byte{1}, head[1:]...)
	if in, err := parseIntro(v1); err != nil || in.Greeting != "" {
		t.Fatalf("a version 1 body: %+v, %v", in, err)
	}
	dirty := slices.Clone(good)
	dirty[len(dirty)-1] = 1
	for name, b := range map[string][]byte{
		"padding not zeros":  dirty,
		"padding too short":  good[:len(good)-1],
		"padding too long":   append(slices.Clone(good), 0),
		"greeting too long":  append(appendStr(slices.Clone(head), strings.Repeat("a", MaxGreeting+1)), make([]byte, 0)...),
		"greeting not UTF-8": append(appendStr(slices.Clone(head), "\xff"), make([]byte, MaxGreeting-1)...),
		"version 1, more":    append(slices.Clone(v1), 0),
		"version 3":          append([]byte{3}, good[1:]...),
	} {
		if _, err := parseIntro(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzParseIntro: a body that parses as version 2 is exactly what
// introBody makes of what it parsed to.
func FuzzParseIntro(f *testing.F) {
	b, _ := introBody(Intro{From: "alice", To: "bob", Greeting: "hi"})
	f.Add(b)
	f.Add(append([]byte{1}, b[1:2+5+2+3+32+8]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := parseIntro(b)
		if err != nil || b[0] != introVersion {
			return
		}
		again, err := introBody(*in)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%x parsed to %+v, which makes %x (%v)", b, in, again, err)
		}
	})
}

func TestHandshakeRefusals(t *testing.T) {
	alice, bob, eve := newParty(t, "alice", true), newParty(t, "bob", true), newParty(t, "eve", true)
	in := Intro{From: "alice", To: "bob", MutualKey: [32]byte{9}, Time: time.Now()}
	env, _ := SealIntro(alice.id.SigningKey(), in, bob.rec)

	// Eve cannot open it, not even claiming to be bob.
	if _, err := OpenIntro(env, "bob", eve.keys, eve.lookup(alice)); !errors.Is(err, ErrAuth) {
		t.Fatalf("eve opens bob's envelope: %v, want ErrAuth", err)
	}
	// Opened as another name (HPKE info differs).
	if _, err := OpenIntro(env, "carol", bob.keys, bob.lookup(alice)); !errors.Is(err, ErrAuth) {
		t.Fatalf("opened under another recipient name: %v, want ErrAuth", err)
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
		if _, err := OpenIntro(b, "bob", bob.keys, bob.lookup(alice)); !refused(err) {
			t.Fatalf("envelope with byte %d flipped: %v, want it refused (malformed, forged or not authentic)", i, err)
		}
	}
	// Unknown sender name.
	if _, err := OpenIntro(env, "bob", bob.keys, bob.lookup()); !errors.Is(err, errNoName) {
		t.Fatalf("opened with an unknown sender: %v, want the lookup's error", err)
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
	if _, err := SealMessage(a, ka.Header, make([]byte, MaxText()+1), nil, nil); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("at most %d", MaxText())) {
		t.Fatalf("an oversized message: %v, want it refused with the limit", err)
	}
}

func TestMessageTampering(t *testing.T) {
	a, b, ka, kb := conversation(t)
	ad := []byte(MessagePath(ka.SendKey, 0))
	blob, _ := SealMessage(a, ka.Header, []byte("the real message"), ad, nil)
	for name, tc := range map[string]struct {
		f    func() ([]byte, []byte, [32]byte)
		want error
	}{
		"header byte":       {func() ([]byte, []byte, [32]byte) { c := bytes.Clone(blob); c[30] ^= 1; return c, ad, kb.Header }, ErrHeader},
		"body byte":         {func() ([]byte, []byte, [32]byte) { c := bytes.Clone(blob); c[200] ^= 1; return c, ad, kb.Header }, ratchet.ErrAuth},
		"fill byte":         {func() ([]byte, []byte, [32]byte) { c := bytes.Clone(blob); c[len(c)-1] = 1; return c, ad, kb.Header }, ErrMalformed},
		"moved to a path":   {func() ([]byte, []byte, [32]byte) { return blob, []byte(MessagePath(ka.SendKey, 1)), kb.Header }, ErrHeader},
		"wrong header key":  {func() ([]byte, []byte, [32]byte) { return blob, ad, [32]byte{7} }, ErrHeader},
		"truncated":         {func() ([]byte, []byte, [32]byte) { return blob[:1000], ad, kb.Header }, ErrMalformed},
		"not a bucket size": {func() ([]byte, []byte, [32]byte) { return append(bytes.Clone(blob), 0), ad, kb.Header }, ErrMalformed},
	} {
		c, d, hk := tc.f()
		if _, err := OpenMessage(b, hk, c, d); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
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
	if a, b := MessagePath(k, 5), MessagePath(k, 5); a != b {
		t.Fatal("paths are not deterministic")
	}
}

// refused reports whether err is one of the ways OpenIntro refuses an
// envelope: malformed, forged, or not authentic.
func refused(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrForged) || errors.Is(err, ErrAuth)
}

// TestRequestFromADevice: a contact request signed by a device the
// sender's record lists opens as OpenRequest (which says which device);
// an introduction (OpenIntro) takes the first device's signature only; a
// key the record does not list, or lists no longer, is refused.
func TestRequestFromADevice(t *testing.T) {
	alice, laptop, bob, eve := newParty(t, "alice", true), newParty(t, "alice", true), newParty(t, "bob", true), newParty(t, "eve", true)
	alice.rec.Devices = []bns.Device{{SigningKey: laptop.rec.Profile.SigningKey, EncKeys: laptop.rec.Profile.EncKeys, Label: "laptop"}}
	in := Intro{From: "alice", To: "bob", MutualKey: [32]byte{9}, Time: time.Unix(1800000000, 0), Greeting: "hi, it's alice on my laptop"}
	env, err := SealIntro(laptop.id.SigningKey(), in, bob.rec)
	if err != nil {
		t.Fatal(err)
	}
	got, signer, rec, err := OpenRequest(env, "bob", bob.keys, bob.lookup(alice))
	if err != nil || *got != in || signer != laptop.rec.Profile.SigningKey || rec != alice.rec {
		t.Fatalf("OpenRequest = %+v, %v, %v; want the laptop's request", got, signer, err)
	}
	first, _ := SealIntro(alice.id.SigningKey(), in, bob.rec)
	if _, signer, _, err := OpenRequest(first, "bob", bob.keys, bob.lookup(alice)); err != nil || signer != alice.rec.Profile.SigningKey {
		t.Fatalf("the first device's request: signer %v, %v", signer, err)
	}
	if _, err := OpenIntro(env, "bob", bob.keys, bob.lookup(alice)); !errors.Is(err, ErrForged) {
		t.Fatalf("an introduction the laptop signed: %v, want ErrForged (the first device's only)", err)
	}
	forged, _ := SealIntro(eve.id.SigningKey(), in, bob.rec)
	if _, _, _, err := OpenRequest(forged, "bob", bob.keys, bob.lookup(alice)); !errors.Is(err, ErrForged) {
		t.Fatalf("a request eve signed as alice: %v, want ErrForged", err)
	}
	removed := *alice.rec
	removed.Devices = nil
	if _, _, _, err := OpenRequest(env, "bob", bob.keys, func(string) (*bns.Record, error) { return &removed, nil }); !errors.Is(err, ErrForged) {
		t.Fatalf("a request from a device the record no longer lists: %v, want ErrForged", err)
	}
}

// TestRequestToADevice: a request sealed to one of bob's other devices
// opens there, with the same mutual key, and not on bob's first device;
// a contact event needs its conversation and a 32-byte key.
func TestRequestToADevice(t *testing.T) {
	alice, bob, tablet := newParty(t, "alice", true), newParty(t, "bob", true), newParty(t, "bob", true)
	in := Intro{From: "alice", To: "bob", MutualKey: [32]byte{4, 2}, Time: time.Unix(1800000000, 0), Greeting: "hi bob"}
	env, err := SealRequestToDevice(alice.id.SigningKey(), in, tablet.rec.Profile.EncKeys)
	if err != nil {
		t.Fatal(err)
	}
	got, signer, _, err := OpenRequest(env, "bob", tablet.keys, tablet.lookup(alice))
	if err != nil || *got != in || signer != alice.rec.Profile.SigningKey {
		t.Fatalf("the tablet opens its copy: %+v, %v", got, err)
	}
	if _, _, _, err := OpenRequest(env, "bob", bob.keys, bob.lookup(alice)); !errors.Is(err, ErrAuth) {
		t.Fatalf("bob's first device opens the tablet's copy: %v, want ErrAuth", err)
	}
	for _, e := range []*Event{{Kind: KindContact, Key: make([]byte, 32)}, {Kind: KindContact, Conv: "alice", Key: make([]byte, 31)}} {
		if _, err := MarshalEvent(e); !errors.Is(err, ErrMalformed) {
			t.Fatalf("contact event %+v: %v, want ErrMalformed", e, err)
		}
	}
	b, err := MarshalEvent(&Event{Kind: KindContact, Conv: "alice", Key: in.MutualKey[:]})
	if err != nil {
		t.Fatal(err)
	}
	if e, err := ParseEvent(b); err != nil || e.Conv != "alice" || [32]byte(e.Key) != in.MutualKey {
		t.Fatalf("contact event round trip: %+v, %v", e, err)
	}
}
