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
	v := &Verifier{Challenge: Challenge("hub-a"), ServerName: "hub-a", HubURL: "https://hub-a.example", Now: func() time.Time { return now }}
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
	native := func(hubURL string, exp time.Time, scopes []Scope) string {
		return "Bearer " + MakeNative(edKey, hubURL, now, exp, scopes)
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
		{"native", native(v.HubURL, now.Add(time.Hour), nil), edAddr, true},
		{"native, URL as published with a slash and capitals", native("HTTPS://Hub-A.example/", now.Add(time.Hour), nil), edAddr, true},
		{"native with every scope", native(v.HubURL, now.Add(time.Hour), []Scope{{ScopePutFilePrefix, "m/"}, {ScopeDeleteFile, "x"}, {ScopeListFiles, ""}, {ScopeInbox, ""}, {ScopeRevokeAll, ""}}), edAddr, true},

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
		{"archival scope", gaia(GaiaClaims{Scopes: []Scope{{ScopePutFileArchival, "a"}, {ScopePutFileArchivalPrefix, "b/"}}}), addr, true},
		{"too many scopes", gaia(GaiaClaims{Scopes: make([]Scope, 9)}), addr, false},
		{"expired association", gaia(GaiaClaims{AssociationToken: MakeAssociation(other, key.PubKey(), float64(now.Unix()-1))}), addr, false},
		{"association for another key", gaia(GaiaClaims{AssociationToken: MakeAssociation(other, other.PubKey(), float64(now.Unix()+3600))}), addr, false},
		{"not a JWS", "bearer v1:abc", addr, false},
		{"native for another hub", native("https://hub-b.example", now.Add(time.Hour), nil), edAddr, false},
		{"native bound to the challenge text (parley1)", "bearer parley1:" + strings.SplitN(native(v.Challenge, now.Add(time.Hour), nil), ":", 2)[1], edAddr, false},
		{"native expired", native(v.HubURL, now.Add(-time.Second), nil), edAddr, false},
		{"native too long-lived", native(v.HubURL, now.Add(400*24*time.Hour), nil), edAddr, false},
		{"native for another address", native(v.HubURL, now.Add(time.Hour), nil), addr, false},
		{"native tampered", strings.Replace(native(v.HubURL, now.Add(time.Hour), nil), "parley2:e", "parley2:f", 1), edAddr, false},
		{"native scope with a domain where none goes", native(v.HubURL, now.Add(time.Hour), []Scope{{ScopeListFiles, "x"}}), edAddr, false},
		{"native unknown scope", native(v.HubURL, now.Add(time.Hour), []Scope{{"readAll", ""}}), edAddr, false},
		{"gaia with a native-only scope", gaia(GaiaClaims{Scopes: []Scope{{ScopeListFiles, ""}}}), addr, false},
		{"token over MaxTokenBytes", gaia(GaiaClaims{HubURL: strings.Repeat("h", MaxTokenBytes)}), addr, false},
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
	if !g.AllowList() || !g.AllowInbox() || !g.AllowRevokeAll() {
		t.Error("a Gaia grant with put scopes was refused listing, the inbox or revoke-all (Gaia never restricts them)")
	}
	if g.Archival() || !g.AllowArchival("other") {
		t.Error("a grant without archival scopes is archival")
	}
	// Archival scopes restrict writes and deletes to what they name (as
	// Gaia's checkArchivalRestrictions), beside the put scopes.
	a := &Grant{Scopes: []Scope{{ScopePutFileArchival, "exact.json"}, {ScopePutFileArchivalPrefix, "dir/"}}}
	for path, want := range map[string]bool{"exact.json": true, "dir/x": true, "exact.json2": false, "other": false} {
		if !a.Archival() || a.AllowArchival(path) != want {
			t.Errorf("AllowArchival(%q) = %v", path, !want)
		}
	}
}

