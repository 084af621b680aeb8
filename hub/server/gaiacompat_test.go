package server_test

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/hub/server"
)

// TestArchivalScopes: a Gaia token with archival scopes (as a wallet
// issues for an app) writes and deletes only the paths they name; each
// overwrite keeps the old version as ".history.<ms>.<id>.<name>" in the
// same directory, a delete only renames, and its listings leave history
// files out (a page they empty is [null]), as Gaia does. A token without
// archival scopes sees the history files.
func TestArchivalScopes(t *testing.T) {
	e := newEnv(t, nil)
	arch := "bearer v1:" + auth.MakeGaia(e.key, auth.GaiaClaims{GaiaChallenge: e.srv.Challenge(),
		Scopes: []auth.Scope{{Scope: auth.ScopePutFileArchivalPrefix, Domain: "notes/"}, {Scope: auth.ScopePutFileArchival, Domain: "profile.json"}}})
	put := func(path, body string) {
		t.Helper()
		if res, b := e.do("POST", "/store/"+e.addr+"/"+path, []byte(body), "Authorization", arch); res.StatusCode != 202 {
			t.Fatalf("archival write of %s: %d %s", path, res.StatusCode, b)
		}
	}
	put("notes/a.txt", "v1")
	put("notes/a.txt", "v2")
	put("notes/a.txt", "v3")
	if _, b := e.do("GET", "/read/"+e.addr+"/notes/a.txt", nil); string(b) != "v3" {
		t.Fatalf("current version: %q", b)
	}
	if res, b := e.do("POST", "/store/"+e.addr+"/other.txt", []byte("x"), "Authorization", arch); res.StatusCode != 401 {
		t.Fatalf("an archival token wrote outside its scopes: %d %s", res.StatusCode, b)
	}
	if res, b := e.do("DELETE", "/delete/"+e.addr+"/notes/a.txt", nil, "Authorization", arch); res.StatusCode != 202 {
		t.Fatalf("archival delete: %d %s", res.StatusCode, b)
	}
	if res, _ := e.do("GET", "/read/"+e.addr+"/notes/a.txt", nil); res.StatusCode != 404 {
		t.Fatalf("deleted file still read: %d", res.StatusCode)
	}
	// The full listing (a token without archival scopes) has the three
	// old versions, named as Gaia names them, with their contents.
	names := listAll(t, e, e.tok)
	hist := regexp.MustCompile(`^notes/\.history\.(\d{13})\.[0-9A-Za-z]{10}\.a\.txt$`)
	var versions []string
	for _, n := range names {
		m := hist.FindStringSubmatch(n)
		if m == nil {
			t.Fatalf("unexpected name %q in %v", n, names)
		}
		if ms, _ := strconv.ParseInt(m[1], 10, 64); time.Since(time.UnixMilli(ms)) > time.Minute {
			t.Fatalf("history time %s is not now", m[1])
		}
		_, b := e.do("GET", "/read/"+e.addr+"/"+n, nil)
		versions = append(versions, string(b))
	}
	if strings.Join(sortedCopy(versions), ",") != "v1,v2,v3" {
		t.Fatalf("history holds %v, want v1, v2, v3", versions)
	}
	// The archival token's listing hides them; a page (of 3) emptied by
	// the filter, with more to come, is [null] and a page token, as in
	// Gaia.
	put("notes/z.txt", "z")
	res, b := e.do("POST", "/list-files/"+e.addr, []byte(`{"page":null}`), "Authorization", arch)
	var page struct {
		Entries []*string `json:"entries"`
		Page    *string   `json:"page"`
	}
	json.Unmarshal(b, &page)
	if res.StatusCode != 202 || len(page.Entries) != 1 || page.Entries[0] != nil || page.Page == nil {
		t.Fatalf("archival listing of history files only: %d %s", res.StatusCode, b)
	}
	put("notes/b.txt", "b")
	for i := 0; i < 4; i++ {
		put("notes/a.txt", "again")
	}
	if got := listAll(t, e, arch); strings.Join(got, ",") != "notes/a.txt,notes/b.txt,notes/z.txt" {
		t.Fatalf("archival listing: %v, want the three current files only", got)
	}
	// A file name too long to keep its history is refused, not
	// overwritten without one.
	long := "notes/" + strings.Repeat("n", 60)
	put(long, "first")
	if res, b := e.do("POST", "/store/"+e.addr+"/"+long, []byte("second"), "Authorization", arch); res.StatusCode != 403 || errorClass(b) != "BadPathError" {
		t.Fatalf("overwrite of a name too long for its history: %d %s", res.StatusCode, b)
	}
}

