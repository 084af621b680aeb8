package wire

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
)

// TestLinkCodeVector: testdata/devicelink.txt, an offer's bytes, code,
// text and welcome path as computed apart from this code (Python's
// hashlib and hmac, from docs/protocol.md); the independent reader
// (internal/specreader) checks the same file.
func TestLinkCodeVector(t *testing.T) {
	b, err := os.ReadFile("testdata/devicelink.txt")
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]string{}
	for n, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		k, val, ok := strings.Cut(line, ": ")
		switch k {
		case "chain-id", "offer", "label", "code", "text", "path", "for", "bound-code":
		default:
			ok = false
		}
		if !ok {
			t.Fatalf("devicelink.txt:%d: not a known key: value line", n+1)
		}
		v[k] = val
	}
	if len(v) != 8 {
		t.Fatalf("devicelink.txt has %d of its 8 keys", len(v))
	}
	offer, _ := hex.DecodeString(v["offer"])
	o, err := ParseOffer(offer)
	if err != nil || o.Label != v["label"] {
		t.Fatalf("ParseOffer = %+v, %v", o, err)
	}
	if again, _ := o.Marshal(); !bytes.Equal(again, offer) {
		t.Fatalf("ParseOffer then Marshal: %x", again)
	}
	code := OfferCode(v["chain-id"], offer)
	for _, c := range []struct{ what, got, want string }{
		{"code", hex.EncodeToString(code[:]), v["code"]},
		{"text", code.String(), v["text"]},
		{"path", WelcomePath(code), v["path"]},
		{"bound code", func() string { c := bns.OfferCodeFor(v["chain-id"], v["for"], offer); return hex.EncodeToString(c[:]) }(), v["bound-code"]},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.what, c.got, c.want)
		}
	}
}

// TestParseLinkCode: what a person types (any case, dashes or spaces or
// none, O for 0, I or L for 1) reads as the code; a mistyped character,
// a wrong length or a foreign character is ErrLinkCode.
func TestParseLinkCode(t *testing.T) {
	want := LinkCode{0x95, 0x4e, 0x46, 0xad, 0xc2, 0x58, 0x86, 0xff, 0x2f, 0x5d}
	for _, typed := range []string{"JN74-DBE2-B23F-YBTX-9", "jn74dbe2b23fybtx9", "JN74 DBE2 B23F YBTX 9", "jn74-dbe2-b23f-ybtx-9"} {
		got, err := ParseLinkCode(typed)
		if err != nil || got != want {
			t.Errorf("ParseLinkCode(%q) = %x, %v", typed, got, err)
		}
	}
	for i := 0; i < 200; i++ { // codes of every shape survive the round trip
		var c LinkCode
		for j := range c {
			c[j] = byte(i*37 + j*101)
		}
		if got, err := ParseLinkCode(c.String()); err != nil || got != c {
			t.Fatalf("%x: %s parses as %x, %v", c, c, got, err)
		}
		if got, err := ParseLinkCode(strings.NewReplacer("0", "o", "1", "l").Replace(c.String())); err != nil || got != c {
			t.Fatalf("%s with o and l: %x, %v", c, got, err)
		}
	}
	for _, bad := range []string{
		"JN74-DBE2-B23F-YBTX-8", // the check character
		"JN74-DBE2-B23F-YBTY-9", // a character of the code
		"JN74-DBE2-B23F-YBTX",   // too short
		"JN74-DBE2-B23F-YBTX-99",
		"JN74-DBE2-B23F-YBTU-9", // U is no character of the alphabet
		"",
	} {
		if _, err := ParseLinkCode(bad); !errors.Is(err, ErrLinkCode) {
			t.Errorf("ParseLinkCode(%q) = %v, want ErrLinkCode", bad, err)
		}
	}
}

// device is a device's keys for the tests.
type device struct {
	sign  ed25519.PrivateKey
	pub   bns.PublicKey
	x, pq hpke.PrivateKey
}

func newDevice(t *testing.T) *device {
	t.Helper()
	_, sign, _ := ed25519.GenerateKey(nil)
	x, err := hpke.DHKEM(ecdh.X25519()).GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pq, err := hpke.MLKEM768X25519().GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &device{sign: sign, pub: bns.PublicKeyOf(sign), x: x, pq: pq}
}

func (d *device) offer(label string) *Offer {
	return &Offer{SigningKey: d.pub, Label: label, EncKeys: []bns.EncKey{
		{KEM: bns.KEMX25519, Key: d.x.PublicKey().Bytes()}, {KEM: bns.KEMMLKEM768X25519, Key: d.pq.PublicKey().Bytes()}}}
}