// TestNativeScopes: a native token with scopes allows exactly the
// operations they name; without scopes, everything.
func TestNativeScopes(t *testing.T) {
	type ops struct{ put, putOther, del, list, inbox, revoke bool }
	for _, tc := range []struct {
		name   string
		scopes []Scope
		want   ops
	}{
		{"none", nil, ops{true, true, true, true, true, true}},
		{"putFile only", []Scope{{ScopePutFile, "p"}}, ops{put: true}},
		{"putFilePrefix", []Scope{{ScopePutFilePrefix, ""}}, ops{put: true, putOther: true}},
		{"deleteFilePrefix", []Scope{{ScopeDeleteFilePrefix, "p"}}, ops{del: true}},
		{"listFiles", []Scope{{ScopeListFiles, ""}}, ops{list: true}},
		{"inbox", []Scope{{ScopeInbox, ""}}, ops{inbox: true}},
		{"revokeAll", []Scope{{ScopeRevokeAll, ""}}, ops{revoke: true}},
		{"put and list", []Scope{{ScopePutFile, "p"}, {ScopeListFiles, ""}}, ops{put: true, list: true}},
		{"putFileArchival", []Scope{{ScopePutFileArchival, "p"}}, ops{put: true, del: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &Grant{Scheme: NativeScheme, Scopes: tc.scopes}
			got := ops{g.AllowPut("p"), g.AllowPut("q"), g.AllowDelete("p"), g.AllowList(), g.AllowInbox(), g.AllowRevokeAll()}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCanonicalHubURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hub.example":          "https://hub.example",
		"https://hub.example/":         "https://hub.example",
		"HTTPS://Hub.Example:8443/x/":  "https://hub.example:8443/x",
		"http://127.0.0.1:4000":        "http://127.0.0.1:4000",
		"ftp://hub.example":            "",
		"https://u@hub.example":        "",
		"https://hub.example/?q=1":     "",
		"https://hub.example/#f":       "",
		"hub.example":                  "",
		"https:///path-without-a-host": "",
	} {
		got, err := CanonicalHubURL(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("CanonicalHubURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestCheapChecksFirst: a token for another address, another hub or past
// its expiry is refused without a signature check, and a refused token
// sent again costs none (refusals are cached).
func TestCheapChecksFirst(t *testing.T) {
	v := &Verifier{Challenge: Challenge("h"), ServerName: "h", HubURL: "https://h.example", Now: func() time.Time { return now }}
	key, _ := secp256k1.GeneratePrivateKey()
	addr := GaiaAddress(key.PubKey().SerializeCompressed())
	ed := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	edAddr := NativeAddress(ed.Public().(ed25519.PublicKey))
	for _, tc := range []struct{ header, address string }{
		{"bearer v1:" + MakeGaia(key, GaiaClaims{GaiaChallenge: v.Challenge}), "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"},
		{"bearer v1:" + MakeGaia(key, GaiaClaims{GaiaChallenge: Challenge("other")}), addr},
		{"bearer " + MakeNative(ed, v.HubURL, now, now.Add(time.Hour), nil), addr},
		{"bearer " + MakeNative(ed, "https://other.example", now, now.Add(time.Hour), nil), edAddr},
		{"bearer " + MakeNative(ed, v.HubURL, now.Add(-2*time.Hour), now.Add(-time.Hour), nil), edAddr},
	} {
		for i := 0; i < 2; i++ {
			if _, err := v.Verify(tc.header, tc.address); !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("accepted: %v", err)
			}
		}
	}
	if n := v.Stats().Signatures; n != 0 {
		t.Fatalf("%d signature checks for tokens refused on their claims", n)
	}
	bad := "bearer " + MakeNative(ed, v.HubURL, now, now.Add(time.Hour), nil)
	bad = bad[:len(bad)-4] + "AAAA"
	for i := 0; i < 3; i++ {
		if _, err := v.Verify(bad, edAddr); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("a forged signature: %v", err)
		}
	}
	if n := v.Stats().Signatures; n != 1 {
		t.Fatalf("a forged token sent 3 times cost %d signature checks, want 1", n)
	}
	if got, ok := v.Subject(bad); !ok || got != edAddr {
		t.Fatalf("Subject of a native token = %q %v", got, ok)
	}
	if got, ok := v.Subject(tc0(key, v)); !ok || got != addr {
		t.Fatalf("Subject of a Gaia token = %q %v", got, ok)
	}
	if _, ok := v.Subject("bearer junk"); ok {
		t.Fatal("Subject of junk")
	}
}

func tc0(key *secp256k1.PrivateKey, v *Verifier) string {
	return "bearer v1:" + MakeGaia(key, GaiaClaims{GaiaChallenge: v.Challenge})
}

// TestCacheBudget: however many distinct valid tokens arrive, the cache
// stays within its byte budget, dropping the least recently used.
func TestCacheBudget(t *testing.T) {
	v := &Verifier{HubURL: "https://h.example", Now: func() time.Time { return now }, CacheBytes: 16 << 10}
	ed := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32))
	addr := NativeAddress(ed.Public().(ed25519.PublicKey))
	first := "bearer " + MakeNative(ed, v.HubURL, now, now.Add(time.Hour), nil)
	for i := 0; i < 500; i++ {
		tok := "bearer " + MakeNative(ed, v.HubURL, now, now.Add(time.Hour), []Scope{{ScopePutFilePrefix, strings.Repeat("d", 1000)}})
		if _, err := v.Verify(tok, addr); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			v.Verify(first, addr)
		}
		if st := v.Stats(); st.CacheBytes > v.CacheBytes {
			t.Fatalf("cache of %d bytes, budget %d", st.CacheBytes, v.CacheBytes)
		}
	}
	if st := v.Stats(); st.CacheEntries < 5 || st.CacheEntries > 16 {
		t.Fatalf("%d entries in a 16 KiB cache of ~1.3 KB entries", st.CacheEntries)
	}
	n := v.Stats().Signatures
	if _, err := v.Verify(first, addr); err != nil || v.Stats().Signatures != n+1 {
		t.Fatalf("the least recently used token was not dropped: %v", err)
	}
}

// TestGaiaHubURLRequired: with RequireGaiaHubURL a v1 token must name
// this hub in hubUrl, as Gaia's requireCorrectHubUrl does.
func TestGaiaHubURLRequired(t *testing.T) {
	v := &Verifier{Challenge: Challenge("h"), ServerName: "h", HubURL: "https://h.example", RequireGaiaHubURL: true, Now: func() time.Time { return now }}
	key, _ := secp256k1.GeneratePrivateKey()
	addr := GaiaAddress(key.PubKey().SerializeCompressed())
	for hubURL, ok := range map[string]bool{"https://h.example": true, "https://h.example/": true, "": false, "https://evil.example": false} {
		_, err := v.Verify("bearer v1:"+MakeGaia(key, GaiaClaims{GaiaChallenge: v.Challenge, HubURL: hubURL}), addr)
		if (err == nil) != ok || !ok && !errors.Is(err, ErrUnauthorized) {
			t.Errorf("hubUrl %q: %v, want ok=%v or ErrUnauthorized", hubURL, err, ok)
		}
	}
}

// FuzzVerify: no header, however malformed, panics the verifier (Verify
// or Subject) or is accepted without a valid signature; CanonicalHubURL of
// any string is a fixed point when it succeeds.
func FuzzVerify(f *testing.F) {
	v := &Verifier{Challenge: Challenge("hub"), ServerName: "hub", HubURL: "https://hub.example", Now: func() time.Time { return now }}
	key, _ := secp256k1.GeneratePrivateKey()
	f.Add("bearer v1:" + MakeGaia(key, GaiaClaims{GaiaChallenge: v.Challenge}))
	f.Add("bearer " + MakeNative(ed25519.NewKeyFromSeed(make([]byte, 32)), "https://hub.example", now, now.Add(time.Hour), nil))
	f.Add("bearer v1:a.b.c")
	f.Add("HTTPS://Hub.example:443/a/")
	f.Fuzz(func(t *testing.T, header string) {
		if g, err := v.Verify(header, "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("a token for a key nobody here holds: %+v, %v; want ErrUnauthorized", g, err)
		}
		v.Subject(header)
		// The canonical form of a hub URL is a fixed point.
		if u, err := CanonicalHubURL(header); err == nil {
			if again, err := CanonicalHubURL(u); err != nil || again != u {
				t.Fatalf("CanonicalHubURL(%q) = %q, then %q %v", header, u, again, err)
			}
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
	if _, err := v.Verify(tok, addr); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("an expired cached token: %v, want ErrUnauthorized", err)
	}
	if _, err := v.Verify(tok, "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("a cached token for another address: %v, want ErrUnauthorized", err)
	}
}
