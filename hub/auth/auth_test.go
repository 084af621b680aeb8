package auth

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// The P2PKH address of the compressed public key of private key 1 is a
// published Bitcoin test vector.
func TestGaiaAddressVector(t *testing.T) {
	pub, _ := hex.DecodeString("0279BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798")
	if got, want := GaiaAddress(pub), "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"; got != want {
		t.Fatalf("GaiaAddress = %s, want %s", got, want)
	}
	if got := base58Encode([]byte{0, 0, 1}); got != "112" {
		t.Fatalf("base58 leading zeros: %s", got)
	}
}

func TestChallengeText(t *testing.T) {
	if got, want := Challenge("gaia-local"), `["gaiahub","0","gaia-local","blockstack_storage_please_sign"]`; got != want {
		t.Fatalf("Challenge = %s", got)
	}
}

var now = time.Unix(1_800_000_000, 0)

func f(v float64) *float64 { return &v }

func TestVerify(t *testing.T) {
	v := &Verifier{Challenge: Challenge("hub-a"), ServerName: "hub-a", Now: func() time.Time { return now }}
	key, _ := secp256k1.GeneratePrivateKey()
	other, _ := secp256k1.GeneratePrivateKey()
	addr := GaiaAddress(key.PubKey().SerializeCompressed())
	gaia := func(c GaiaClaims) string {
		if c.GaiaChallenge == "" {
			c.GaiaChallenge = v.Challenge
		}
		return "bearer v1:" + MakeGaia(key, c)
	}
	edKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	edAddr := NativeAddress(edKey.Public().(ed25519.PublicKey))
	native := func(challenge string, exp time.Time, scopes []Scope) string {
		return "Bearer " + MakeNative(edKey, challenge, now, exp, scopes)
	}
	good := gaia(GaiaClaims{})

	for _, tc := range []struct {
		name, header, address string
		ok                    bool
	}{
		{"stacks.js token (no exp, no iat)", good, addr, true},
		{"scheme case-insensitive", "BEARER " + good[7:], addr, true},
		{"with exp and iat", gaia(GaiaClaims{Exp: f(float64(now.Unix()) + 60.5), Iat: f(float64(now.Unix()))}), addr, true},
		{"legacy 2019 challenge", gaia(GaiaClaims{GaiaChallenge: `["gaiahub","2019","hub-a","blockstack_storage_please_sign"]`}), addr, true},
		{"put scopes", gaia(GaiaClaims{Scopes: []Scope{{ScopePutFilePrefix, "a/"}}}), addr, true},
		{"association token", gaia(GaiaClaims{AssociationToken: MakeAssociation(other, key.PubKey(), float64(now.Unix()+3600))}), addr, true},
		{"native", native(v.Challenge, now.Add(time.Hour), nil), edAddr, true},

		{"no header", "", addr, false},
		{"basic auth", "Basic dXNlcjpwYXNz", addr, false},
		{"legacy token", "bearer eyJwdWJsaWNrZXkiOiIwMiJ9", addr, false},
		{"unknown version", "bearer v2:" + good[10:], addr, false},
		{"wrong address", good, "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH", false},
		{"other hub's challenge", gaia(GaiaClaims{GaiaChallenge: Challenge("hub-b")}), addr, false},
		{"expired", gaia(GaiaClaims{Exp: f(float64(now.Unix()) - 1)}), addr, false},
		{"forged signature", good[:len(good)-4] + "AAAA", addr, false},
		{"signature by another key", "bearer v1:" + strings.Join(append(strings.Split(MakeGaia(key, GaiaClaims{GaiaChallenge: v.Challenge}), ".")[:2], strings.Split(MakeGaia(other, GaiaClaims{GaiaChallenge: v.Challenge}), ".")[2]), "."), addr, false},
		{"unknown scope", gaia(GaiaClaims{Scopes: []Scope{{"readAll", ""}}}), addr, false},
		{"archival scope", gaia(GaiaClaims{Scopes: []Scope{{"putFileArchival", "a"}}}), addr, false},
		{"too many scopes", gaia(GaiaClaims{Scopes: make([]Scope, 9)}), addr, false},
		{"expired association", gaia(GaiaClaims{AssociationToken: MakeAssociation(other, key.PubKey(), float64(now.Unix()-1))}), addr, false},
		{"association for another key", gaia(GaiaClaims{AssociationToken: MakeAssociation(other, other.PubKey(), float64(now.Unix()+3600))}), addr, false},
		{"not a JWS", "bearer v1:abc", addr, false},
		{"native for another hub", native(Challenge("hub-b"), now.Add(time.Hour), nil), edAddr, false},
		{"native expired", native(v.Challenge, now.Add(-time.Second), nil), edAddr, false},
		{"native too long-lived", native(v.Challenge, now.Add(400*24*time.Hour), nil), edAddr, false},
		{"native for another address", native(v.Challenge, now.Add(time.Hour), nil), addr, false},
		{"native tampered", strings.Replace(native(v.Challenge, now.Add(time.Hour), nil), "parley1:e", "parley1:f", 1), edAddr, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := v.Verify(tc.header, tc.address)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if g.Address != tc.address {
					t.Fatalf("grant for %s", g.Address)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("error does not wrap ErrUnauthorized: %v", err)
			}
		})
	}
}

