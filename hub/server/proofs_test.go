package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/hub/proofs"
	"github.com/parley-im/parley/hub/server"
)

// webPages is the web as the proof checker sees it: URL → page.
type webPages map[string]string

func (w webPages) RoundTrip(r *http.Request) (*http.Response, error) {
	page, ok := w[r.URL.String()]
	status := http.StatusOK
	if !ok {
		status = http.StatusNotFound
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Body: io.NopCloser(strings.NewReader(page)), Header: http.Header{}, Request: r}, nil
}

// TestProofsRequired: a hub requiring one social proof (Gaia's
// proofsRequired) refuses writes and deletes with 402 until the bucket's
// profile.json, a profile token signed by the bucket's key, lists an
// account whose proof page says the address; profile.json itself is
// always writable. A profile signed by another key, a proof page that
// does not say the address, or one off the service's site proves nothing.
func TestProofsRequired(t *testing.T) {
	web := webPages{}
	e := newEnv(t, func(c *server.Config) {
		c.ProofsRequired = 1
		c.Proofs = &proofs.Checker{Transport: web}
	})
	write := func(path, body string) (int, string) {
		res, b := e.do("POST", "/store/"+e.addr+"/"+path, []byte(body), "Authorization", e.tok)
		return res.StatusCode, errorClass(b)
	}
	if code, class := write("notes.txt", "x"); code != 402 || class != "NotEnoughProofError" {
		t.Fatalf("a write without a profile: %d %s, want 402 NotEnoughProofError", code, class)
	}
	profile := func(key *secp256k1.PrivateKey, proofURL string) string {
		tok := auth.MakeProfileToken(key, map[string]any{"@type": "Person", "account": []map[string]string{
			{"@type": "Account", "service": "github", "identifier": "alice", "proofType": "http", "proofUrl": proofURL}}}, time.Now())
		b, _ := json.Marshal([]map[string]string{{"token": tok}})
		return string(b)
	}
	gist := "https://gist.github.com/alice/0123abcd"
	web[gist+"/raw"] = "<p>Verifying my Blockstack ID is secured with the address " + e.addr + "</p>"
	web["https://evil.example/alice"] = web[gist+"/raw"]
	other, _ := secp256k1.GeneratePrivateKey()
	for _, tc := range []struct {
		name, profile string
	}{
		{"signed by another key", profile(other, gist)},
		{"a proof page off the service", profile(e.key, "https://evil.example/alice")},
		{"a proof page that does not say the address", profile(e.key, "https://gist.github.com/alice/ffff")},
	} {
		if code, class := write("profile.json", tc.profile); code != 202 {
			t.Fatalf("%s: writing profile.json: %d %s", tc.name, code, class)
		}
		if code, class := write("notes.txt", "x"); code != 402 || class != "NotEnoughProofError" {
			t.Fatalf("%s: write %d %s, want 402", tc.name, code, class)
		}
	}
	if code, class := write("profile.json", profile(e.key, gist)); code != 202 {
		t.Fatalf("writing profile.json: %d %s", code, class)
	}
	if code, class := write("notes.txt", "x"); code != 202 {
		t.Fatalf("a write with one valid proof: %d %s", code, class)
	}
	if res, b := e.do("DELETE", "/delete/"+e.addr+"/notes.txt", nil, "Authorization", e.tok); res.StatusCode != 202 {
		t.Fatalf("a delete with one valid proof: %d %s", res.StatusCode, b)
	}
}