// TestWelcomeAttacks: the new device takes the welcome its name's listed
// device sealed to it for its code, and refuses every forgery: a welcome
// signed by a device the record does not list (a contact's hub writing
// one, or a stranger), one sealed to another device, one for another
// name or code, one moved to another path, altered or cut, and an offer
// the code does not name.
func TestWelcomeAttacks(t *testing.T) {
	phone, laptop, mallory, other := newDevice(t), newDevice(t), newDevice(t), newDevice(t)
	offer, err := laptop.offer("laptop").Marshal()
	if err != nil {
		t.Fatal(err)
	}
	code := OfferCode("chain", offer)
	listed := func(k bns.PublicKey) bool { return k == phone.pub } // alice's record lists the phone
	w := &Welcome{Name: "alice", Code: code, Device: laptop.pub, Approver: phone.pub, Time: time.Unix(1700000000, 0), Payload: []byte(`{"contacts":["bob"]}`)}
	to := bns.EncKey{KEM: bns.KEMMLKEM768X25519, Key: laptop.pq.PublicKey().Bytes()}
	env, err := SealWelcome(phone.sign, w, to)
	if err != nil {
		t.Fatal(err)
	}
	keys := []hpke.PrivateKey{laptop.x, laptop.pq}
	got, err := OpenWelcome(env, "alice", code, laptop.pub, keys, listed)
	if err != nil || string(got.Payload) != string(w.Payload) || got.Approver != phone.pub || !got.Time.Equal(w.Time) {
		t.Fatalf("OpenWelcome = %+v, %v", got, err)
	}
	if len(env)%WelcomePad > 2048 {
		t.Errorf("a welcome of %d bytes: not padded", len(env))
	}

	forged := func(signer *device, w Welcome, to bns.EncKey) []byte {
		t.Helper()
		w.Approver = signer.pub
		env, err := SealWelcome(signer.sign, &w, to)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	otherCode := code
	otherCode[0] ^= 1
	for _, c := range []struct {
		name string
		env  []byte
		want error
	}{
		{"signed by a device the record does not list", forged(mallory, *w, to), ErrNotADevice},
		{"sealed to another device", forged(phone, *w, bns.EncKey{KEM: bns.KEMMLKEM768X25519, Key: other.pq.PublicKey().Bytes()}), ErrAuth},
		{"for another name", forged(phone, Welcome{Name: "alicia", Code: code, Device: laptop.pub, Time: w.Time}, to), ErrAuth},
		{"for another code", forged(phone, Welcome{Name: "alice", Code: otherCode, Device: laptop.pub, Time: w.Time}, to), ErrAuth},
		{"altered", func() []byte { e := bytes.Clone(env); e[len(e)-100] ^= 1; return e }(), ErrAuth},
		{"cut", env[:len(env)-1], ErrAuth},
		{"no envelope", env[:3], ErrMalformed},
		{"unknown version", append([]byte{2}, env[1:]...), ErrVersion},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := OpenWelcome(c.env, "alice", code, laptop.pub, keys, listed); !errors.Is(err, c.want) {
				t.Fatalf("OpenWelcome = %v, want %v", err, c.want)
			}
		})
	}
	// Sealed to the other device, it does not open there either: the
	// body names the laptop.
	if _, err := OpenWelcome(forged(phone, *w, bns.EncKey{KEM: bns.KEMMLKEM768X25519, Key: other.pq.PublicKey().Bytes()}),
		"alice", code, other.pub, []hpke.PrivateKey{other.x, other.pq}, listed); !errors.Is(err, ErrForged) {
		t.Fatalf("a welcome for the laptop opened by another device: %v, want ErrForged", err)
	}
	// Read from another path (a hub moving it): it does not open.
	if _, err := openAt(env, "k/00", "alice", code, laptop.pub, keys, listed); !errors.Is(err, ErrAuth) {
		t.Fatalf("a welcome moved to another path: %v, want ErrAuth", err)
	}

	// An offer the code does not name (a bystander's keys in its place).
	evil, _ := mallory.offer("laptop").Marshal()
	if err := CheckOffer(code, "chain", evil); !errors.Is(err, ErrForged) {
		t.Fatalf("CheckOffer(another offer) = %v, want ErrForged", err)
	}
	if err := CheckOffer(code, "another-chain", offer); !errors.Is(err, ErrForged) {
		t.Fatalf("CheckOffer(another chain) = %v, want ErrForged", err)
	}
	if err := CheckOffer(code, "chain", offer); err != nil {
		t.Fatal(err)
	}
}

// TestOfferRefused: an offer is parsed strictly.
func TestOfferRefused(t *testing.T) {
	d := newDevice(t)
	good, _ := d.offer("phone-2").Marshal()
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"trailing byte", append(bytes.Clone(good), 0), ErrMalformed},
		{"cut", good[:len(good)-1], ErrMalformed},
		{"version", append([]byte{2}, good[1:]...), ErrVersion},
		{"empty", nil, ErrMalformed},
	} {
		if _, err := ParseOffer(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	for _, l := range []string{"", "Laptop", "my laptop", strings.Repeat("a", MaxLabel+1), "été"} {
		o := d.offer(l)
		if _, err := o.Marshal(); !errors.Is(err, ErrMalformed) {
			t.Errorf("label %q: %v, want ErrMalformed", l, err)
		}
	}
	noX := d.offer("x")
	noX.EncKeys = noX.EncKeys[1:]
	if _, err := noX.Marshal(); !errors.Is(err, ErrMalformed) {
		t.Errorf("an offer without an X25519 key: %v", err)
	}
}

// FuzzParseOffer: what parses is written back byte for byte.
func FuzzParseOffer(f *testing.F) {
	var sk bns.PublicKey
	sk[0] = 1
	o := &Offer{SigningKey: sk, EncKeys: []bns.EncKey{{KEM: bns.KEMX25519, Key: append([]byte{9}, make([]byte, 31)...)}}, Label: "laptop"}
	b, _ := o.Marshal()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseOffer(b)
		if err != nil {
			return
		}
		back, err := o.Marshal()
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("ParseOffer(%x) then Marshal = %x, %v", b, back, err)
		}
	})
}
