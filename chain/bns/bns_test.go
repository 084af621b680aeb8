package bns

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a", true}, {"alice", true}, {"bob-2", true}, {"x1-y2-z3", true},
		{strings.Repeat("a", MaxNameLen), true},
		{"", false}, {strings.Repeat("a", MaxNameLen+1), false},
		{"Alice", false}, {"1alice", false}, {"-alice", false}, {"alice-", false},
		{"xn--alice", false}, {"al ice", false}, {"al.ice", false}, {"al_ice", false},
		{"аlice", false}, // Cyrillic а
		{"alice\x00", false}, {"al/ice", false},
	} {
		err := ValidateName(tc.name)
		if (err == nil) != tc.ok || !tc.ok && !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v, want ok=%v or ErrInvalidName", tc.name, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, ErrInvalidName) || !strings.HasSuffix(err.Error(), "("+NameRules+")")) {
			t.Errorf("ValidateName(%q) = %v: want ErrInvalidName and the rules", tc.name, err)
		}
	}
}

// TestValidateNameSays: the error names the character at fault as it was
// typed (invisible ones escaped) and why.
func TestValidateNameSays(t *testing.T) {
	for _, tc := range []struct{ name, says string }{
		{"josé", `invalid name "josé": 'é' (U+00E9) is not allowed`},
		{"аlice", `invalid name "аlice": 'а' (U+0430) is not allowed`},
		{"al\u202eice", `invalid name "al\u202eice": '\u202e' (U+202E) is not allowed`},
		{"Alice", `invalid name "Alice": 'A' is uppercase (use 'a')`},
		{"al_ice", `invalid name "al_ice": '_' is not allowed`},
		{"1alice", `invalid name "1alice": starts with '1', not a letter`},
		{"al--ice", `invalid name "al--ice": contains "--"`},
		{"alice-", `invalid name "alice-": ends with '-'`},
		{"al\xffice", `invalid name "al\xffice": byte 0xff at 2 is not text`},
		{strings.Repeat("a", 41), `: 41 characters, at most 40`},
		{"", `invalid name: empty`},
	} {
		if err := ValidateName(tc.name); !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("ValidateName(%q) = %v, want it to say %s", tc.name, err, tc.says)
		}
	}
}

func TestHubURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://hub.example", true}, {"http://127.0.0.1:4000", true}, {"https://hub.example/gaia", true},
		{"ftp://hub", false}, {"https://", false}, {"https://u:p@hub", false}, {"https://hub?x=1", false},
		{"https://hub#f", false}, {"hub.example", false}, {"https://hub/a b", false},
		{"https://" + strings.Repeat("h", MaxHubURLLen), false},
	} {
		if err := ValidateHubURL(tc.url); (err == nil) != tc.ok {
			t.Errorf("ValidateHubURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

func testKey(b byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32)) }

func hybridKey(t testing.TB) []byte {
	k, err := hpke.MLKEM768X25519().DeriveKeyPair(bytes.Repeat([]byte{7}, 64))
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey().Bytes()
}

func x25519Key(t testing.TB) []byte {
	k, err := hpke.DHKEM(ecdhX25519).DeriveKeyPair(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey().Bytes()
}

func sampleTxs(t testing.TB) []*Tx {
	p := Profile{
		SigningKey: PublicKeyOf(testKey(2)),
		EncKeys:    []EncKey{{KEM: KEMX25519, Key: x25519Key(t)}, {KEM: KEMMLKEM768X25519, Key: hybridKey(t)}},
		Hubs:       []string{"https://a.example", "https://b.example"},
	}
	return []*Tx{
		{Type: TxPreorder, Nonce: 1, ExpiresAt: 100, Commitment: [32]byte{1, 2}, PowNonce: 7},
		{Type: TxRegister, Nonce: 2, ExpiresAt: 101, Name: "alice", Salt: [32]byte{3}, PreorderHeight: 50, Profile: p, PowNonce: 99},
		{Type: TxUpdate, Nonce: 3, ExpiresAt: 102, Name: "alice", Profile: p},
		{Type: TxTransfer, Nonce: 4, ExpiresAt: 103, Name: "alice", NewOwner: PublicKeyOf(testKey(3))},
		{Type: TxRenew, Nonce: 5, ExpiresAt: 104, Name: "alice"},
		{Type: TxRevoke, Nonce: 6, ExpiresAt: 1 << 40, Name: "alice"},
		{Type: TxDeviceAdd, Nonce: 7, ExpiresAt: 105, Name: "alice", Code: LinkCode{1, 2, 3}},
		{Type: TxDeviceRemove, Nonce: 8, ExpiresAt: 106, Name: "alice", DeviceKey: PublicKeyOf(testKey(4))},
		{Type: TxLinkOffer, ExpiresAt: 107, Offer: Device{SigningKey: PublicKeyOf(testKey(1)), EncKeys: p.EncKeys, Label: "laptop"}, PowNonce: 5},
		{Type: TxLinkOfferFor, ExpiresAt: 108, Offer: Device{SigningKey: PublicKeyOf(testKey(1)), EncKeys: p.EncKeys, Label: "tablet"}, Name: "alice", PowNonce: 6},
	}
}

func TestTxRoundTripAndSignature(t *testing.T) {
	priv := testKey(1)
	for _, tx := range sampleTxs(t) {
		tx.Sign("chain-a", priv)
		if err := tx.ValidateBasic(); err != nil {
			t.Fatalf("%s: %v", tx.Type, err)
		}
		raw := tx.Marshal()
		got, err := DecodeTx(raw)
		if err != nil {
			t.Fatalf("%s: decode: %v", tx.Type, err)
		}
		if !bytes.Equal(got.Marshal(), raw) {
			t.Fatalf("%s: round trip differs", tx.Type)
		}
		if !got.VerifySignature("chain-a") {
			t.Fatalf("%s: signature does not verify", tx.Type)
		}
		if got.VerifySignature("chain-b") {
			t.Fatalf("%s: signature verifies for another chain", tx.Type)
		}
		// Every single-byte change is either undecodable or unsigned.
		for i := 0; i < len(raw); i += 7 {
			mut := bytes.Clone(raw)
			mut[i] ^= 0x10
			if m, err := DecodeTx(mut); err == nil && m.VerifySignature("chain-a") {
				t.Fatalf("%s: byte %d flipped and still valid", tx.Type, i)
			}
		}
	}
}

// TestPreorderLayout: a preorder is as docs/protocol.md draws it, 154 bytes:
// version, type, signer, nonce, expiry height, commitment, stamp, signature.
func TestPreorderLayout(t *testing.T) {
	tx := sampleTxs(t)[0]
	tx.Sign("c", testKey(1))
	raw := tx.Marshal()
	if len(raw) != 154 || raw[0] != 2 || raw[1] != byte(TxPreorder) ||
		!bytes.Equal(raw[34:42], []byte{0, 0, 0, 0, 0, 0, 0, 1}) || !bytes.Equal(raw[42:50], []byte{0, 0, 0, 0, 0, 0, 0, 100}) ||
		raw[50] != 1 || raw[51] != 2 || !bytes.Equal(raw[82:90], []byte{0, 0, 0, 0, 0, 0, 0, 7}) {
		t.Fatalf("preorder bytes %x", raw)
	}
}

func TestSignBytesDomain(t *testing.T) {
	tx := sampleTxs(t)[0]
	sb := tx.SignBytes("chain-a")
	if !bytes.HasPrefix(sb, append([]byte{0, byte(len(TxDomain))}, TxDomain...)) {
		t.Fatalf("sign bytes do not start with the domain: %q", sb[:20])
	}
	if !bytes.Contains(sb, []byte("chain-a")) {
		t.Fatal("sign bytes lack the chain ID")
	}
}

func TestRecordRoundTrip(t *testing.T) {
	txs := sampleTxs(t)
	r := &Record{Name: "alice", Owner: PublicKeyOf(testKey(1)), Profile: txs[1].Profile, PreorderHeight: 3, PreorderIndex: 1,
		RegisteredAt: 4, ExpiresAt: 100, UpdatedAt: 4, Seq: 1, Op: OpRegister, HistoryHash: [32]byte{5}}
	got, err := UnmarshalRecord(r.Marshal())
	if err != nil || !bytes.Equal(got.Marshal(), r.Marshal()) {
		t.Fatalf("record round trip: %v", err)
	}
	if _, err := UnmarshalRecord(append(r.Marshal(), 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: %v", err)
	}
	if _, err := UnmarshalRecord(append(r.Marshal()[:len(r.Marshal())-33], append([]byte{9}, r.HistoryHash[:]...)...)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unknown op: %v", err)
	}
	// A record of version 1 (layout 1: no op), as a client saved it,
	// reads only as a saved record, and is written back as it was.
	v1 := &Record{Name: r.Name, Owner: r.Owner, Profile: r.Profile, PreorderHeight: 3, PreorderIndex: 1,
		RegisteredAt: 4, ExpiresAt: 100, UpdatedAt: 4, Seq: 1, HistoryHash: [32]byte{5}}
	b1 := v1.Marshal()
	if want := append(append([]byte{1}, r.Marshal()[1:len(r.Marshal())-33]...), r.HistoryHash[:]...); !bytes.Equal(b1, want) {
		t.Fatalf("version 1 record = %x, want %x", b1, want)
	}
	if _, err := UnmarshalRecord(b1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("version 1 record from the chain: %v, want ErrMalformed", err)
	}
	for _, b := range [][]byte{b1, r.Marshal()} {
		got, err := UnmarshalSavedRecord(b)
		if err != nil || !bytes.Equal(got.Marshal(), b) {
			t.Fatalf("saved record %x: %v", b, err)
		}
	}
	if _, err := UnmarshalSavedRecord(append([]byte{4}, b1[1:]...)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("saved record of version 4: %v, want ErrMalformed", err)
	}
	h := &HistoryEntry{Seq: 1, Height: 4, Op: OpRegister, Owner: r.Owner, Profile: r.Profile, ExpiresAt: 100}
	hs, err := UnmarshalHistory(MarshalHistory([]*HistoryEntry{h, h}))
	if err != nil || len(hs) != 2 || !bytes.Equal(hs[1].Marshal(), h.Marshal()) {
		t.Fatalf("history round trip: %v", err)
	}
	// The record holds its newest history entry.
	if got := r.Latest().Marshal(); !bytes.Equal(got, h.Marshal()) {
		t.Fatalf("Latest = %x, want %x", got, h.Marshal())
	}
}

func TestAccountRoundTrip(t *testing.T) {
	for _, a := range []*Account{
		{},
		{Nonce: 7, Preorders: 2, PruneAt: 900},
		{Nonce: 1, PruneAt: 5, Names: []string{"alice", "bob"}},
	} {
		b := a.Marshal()
		got, err := UnmarshalAccount(b)
		if err != nil || !bytes.Equal(got.Marshal(), b) || len(got.Names) != len(a.Names) {
			t.Fatalf("account %+v: %+v, %v", a, got, err)
		}
		if _, err := UnmarshalAccount(append(b, 0)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("trailing byte: %v", err)
		}
	}
	// Version 1 (no names) is refused.
	if _, err := UnmarshalAccount(append([]byte{1}, make([]byte, 24)...)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("version 1: %v", err)
	}
}

func TestProfileValidate(t *testing.T) {
	good := sampleTxs(t)[1].Profile
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	mut := func(f func(p *Profile)) Profile { p := good.Clone(); f(&p); return p }
	for name, p := range map[string]Profile{
		"no signing key":   mut(func(p *Profile) { p.SigningKey = PublicKey{} }),
		"no enc keys":      mut(func(p *Profile) { p.EncKeys = nil }),
		"hybrid first":     mut(func(p *Profile) { p.EncKeys = []EncKey{p.EncKeys[1], p.EncKeys[0]} }),
		"short x25519":     mut(func(p *Profile) { p.EncKeys[0].Key = p.EncKeys[0].Key[:31] }),
		"short hybrid":     mut(func(p *Profile) { p.EncKeys[1].Key = p.EncKeys[1].Key[:100] }),
		"unknown kem":      mut(func(p *Profile) { p.EncKeys[1].KEM = 0x0010 }),
		"no hubs":          mut(func(p *Profile) { p.Hubs = nil }),
		"four hubs":        mut(func(p *Profile) { p.Hubs = []string{"http://a", "http://b", "http://c", "http://d"} }),
		"duplicate hub":    mut(func(p *Profile) { p.Hubs = []string{"http://a", "http://a"} }),
		"non-http hub URL": mut(func(p *Profile) { p.Hubs = []string{"file:///etc"} }),
	} {
		if err := p.Validate(); !errors.Is(err, ErrInvalidProfile) {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
}

func TestPow(t *testing.T) {
	owner := PublicKeyOf(testKey(1))
	n, err := SolvePow(context.Background(), "c", "alice", owner, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPow("c", "alice", owner, n, 10) {
		t.Fatal("solved stamp does not check")
	}
	if CheckPow("c", "bob", owner, n, 10) && CheckPow("c", "alice", PublicKeyOf(testKey(2)), n, 10) {
		t.Fatal("stamp not bound to name and owner")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SolvePow(ctx, "c", "alice", owner, 40); !errors.Is(err, context.Canceled) {
		t.Fatalf("SolvePow with a cancelled context: %v, want context.Canceled", err)
	}
}

// TestPreorderPow: a preorder stamp is bound to its commitment, owner and
// chain, and is no registration stamp.
func TestPreorderPow(t *testing.T) {
	owner := PublicKeyOf(testKey(1))
	commitment := PreorderCommitment("c", "alice", [32]byte{1}, owner)
	n, err := SolvePreorderPow(context.Background(), "c", commitment, owner, 12)
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPreorderPow("c", commitment, owner, n, 12) {
		t.Fatal("solved stamp does not check")
	}
	h := PreorderPowHash("c", commitment, owner, n)
	if h == PreorderPowHash("c", commitment, PublicKeyOf(testKey(2)), n) || h == PreorderPowHash("d", commitment, owner, n) ||
		h == PreorderPowHash("c", PreorderCommitment("c", "alice", [32]byte{2}, owner), owner, n) {
		t.Fatal("stamp hash not bound to commitment, owner and chain")
	}
	if h == PowHash("c", "alice", owner, n) {
		t.Fatal("a preorder stamp hashes as a registration stamp")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SolvePreorderPow(ctx, "c", commitment, owner, 40); !errors.Is(err, context.Canceled) {
		t.Fatalf("SolvePreorderPow with a cancelled context: %v", err)
	}
}

// TestRetiredTxVersion: a version-1 transaction (no expiry height) is
// refused with a reason.
func TestRetiredTxVersion(t *testing.T) {
	tx := sampleTxs(t)[0]
	tx.Sign("c", testKey(1))
	raw := tx.Marshal()
	raw[0] = 1
	if _, err := DecodeTx(raw); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "retired") {
		t.Fatalf("version 1: %v", err)
	}
}

func TestParamsRoundTrip(t *testing.T) {
	for _, p := range []Params{DefaultParams(), LocalParams()} {
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalParams(p.Marshal())
		if err != nil || got != p {
			t.Fatalf("params round trip: %+v %v", got, err)
		}
	}
	if p, err := ParseGenesisParams(nil); err != nil || p != DefaultParams() {
		t.Fatalf("empty app_state: %+v %v", p, err)
	}
	if _, err := ParseGenesisParams([]byte(`{"preorder_ttl":1} {}`)); !errors.Is(err, ErrInvalidParams) {
		t.Fatalf("trailing JSON: %v, want ErrInvalidParams", err)
	}
}

func TestPublicKeyString(t *testing.T) {
	k := PublicKeyOf(testKey(1))
	got, err := ParsePublicKey(k.String())
	if err != nil || got != k {
		t.Fatalf("parse(String()) = %v, %v", got, err)
	}
	for _, s := range []string{strings.ToUpper(k.String()), k.String()[8:], k.String() + "00", "ed25519:" + strings.ToUpper(k.String()[8:])} {
		if _, err := ParsePublicKey(s); err == nil || !strings.HasSuffix(err.Error(), `is not "ed25519:" followed by 64 lowercase hex digits`) {
			t.Errorf("ParsePublicKey(%q) = %v, want a non-canonical form refused with the rule", s, err)
		}
	}
}

// FuzzDecodeTx: decoding never panics, and whatever decodes re-encodes to
// exactly the input (one canonical form per transaction).
func FuzzDecodeTx(f *testing.F) {
	for _, tx := range sampleTxs(f) {
		tx.Sign("c", testKey(1))
		f.Add(tx.Marshal())
	}
	// A retired version-1 preorder: refused.
	f.Add(append([]byte{1, 1}, make([]byte, 32+8+32+64)...))
	f.Add([]byte{})
	f.Add([]byte{2, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := DecodeTx(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if !bytes.Equal(tx.Marshal(), b) {
			t.Fatalf("re-encoding differs")
		}
		_ = tx.ValidateBasic()
	})
}

// TestI64Bound: an i64 is a u64 below 2^62 (docs/protocol.md, Encoding):
// 2^62 - 1 decodes, 2^62 and above are malformed, in a transaction's
// expiry height as in every other i64 field.
func TestI64Bound(t *testing.T) {
	tx := sampleTxs(t)[0]
	tx.Sign("c", testKey(1))
	for _, tc := range []struct {
		v  uint64
		ok bool
	}{{1<<62 - 1, true}, {1 << 62, false}, {1<<62 + 1, false}, {1 << 63, false}, {^uint64(0), false}} {
		raw := tx.Marshal()
		binary.BigEndian.PutUint64(raw[42:50], tc.v) // the expiry height
		_, err := DecodeTx(raw)
		if tc.ok && err != nil {
			t.Errorf("expiry height %d: %v", tc.v, err)
		}
		if !tc.ok && !errors.Is(err, ErrMalformed) {
			t.Errorf("expiry height %d: got %v, want ErrMalformed", tc.v, err)
		}
	}
}
