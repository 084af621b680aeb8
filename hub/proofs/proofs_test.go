package proofs_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/parley-im/parley/hub/proofs"
)

// web answers in-process: URL → (status, location, page).
type web map[string][3]string

func (w web) RoundTrip(r *http.Request) (*http.Response, error) {
	a, ok := w[r.URL.String()]
	if !ok {
		a = [3]string{"404", "", ""}
	}
	code := map[string]int{"200": 200, "302": 302, "404": 404}[a[0]]
	h := http.Header{}
	if a[1] != "" {
		h.Set("Location", a[1])
	}
	return &http.Response{StatusCode: code, Status: a[0], Header: h, Body: io.NopCloser(strings.NewReader(a[2])), Request: r}, nil
}

// TestCheck: a proof holds only on the service's own https hosts, for the
// account's identifier, when the page says the address (in any case,
// whatever the markup); a redirect off the service, or a page that does
// not say it, proves nothing.
func TestCheck(t *testing.T) {
	const addr = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"
	says := "<div>Verifying my <b>Blockstack</b> ID is secured with the address " + addr + "</div>"
	w := web{
		"https://gist.github.com/alice/1/raw":              {"200", "", says},
		"https://twitter.com/alice/status/1":               {"200", "", strings.ToUpper(says[5:len(says)-6]) + " &amp; more"},
		"https://gist.github.com/alice/2/raw":              {"302", "https://internal.example/secret", ""},
		"https://gist.github.com/alice/3/raw":              {"200", "", "nothing to see"},
		"https://news.ycombinator.com/user?id=alice":       {"200", "", says},
		"http://gist.github.com/alice/1/raw":               {"200", "", says},
		"https://gist.github.com.evil.example/alice/1/raw": {"200", "", says},
	}
	c := &proofs.Checker{Transport: w}
	for _, tc := range []struct {
		name string
		a    proofs.Account
		ok   bool
	}{
		{"a gist", proofs.Account{Service: "github", Identifier: "alice", ProofType: "http", ProofURL: "https://gist.github.com/alice/1"}, true},
		{"a tweet, other case and entities", proofs.Account{Service: "twitter", Identifier: "alice", ProofType: "http", ProofURL: "https://twitter.com/alice/status/1"}, true},
		{"hacker news", proofs.Account{Service: "hackerNews", Identifier: "alice", ProofType: "http", ProofURL: "https://news.ycombinator.com/user?id=alice"}, true},
		{"redirected off the service", proofs.Account{Service: "github", Identifier: "alice", ProofType: "http", ProofURL: "https://gist.github.com/alice/2"}, false},
		{"a page that does not say it", proofs.Account{Service: "github", Identifier: "alice", ProofType: "http", ProofURL: "https://gist.github.com/alice/3"}, false},
		{"plain http", proofs.Account{Service: "github", Identifier: "alice", ProofType: "http", ProofURL: "http://gist.github.com/alice/1"}, false},
		{"another host", proofs.Account{Service: "github", Identifier: "alice", ProofType: "http", ProofURL: "https://gist.github.com.evil.example/alice/1"}, false},
		{"another account's page", proofs.Account{Service: "github", Identifier: "bob", ProofType: "http", ProofURL: "https://gist.github.com/alice/1"}, false},
		{"an unknown service", proofs.Account{Service: "myspace", Identifier: "alice", ProofType: "http", ProofURL: "https://gist.github.com/alice/1"}, false},
	} {
		if err := c.Check(context.Background(), addr, tc.a); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want valid %v", tc.name, err, tc.ok)
		}
	}
}
