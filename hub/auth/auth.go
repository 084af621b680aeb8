// Package auth verifies the bearer tokens that authorize writes to a hub,
// and makes them. Two schemes share one result, the [Grant]:
//
//   - "v1:" Gaia v1 tokens: a compact JWS signed with ES256K (ECDSA over
//     secp256k1), as Stacks.js makes them. The bucket address is the
//     Bitcoin P2PKH address of the issuer key. They are bound to the hub
//     only by its challenge text (which any hub can copy), and by its URL
//     when the hub requires Gaia's hubUrl claim ([Verifier.RequireGaiaHubURL]).
//   - "parley2:" native tokens: Ed25519-signed, bound to the hub's URL
//     (the one its owner published, which the hub checks against its own
//     public URL), the address, an expiry and optional scopes. The
//     address is the base58check of the key's hash160 with version byte
//     0x38, so it never equals a Gaia address. "parley1:" tokens, bound
//     to the copyable challenge text, are refused.
//
// The package is pure: it does no I/O. Revocation state and scope
// enforcement against a request's path are the caller's (the server's),
// through the Grant.
package auth

import (
	"container/list"
	"crypto/sha256"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/hub"
)

// ErrUnauthorized is wrapped by every refusal: the hub's own sentinel,
// so that a refusal crosses HTTP as hub.ErrUnauthorized.
var ErrUnauthorized = hub.ErrUnauthorized

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnauthorized}, args...)...)
}

// Scope kinds. The first four are Gaia's; the last three exist only in
// native tokens (a Gaia token naming them is refused, as Gaia refuses
// unknown scopes).
const (
	ScopePutFile          = "putFile"
	ScopePutFilePrefix    = "putFilePrefix"
	ScopeDeleteFile       = "deleteFile"
	ScopeDeleteFilePrefix = "deleteFilePrefix"
	ScopeListFiles        = "listFiles" // list-files of the bucket
	ScopeInbox            = "inbox"     // list, read and delete inbox envelopes; hear of arrivals on a watch
	ScopeRevokeAll        = "revokeAll" // move the bucket's oldest valid timestamp
	// Archival scopes (Gaia's): writes and deletes of the paths they name
	// keep the previous version as a history file (HistoryPrefix).
	ScopePutFileArchival       = "putFileArchival"
	ScopePutFileArchivalPrefix = "putFileArchivalPrefix"
)

// HistoryPrefix starts the last segment of the history files that
// archival writes and deletes keep: "<dir>/.history.<ms>.<id>.<name>".
const HistoryPrefix = ".history."

// Scope restricts a token to an operation, and for writes and deletes to
// a path or path prefix (Domain).
type Scope struct {
	Scope  string `json:"scope"`
	Domain string `json:"domain"`
}

// MaxScopes is the most scopes a token may carry (Gaia's limit).
const MaxScopes = 8

// MaxTokenBytes bounds an Authorization header: longer ones are refused
// before any parsing. Gaia's hub, on Node, refuses headers beyond 16 KiB
// altogether.
const MaxTokenBytes = 16 << 10

// MaxClockSkew is how far ahead of the hub's clock a native token's iat,
// or a revoke-all timestamp, may be.
const MaxClockSkew = 5 * time.Minute

// Grant is what a verified token allows.
type Grant struct {
	Address  string
	Scheme   string     // "v1" or NativeScheme
	IssuedAt *time.Time // nil when the token has no iat
	Scopes   []Scope
	// Signer is the address that signed for the request: the identity
	// address of a Gaia association token if there is one, else Address
	// (Gaia's "signing address", which a hub's whitelist names).
	Signer string
}

// AllowPut reports whether the grant lets its holder write path. A Gaia
// token with put scopes writes a path equal to a putFile domain or
// starting with a putFilePrefix domain, and anything when it has none; a
// native token with scopes writes only what its put or archival scopes
// name. A grant with archival scopes must also pass AllowArchival.
func (g *Grant) AllowPut(path string) bool {
	if g.native() && g.archivalMatch(path) {
		return true
	}
	return g.allow(path, ScopePutFile, ScopePutFilePrefix)
}

// AllowDelete is AllowPut for deletes and the delete scopes.
func (g *Grant) AllowDelete(path string) bool {
	if g.native() && g.archivalMatch(path) {
		return true
	}
	return g.allow(path, ScopeDeleteFile, ScopeDeleteFilePrefix)
}

// Archival reports whether the grant has archival scopes: then it writes
// and deletes only what they name (AllowArchival), each write or delete
// keeps the previous version as a history file, and its listings leave
// history files out, as in Gaia.
func (g *Grant) Archival() bool {
	for _, s := range g.Scopes {
		if s.Scope == ScopePutFileArchival || s.Scope == ScopePutFileArchivalPrefix {
			return true
		}
	}
	return false
}

// AllowArchival reports whether a grant without archival scopes, or one
// whose archival scopes name path, may write or delete path.
func (g *Grant) AllowArchival(path string) bool { return !g.Archival() || g.archivalMatch(path) }

