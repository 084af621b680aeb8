// Package auth verifies the bearer tokens that authorize writes to a hub,
// and makes them. Two schemes share one result, the [Grant]:
//
//   - "v1:" Gaia v1 tokens: a compact JWS signed with ES256K (ECDSA over
//     secp256k1), as Stacks.js makes them. The bucket address is the
//     Bitcoin P2PKH address of the issuer key.
//   - "parley1:" native tokens: Ed25519-signed, bound to the hub (its
//     challenge text), the address, an expiry and optional path scopes.
//     The address is the base58check of the key's hash160 with version
//     byte 0x38, so it never equals a Gaia address.
//
// The package is pure: it does no I/O. Revocation state and scope
// enforcement against a request's path are the caller's (the server's),
// through the Grant.
package auth

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ErrUnauthorized is wrapped by every refusal.
var ErrUnauthorized = errors.New("unauthorized")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnauthorized}, args...)...)
}

// Scope kinds, as Gaia names them.
const (
	ScopePutFile          = "putFile"
	ScopePutFilePrefix    = "putFilePrefix"
	ScopeDeleteFile       = "deleteFile"
	ScopeDeleteFilePrefix = "deleteFilePrefix"
)

// Scope restricts a token to a path or path prefix.
type Scope struct {
	Scope  string `json:"scope"`
	Domain string `json:"domain"`
}

// MaxScopes is the most scopes a token may carry (Gaia's limit).
const MaxScopes = 8

// Grant is what a verified token allows.
type Grant struct {
	Address  string
	Scheme   string     // "v1" or "parley1"
	IssuedAt *time.Time // nil when the token has no iat
	Scopes   []Scope
}

// AllowPut reports whether the grant lets its holder write path: with any
// put scopes, the path must equal a putFile domain or start with a
// putFilePrefix domain.
func (g *Grant) AllowPut(path string) bool { return g.allow(path, ScopePutFile, ScopePutFilePrefix) }

// AllowDelete is AllowPut for deletes and the delete scopes.
func (g *Grant) AllowDelete(path string) bool {
	return g.allow(path, ScopeDeleteFile, ScopeDeleteFilePrefix)
}

func (g *Grant) allow(path, exact, prefix string) bool {
	restricted := false
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

func checkScopes(scopes []Scope) error {
	if len(scopes) > MaxScopes {
		return refuse("%d scopes, at most %d", len(scopes), MaxScopes)
	}
	for _, s := range scopes {
		switch s.Scope {
		case ScopePutFile, ScopePutFilePrefix, ScopeDeleteFile, ScopeDeleteFilePrefix:
		case "putFileArchival", "putFileArchivalPrefix":
			return refuse("archival scopes are not supported by this hub")
		default:
			return refuse("unknown scope %q", s.Scope)
		}
	}
	return nil
}

// Verifier checks tokens for one hub.
type Verifier struct {
	// Challenge is the hub's challenge_text; tokens must carry it.
	Challenge string
	// ServerName is the name inside the challenge, for Gaia's legacy
	// challenges ("2018" and "2019" in place of "0").
	ServerName string
	// Now returns the time tokens are checked at (time.Now if nil).
	Now func() time.Time

	// cache remembers tokens whose signatures verified, by header and
	// address: Stacks.js sends one token for a whole session. Expiry is
	// checked again on every use.
	mu    sync.Mutex
	cache map[[2]string]cached
}

type cached struct {
	grant Grant
	exp   time.Time // zero: no expiry
}

const cacheMax = 1 << 14

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

// Verify checks an Authorization header value for a request on address.
// Errors wrap ErrUnauthorized and say what was wrong.
func (v *Verifier) Verify(header, address string) (*Grant, error) {
	k := [2]string{header, address}
	v.mu.Lock()
	c, ok := v.cache[k]
	v.mu.Unlock()
	if ok {
		if !c.exp.IsZero() && !c.exp.After(v.now()) {
			return nil, refuse("token expired")
		}
		g := c.grant
		return &g, nil
	}
	g, exp, err := v.verify(header, address)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	if v.cache == nil || len(v.cache) >= cacheMax {
		v.cache = make(map[[2]string]cached)
	}
	v.cache[k] = cached{grant: *g, exp: exp}
	v.mu.Unlock()
	return g, nil
}

func (v *Verifier) verify(header, address string) (*Grant, time.Time, error) {
	if len(header) < 7 || !strings.EqualFold(header[:7], "bearer ") {
		return nil, time.Time{}, refuse("missing bearer token")
	}
	tok := header[7:]
	scheme, rest, ok := strings.Cut(tok, ":")
	if !ok {
		return nil, time.Time{}, refuse("legacy (pre-v1) tokens are not accepted; reconnect to get a v1 token")
	}
	switch scheme {
	case "v1":
		return v.verifyGaia(rest, address)
	case NativeScheme:
		return v.verifyNative(rest, address)
	}
	return nil, time.Time{}, refuse("unknown token version %q", scheme)
}