// listAll follows list-files pages with tok, skipping null entries as
// Stacks.js does.
func listAll(t *testing.T, e *env, tok string) []string {
	t.Helper()
	var names []string
	var pageTok *string
	for {
		body, _ := json.Marshal(map[string]any{"page": pageTok})
		res, b := e.do("POST", "/list-files/"+e.addr, body, "Authorization", tok)
		if res.StatusCode != 202 {
			t.Fatalf("list: %d %s", res.StatusCode, b)
		}
		var page struct {
			Entries []*string `json:"entries"`
			Page    *string   `json:"page"`
		}
		json.Unmarshal(b, &page)
		for _, n := range page.Entries {
			if n != nil {
				names = append(names, *n)
			}
		}
		if page.Page == nil || len(page.Entries) == 0 {
			return names
		}
		pageTok = page.Page
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

// TestWhitelist: a hub with a whitelist takes tokens only of the
// addresses it lists, on every authenticated route; a Gaia association
// token counts its identity's address (Gaia's signing address).
func TestWhitelist(t *testing.T) {
	identity, _ := secp256k1.GeneratePrivateKey()
	listed, _ := secp256k1.GeneratePrivateKey()
	e := newEnv(t, func(c *server.Config) {
		c.Whitelist = []string{auth.GaiaAddress(listed.PubKey().SerializeCompressed()), auth.GaiaAddress(identity.PubKey().SerializeCompressed())}
	})
	for _, tc := range []struct {
		path, tok string
	}{
		{"/store/" + e.addr + "/x", e.tok},
		{"/list-files/" + e.addr, e.tok},
		{"/revoke-all/" + e.addr, e.tok},
	} {
		if res, b := e.do("POST", tc.path, []byte(`{"oldestValidTimestamp":1}`), "Authorization", tc.tok); res.StatusCode != 401 || !strings.Contains(string(b), "not authorized") {
			t.Fatalf("unlisted address, %s: %d %s", tc.path, res.StatusCode, b)
		}
	}
	if res, b := e.do("DELETE", "/delete/"+e.addr+"/x", nil, "Authorization", e.tok); res.StatusCode != 401 {
		t.Fatalf("unlisted delete: %d %s", res.StatusCode, b)
	}
	la := auth.GaiaAddress(listed.PubKey().SerializeCompressed())
	tok := "bearer v1:" + auth.MakeGaia(listed, auth.GaiaClaims{GaiaChallenge: e.srv.Challenge()})
	if res, b := e.do("POST", "/store/"+la+"/x", []byte("ok"), "Authorization", tok); res.StatusCode != 202 {
		t.Fatalf("listed address: %d %s", res.StatusCode, b)
	}
	// The unlisted app key, delegated by a listed identity.
	assoc := auth.MakeAssociation(identity, e.key.PubKey(), float64(time.Now().Add(time.Hour).Unix()))
	delegated := "bearer v1:" + auth.MakeGaia(e.key, auth.GaiaClaims{GaiaChallenge: e.srv.Challenge(), AssociationToken: assoc})
	if res, b := e.do("POST", "/store/"+e.addr+"/x", []byte("ok"), "Authorization", delegated); res.StatusCode != 202 {
		t.Fatalf("app key of a listed identity: %d %s", res.StatusCode, b)
	}
}

// TestGaiaRevocationPlace: with GaiaRevocation, a revoke-all is stored
// where Gaia stores it and readable there, and holds.
func TestGaiaRevocationPlace(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.GaiaRevocation = true })
	ts := time.Now().Add(-time.Minute).Unix()
	if res, b := revoke(e, e.addr, e.tok, ts); res.StatusCode != 202 {
		t.Fatalf("revoke-all: %d %s", res.StatusCode, b)
	}
	res, b := e.do("GET", "/read/"+e.addr+"-auth/authTimestamp", nil)
	if res.StatusCode != 200 || string(b) != strconv.FormatInt(ts, 10) {
		t.Fatalf("Gaia's %s-auth/authTimestamp: %d %q, want %d", e.addr, res.StatusCode, b, ts)
	}
	if res, b := e.do("POST", "/store/"+e.addr+"/x", []byte("x"), "Authorization", e.tok); res.StatusCode != 401 || errorClass(b) != "AuthTokenTimestampValidationError" {
		t.Fatalf("a token without iat after revoke-all: %d %s", res.StatusCode, b)
	}
	// Without the setting, nothing is served there.
	plain := newEnv(t, nil)
	revoke(plain, plain.addr, plain.tok, ts)
	if res, _ := plain.do("GET", "/read/"+plain.addr+"-auth/authTimestamp", nil); res.StatusCode != 404 {
		t.Fatalf("internal revocation served: %d", res.StatusCode)
	}
}

// TestGaiaValidHubURLs: with RequireGaiaHubURL, a Gaia token's hubUrl
// must name the hub's public URL or one of GaiaHubURLs.
func TestGaiaValidHubURLs(t *testing.T) {
	e := newEnv(t, func(c *server.Config) {
		c.RequireGaiaHubURL = true
		c.GaiaHubURLs = []string{"https://old-name.example/"}
	})
	for hubURL, want := range map[string]int{e.url: 202, "https://old-name.example": 202, "https://OLD-name.example/": 202, "https://other.example": 401, "": 401} {
		tok := "bearer v1:" + auth.MakeGaia(e.key, auth.GaiaClaims{GaiaChallenge: e.srv.Challenge(), HubURL: hubURL})
		if res, b := e.do("POST", "/store/"+e.addr+"/x", []byte("x"), "Authorization", tok); res.StatusCode != want {
			t.Errorf("hubUrl %q: %d %s, want %d", hubURL, res.StatusCode, b, want)
		}
	}
}