func (g *Grant) archivalMatch(path string) bool {
	for _, s := range g.Scopes {
		if s.Scope == ScopePutFileArchival && path == s.Domain || s.Scope == ScopePutFileArchivalPrefix && strings.HasPrefix(path, s.Domain) {
			return true
		}
	}
	return false
}

// AllowList reports whether the grant may list the bucket: any Gaia
// token (Gaia never restricts listing), a native token without scopes or
// with listFiles.
func (g *Grant) AllowList() bool { return g.allowOp(ScopeListFiles) }

// AllowInbox reports whether the grant may list, read and delete the
// bucket's inbox and hear of its arrivals: any Gaia token, a native token
// without scopes or with inbox.
func (g *Grant) AllowInbox() bool { return g.allowOp(ScopeInbox) }

// AllowRevokeAll reports whether the grant may move the bucket's oldest
// valid timestamp: any Gaia token, a native token without scopes or with
// revokeAll.
func (g *Grant) AllowRevokeAll() bool { return g.allowOp(ScopeRevokeAll) }

func (g *Grant) native() bool { return g.Scheme == NativeScheme }

func (g *Grant) allowOp(scope string) bool {
	if !g.native() || len(g.Scopes) == 0 {
		return true
	}
	for _, s := range g.Scopes {
		if s.Scope == scope {
			return true
		}
	}
	return false
}

func (g *Grant) allow(path, exact, prefix string) bool {
	restricted := g.native() && len(g.Scopes) > 0
	for _, s := range g.Scopes {
		switch s.Scope {
		case exact:
			restricted = true
			if path == s.Domain {
				return true
			}
		case prefix:
			restricted = true
			if strings.HasPrefix(path, s.Domain) {
				return true
			}
		}
	}
	return !restricted
}

func checkScopes(scopes []Scope, native bool) error {
	if len(scopes) > MaxScopes {
		return refuse("%d scopes, at most %d", len(scopes), MaxScopes)
	}
	for _, s := range scopes {
		switch s.Scope {
		case ScopePutFile, ScopePutFilePrefix, ScopeDeleteFile, ScopeDeleteFilePrefix, ScopePutFileArchival, ScopePutFileArchivalPrefix:
		case ScopeListFiles, ScopeInbox, ScopeRevokeAll:
			if !native {
				return refuse("unknown scope %q", s.Scope)
			}
			if s.Domain != "" {
				return refuse("scope %q takes no domain", s.Scope)
			}
		default:
			return refuse("unknown scope %q", s.Scope)
		}
	}
	return nil
}

