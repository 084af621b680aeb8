package auth

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the test vector in testdata/")

// TestNativeTokenVector: a native token (version 2) made from a fixed key
// and claims is byte for byte the recorded one (Ed25519 signatures are
// deterministic), the hub at its URL accepts it, and the same token is
// refused by another hub, past its expiry, and signed without the domain.
func TestNativeTokenVector(t *testing.T) {
	const name = "native-token.txt"
	keys := []string{"seed", "hub-url", "now", "payload", "address", "token"}
	if *update {
		seed := bytes.Repeat([]byte{0x42}, 32)
		priv := ed25519.NewKeyFromSeed(seed)
		pub := priv.Public().(ed25519.PublicKey)
		published, now := "HTTPS://Hub.Example/", int64(1_800_000_000)
		hubURL, _ := CanonicalHubURL(published)
		c := nativeClaims{Iss: hex.EncodeToString(pub), Hub: hubURL, Adr: NativeAddress(pub), Exp: now + 3600, Iat: now,
			Scopes: []Scope{{ScopePutFilePrefix, "m/"}, {ScopeInbox, ""}}, Salt: strings.Repeat("5a", 16)}
		payload, _ := json.Marshal(c)
		tok := NativeScheme + ":" + b64.EncodeToString(payload) + "." + b64.EncodeToString(ed25519.Sign(priv, append([]byte(NativeDomain), payload...)))
		var b strings.Builder
		b.WriteString("# A native hub token, version 2 (docs/protocol.md, \"Tokens\"): the Ed25519 key of\n")
		b.WriteString("# seed, for the hub published as hub-url (canonical form in the payload), made at\n")
		b.WriteString("# now (unix seconds) for an hour, scoped to writes under m/ and the inbox.\n")
		for _, kv := range [][2]string{{"seed", hex.EncodeToString(seed)}, {"hub-url", published}, {"now", strconv.FormatInt(now, 10)},
			{"payload", string(payload)}, {"address", NativeAddress(pub)}, {"token", tok}} {
			fmt.Fprintf(&b, "%s: %s\n", kv[0], kv[1])
		}
		if err := os.WriteFile(filepath.Join("testdata", name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	v := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			continue
		}
		k, val, ok := strings.Cut(l, ": ")
		if !ok || !slices.Contains(keys, k) {
			t.Fatalf("bad line %q", l)
		}
		v[k] = val
	}
	if len(v) != len(keys) {
		t.Fatalf("%d of %d keys", len(v), len(keys))
	}
	seed, _ := hex.DecodeString(v["seed"])
	priv := ed25519.NewKeyFromSeed(seed)
	sig := ed25519.Sign(priv, append([]byte("parley/hub/token/v2\n"), v["payload"]...))
	if got := "parley2:" + b64.EncodeToString([]byte(v["payload"])) + "." + b64.EncodeToString(sig); got != v["token"] {
		t.Fatalf("token from the spec's layout:\n%s\nwant\n%s", got, v["token"])
	}
	sec, _ := strconv.ParseInt(v["now"], 10, 64)
	now := time.Unix(sec, 0)
	hubURL, err := CanonicalHubURL(v["hub-url"])
	if err != nil {
		t.Fatal(err)
	}
	verifier := func(hub string, at time.Time) *Verifier {
		return &Verifier{HubURL: hub, Now: func() time.Time { return at }}
	}
	g, err := verifier(hubURL, now).Verify("bearer "+v["token"], v["address"])
	if err != nil || g.Address != v["address"] || !g.AllowPut("m/x") || g.AllowPut("p/x") || !g.AllowInbox() || g.AllowList() {
		t.Fatalf("the vector: %+v %v", g, err)
	}
	noDomain := "parley2:" + b64.EncodeToString([]byte(v["payload"])) + "." + b64.EncodeToString(ed25519.Sign(priv, []byte(v["payload"])))
	for name, tc := range map[string]struct {
		v     *Verifier
		token string
	}{
		"another hub":           {verifier("https://hub.example:8443", now), v["token"]},
		"past its expiry":       {verifier(hubURL, now.Add(time.Hour)), v["token"]},
		"signed without domain": {verifier(hubURL, now), noDomain},
		"as version 1":          {verifier(hubURL, now), "parley1:" + strings.TrimPrefix(v["token"], "parley2:")},
		"for another address":   {verifier(hubURL, now), v["token"]},
	} {
		addr := v["address"]
		if name == "for another address" {
			addr = NativeAddress(make([]byte, 32))
		}
		if _, err := tc.v.Verify("bearer "+tc.token, addr); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