func TestScopes(t *testing.T) {
	g := &Grant{Scopes: []Scope{{ScopePutFile, "exact.json"}, {ScopePutFilePrefix, "dir/"}}}
	for path, want := range map[string]bool{"exact.json": true, "dir/x": true, "exact.json2": false, "other": false} {
		if g.AllowPut(path) != want {
			t.Errorf("AllowPut(%q) = %v", path, !want)
		}
	}
	if !g.AllowDelete("anything") {
		t.Error("put scopes restricted deletes")
	}
	if !(&Grant{}).AllowPut("x") {
		t.Error("a grant without scopes refused a write")
	}
}

// FuzzVerify: no header, however malformed, panics the verifier or is
// accepted without a valid signature.
func FuzzVerify(f *testing.F) {
	v := &Verifier{Challenge: Challenge("hub"), ServerName: "hub", Now: func() time.Time { return now }}
	key, _ := secp256k1.GeneratePrivateKey()
	f.Add("bearer v1:" + MakeGaia(key, GaiaClaims{GaiaChallenge: v.Challenge}))
	f.Add("bearer " + MakeNative(ed25519.NewKeyFromSeed(make([]byte, 32)), v.Challenge, now, now.Add(time.Hour), nil))
	f.Add("bearer v1:a.b.c")
	f.Fuzz(func(t *testing.T, header string) {
		if g, err := v.Verify(header, "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"); err == nil {
			t.Fatalf("accepted a token for a key nobody here holds: %+v", g)
		}
	})
}

// TestCachedTokenExpires: a token verified once is cached, but its expiry
// is checked on every use.
func TestCachedTokenExpires(t *testing.T) {
	clock := now
	v := &Verifier{Challenge: Challenge("h"), ServerName: "h", Now: func() time.Time { return clock }}
	key, _ := secp256k1.GeneratePrivateKey()
	addr := GaiaAddress(key.PubKey().SerializeCompressed())
	tok := "bearer v1:" + MakeGaia(key, GaiaClaims{GaiaChallenge: v.Challenge, Exp: f(float64(now.Unix() + 60))})
	for i := 0; i < 2; i++ {
		if _, err := v.Verify(tok, addr); err != nil {
			t.Fatalf("use %d: %v", i, err)
		}
	}
	clock = now.Add(61 * time.Second)
	if _, err := v.Verify(tok, addr); err == nil {
		t.Fatal("an expired cached token was accepted")
	}
	if _, err := v.Verify(tok, "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"); err == nil {
		t.Fatal("a cached token was accepted for another address")
	}
}