// CanonicalHubURL is the form of a hub URL that native tokens carry and
// hubs compare: scheme and host in lower case, no trailing '/'. It
// refuses what the chain refuses in a hub URL (another scheme, no host,
// user info, a query or a fragment).
func CanonicalHubURL(s string) (string, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("hub URL %q: %w", s, err)
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "HTTP" && u.Scheme != "HTTPS":
		return "", fmt.Errorf("hub URL %q: scheme must be http or https", s)
	case u.Host == "":
		return "", fmt.Errorf("hub URL %q: no host", s)
	case u.User != nil, u.RawQuery != "", u.Fragment != "", u.Opaque != "":
		return "", fmt.Errorf("hub URL %q: user info, query and fragment are not allowed", s)
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// DefaultCacheBytes is the token cache's budget when Verifier.CacheBytes
// is 0.
const DefaultCacheBytes = 8 << 20

// Verifier checks tokens for one hub. Set its fields before first use;
// it is then safe for concurrent use.
type Verifier struct {
	// Challenge is the hub's challenge_text; Gaia tokens must carry it.
	Challenge string
	// ServerName is the name inside the challenge, for Gaia's legacy
	// challenges ("2018" and "2019" in place of "0").
	ServerName string
	// HubURL is the hub's public URL in CanonicalHubURL form; native
	// tokens must name it.
	HubURL string
	// RequireGaiaHubURL makes Gaia tokens' hubUrl claim (one trailing '/'
	// dropped) equal HubURL or one of GaiaHubURLs (Gaia's
	// requireCorrectHubUrl and validHubUrls). Stacks.js sends it; some
	// wallets send gaiaHubUrl instead and are then refused.
	RequireGaiaHubURL bool
	// GaiaHubURLs are more URLs a Gaia token's hubUrl may name, in
	// CanonicalHubURL form (a hub reachable under another name).
	GaiaHubURLs []string
	// Now returns the time tokens are checked at (time.Now if nil).
	Now func() time.Time
	// CacheBytes bounds the memory of the cache of verified and refused
	// tokens (DefaultCacheBytes if 0).
	CacheBytes int64

	signatures atomic.Uint64

	// cache remembers what each (header, address) gave, by SHA-256 of
	// both: Stacks.js sends one token for a whole session, and a token
	// that failed fails again. Expiry is checked again on every use.
	mu         sync.Mutex
	cache      map[[32]byte]*list.Element
	lru        list.List // of *cached, most recent first
	cacheBytes int64
}

type cached struct {
	key   [32]byte
	grant *Grant    // nil: refused with err
	err   error     // the refusal
	exp   time.Time // zero: no expiry
	size  int64
}

// Stats are figures about a Verifier, for metrics.
type Stats struct {
	Signatures   uint64 // signature checks made since it was created
	CacheEntries int
	CacheBytes   int64 // estimated memory of the cache
}

// Stats returns the verifier's figures.
func (v *Verifier) Stats() Stats {
	v.mu.Lock()
	defer v.mu.Unlock()
	return Stats{Signatures: v.signatures.Load(), CacheEntries: len(v.cache), CacheBytes: v.cacheBytes}
}

// Challenge returns Gaia's challenge text for a server name:
// ["gaiahub","0",name,"blockstack_storage_please_sign"], byte for byte as
// JavaScript's JSON.stringify writes it.
func Challenge(serverName string) string {
	return `["gaiahub","0",` + jsonString(serverName) + `,"blockstack_storage_please_sign"]`
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func cacheKey(header, address string) [32]byte {
	h := sha256.New()
	h.Write([]byte(address))
	h.Write([]byte{0})
	h.Write([]byte(header))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// Verify checks an Authorization header value for a request on address.
// Errors wrap ErrUnauthorized and say what was wrong. Headers longer than
// MaxTokenBytes are refused unread; the result for each (header,
// address) is cached, refusals included, within CacheBytes.
func (v *Verifier) Verify(header, address string) (*Grant, error) {
	if len(header) > MaxTokenBytes {
		return nil, refuse("token of %d bytes, at most %d", len(header), MaxTokenBytes)
	}
	k := cacheKey(header, address)
	v.mu.Lock()
	if el, ok := v.cache[k]; ok {
		v.lru.MoveToFront(el)
		c := el.Value.(*cached)
		v.mu.Unlock()
		if c.grant == nil {
			return nil, c.err
		}
		if !c.exp.IsZero() && !c.exp.After(v.now()) {
			return nil, refuse("token expired")
		}
		g := *c.grant
		return &g, nil
	}
	v.mu.Unlock()
	g, exp, err := v.verify(header, address)
	c := &cached{key: k, grant: g, err: err, exp: exp, size: 32 + 200}
	if g != nil {
		c.size += int64(len(g.Address))
		for _, s := range g.Scopes {
			c.size += int64(len(s.Scope)+len(s.Domain)) + 32
		}
	} else {
		c.size += int64(len(err.Error()))
	}
	v.remember(c)
	if err != nil {
		return nil, err
	}
	out := *g
	return &out, nil
}

func (v *Verifier) remember(c *cached) {
	budget := v.CacheBytes
	if budget == 0 {
		budget = DefaultCacheBytes
	}
	if c.size > budget {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cache == nil {
		v.cache = make(map[[32]byte]*list.Element)
	}
	if _, ok := v.cache[c.key]; ok {
		return
	}
	for v.cacheBytes+c.size > budget {
		old := v.lru.Back()
		oc := old.Value.(*cached)
		v.lru.Remove(old)
		delete(v.cache, oc.key)
		v.cacheBytes -= oc.size
	}
	v.cache[c.key] = v.lru.PushFront(c)
	v.cacheBytes += c.size
}

// Subject returns the address a header's token claims to be for, without
// verifying anything: for a request that names many addresses (a watch),
// to verify the token for that one only.
func (v *Verifier) Subject(header string) (string, bool) {
	tok, ok := bearer(header)
	if !ok {
		return "", false
	}
	scheme, rest, _ := strings.Cut(tok, ":")
	switch scheme {
	case "v1":
		return gaiaSubject(rest)
	case NativeScheme:
		c, _, _, err := parseNative(rest)
		if err != nil {
			return "", false
		}
		return c.Adr, true
	}
	return "", false
}

func bearer(header string) (string, bool) {
	if len(header) > MaxTokenBytes || len(header) < 7 || !strings.EqualFold(header[:7], "bearer ") {
		return "", false
	}
	return header[7:], true
}

func (v *Verifier) verify(header, address string) (*Grant, time.Time, error) {
	tok, ok := bearer(header)
	if !ok {
		return nil, time.Time{}, refuse("missing bearer token")
	}
	scheme, rest, ok := strings.Cut(tok, ":")
	if !ok {
		return nil, time.Time{}, refuse("legacy (pre-v1) tokens are not accepted; reconnect to get a v1 token")
	}
	switch scheme {
	case "v1":
		return v.verifyGaia(rest, address)
	case NativeScheme:
		return v.verifyNative(rest, address)
	case "parley1":
		return nil, time.Time{}, refuse("native tokens parley1 (bound to a challenge text any hub can copy) are no longer accepted: update the client")
	}
	return nil, time.Time{}, refuse("unknown token version %q", scheme)
}
