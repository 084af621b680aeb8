// Package proofs checks Blockstack social proofs, for hubs that require
// them before writes (Gaia's proofsRequired; hubd --gaia-proofs-required):
// an account a profile lists is proven when the page at its proofUrl, on
// the service's own site, says "Verifying my Blockstack ID is secured with
// the address <address>". It does HTTP and nothing else.
//
// Gaia (through blockstack.js) scrapes each service's page layout with
// cheerio; this package reads the page's text (tags dropped) instead, so
// it does not depend on a layout the services change. It fetches only
// https URLs on the service's hosts, follows redirects only within them,
// reads at most 1 MiB, and gives each page 10 seconds.
//
// It must not know of storage or tokens.
package proofs

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Account is one social account of a profile (its "account" list).
type Account struct {
	Service    string `json:"service"`
	Identifier string `json:"identifier"`
	ProofType  string `json:"proofType"`
	ProofURL   string `json:"proofUrl"`
}

// services are the proof services blockstack.js knows, with the hosts a
// proof of each may live on.
var services = map[string][]string{
	"twitter":    {"twitter.com", "www.twitter.com", "mobile.twitter.com", "x.com"},
	"github":     {"gist.github.com", "github.com", "gist.githubusercontent.com"},
	"facebook":   {"www.facebook.com", "facebook.com", "m.facebook.com"},
	"instagram":  {"www.instagram.com", "instagram.com"},
	"hackerNews": {"news.ycombinator.com"},
	"linkedIn":   {"www.linkedin.com", "linkedin.com"},
}

// Checker checks proofs over HTTP. The zero value uses
// http.DefaultTransport.
type Checker struct {
	// Transport makes the requests (tests give one that answers
	// in-process).
	Transport http.RoundTripper
}

// MaxPage bounds a proof page.
const MaxPage = 1 << 20

// Valid counts the accounts whose proofs hold for address.
func (c *Checker) Valid(ctx context.Context, address string, accounts []Account) int {
	n := 0
	for _, a := range accounts {
		if a.ProofType == "http" && a.ProofURL != "" && c.Check(ctx, address, a) == nil {
			n++
		}
	}
	return n
}

// Check says why an account's proof does not hold for address (nil if it
// holds).
func (c *Checker) Check(ctx context.Context, address string, a Account) error {
	hosts, ok := services[a.Service]
	if !ok {
		return fmt.Errorf("proofs: unknown service %q", a.Service)
	}
	u, err := url.Parse(a.ProofURL)
	if err != nil || u.Scheme != "https" || !onHosts(u.Hostname(), hosts) || u.User != nil || u.Port() != "" {
		return fmt.Errorf("proofs: %q is not an https page of %s", a.ProofURL, a.Service)
	}
	if a.Identifier == "" || a.Service != "instagram" && a.Service != "linkedIn" && !strings.Contains(strings.ToLower(u.Path+"?"+u.RawQuery), strings.ToLower(a.Identifier)) {
		return fmt.Errorf("proofs: %s is not a page of %s's account %q", a.ProofURL, a.Service, a.Identifier)
	}
	if a.Service == "github" && u.Hostname() == "gist.github.com" && !strings.HasSuffix(u.Path, "/raw") {
		u.Path += "/raw" // the gist's text, as blockstack.js reads it
	}
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	hc := &http.Client{Transport: rt, Timeout: 10 * time.Second, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if len(via) >= 5 || r.URL.Scheme != "https" || !onHosts(r.URL.Hostname(), hosts) {
			return errors.New("redirected off the service")
		}
		return nil
	}}
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return err
	}
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("proofs: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("proofs: %s answered %s", u, res.Status)
	}
	page, err := io.ReadAll(io.LimitReader(res.Body, MaxPage))
	if err != nil {
		return fmt.Errorf("proofs: %w", err)
	}
	if !strings.Contains(text(page), Statement(address)) {
		return fmt.Errorf("proofs: %s does not say %q", u, Statement(address))
	}
	return nil
}

// Statement is what a proof page says, in lower case.
func Statement(address string) string {
	return "verifying my blockstack id is secured with the address " + strings.ToLower(address)
}

func onHosts(h string, hosts []string) bool {
	h = strings.ToLower(h)
	for _, x := range hosts {
		if h == x {
			return true
		}
	}
	return false
}

var (
	tags   = regexp.MustCompile(`(?s)<[^>]*>`)
	spaces = regexp.MustCompile(`\s+`)
)

// text is a page's words in lower case: tags dropped, entities decoded,
// white space collapsed.
func text(page []byte) string {
	s := tags.ReplaceAllString(string(page), " ")
	s = html.UnescapeString(s)
	return strings.ToLower(spaces.ReplaceAllString(s, " "))
}
