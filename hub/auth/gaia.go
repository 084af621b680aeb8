package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// gaiaClaims are the claims of a v1 token that the hub reads.
type gaiaClaims struct {
	GaiaChallenge    *string  `json:"gaiaChallenge"`
	Iss              string   `json:"iss"`
	Exp              *float64 `json:"exp"`
	Iat              *float64 `json:"iat"`
	Scopes           []Scope  `json:"scopes"`
	AssociationToken *string  `json:"associationToken"`
	HubURL           string   `json:"hubUrl"`
}

type jwsHeader struct {
	Typ string `json:"typ"`
	Alg string `json:"alg"`
}

var b64 = base64.RawURLEncoding

// jws is a compact JWS split and decoded, not yet verified.
type jws struct {
	signingInput string
	payload      []byte
	sig          []byte
}

// splitES256K splits a compact ES256K JWS and decodes its parts.
func splitES256K(tok string) (*jws, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, refuse("token is not a compact JWS")
	}
	hb, err := b64.DecodeString(strings.TrimRight(parts[0], "="))
	if err != nil {
		return nil, refuse("token header: %v", err)
	}
	var h jwsHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, refuse("token header: %v", err)
	}
	if h.Alg != "ES256K" {
		return nil, refuse("token algorithm %q, want ES256K", h.Alg)
	}
	payload, err := b64.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, refuse("token payload: %v", err)
	}
	sig, err := b64.DecodeString(strings.TrimRight(parts[2], "="))
	if err != nil || len(sig) != 64 {
		return nil, refuse("token signature is not 64 bytes of base64url")
	}
	return &jws{signingInput: parts[0] + "." + parts[1], payload: payload, sig: sig}, nil
}

// issuerKey decodes an iss claim: a hex secp256k1 public key, compressed
// or not; the bytes are returned as given (the address derives from them).
func issuerKey(iss string) ([]byte, *secp256k1.PublicKey, error) {
	keyBytes, err := hex.DecodeString(iss)
	if err != nil {
		return nil, nil, refuse("iss is not a hex public key")
	}
	pub, err := secp256k1.ParsePubKey(keyBytes)
	if err != nil {
		return nil, nil, refuse("iss: %v", err)
	}
	return keyBytes, pub, nil
}

// verifyES256K checks a JWS's signature under pub: JOSE r‖s over SHA-256
// of the signing input; high-S signatures are accepted, as Gaia does.
func (v *Verifier) verifyES256K(t *jws, pub *secp256k1.PublicKey) error {
	var r, s secp256k1.ModNScalar
	if r.SetByteSlice(t.sig[:32]) || s.SetByteSlice(t.sig[32:]) || r.IsZero() || s.IsZero() {
		return refuse("token signature out of range")
	}
	v.signatures.Add(1)
	digest := sha256.Sum256([]byte(t.signingInput))
	if !ecdsa.NewSignature(&r, &s).Verify(digest[:], pub) {
		return refuse("token signature does not verify")
	}
	return nil
}

// gaiaSubject is the bucket address a v1 token's iss claims, unverified.
func gaiaSubject(tok string) (string, bool) {
	t, err := splitES256K(tok)
	if err != nil {
		return "", false
	}
	var c gaiaClaims
	if json.Unmarshal(t.payload, &c) != nil {
		return "", false
	}
	keyBytes, err := hex.DecodeString(c.Iss)
	if err != nil || len(keyBytes) == 0 {
		return "", false
	}
	return GaiaAddress(keyBytes), true
}

func floatTime(f float64) (time.Time, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e12 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// verifyGaia checks a v1 token in Gaia's order, every cheap check before
// the signature: claims, address, hubUrl (if required), challenge, exp,
// then the signature, then the association token.
func (v *Verifier) verifyGaia(tok, address string) (*Grant, time.Time, error) {
	t, err := splitES256K(tok)
	if err != nil {
		return nil, time.Time{}, err
	}
	var c gaiaClaims
	if err := json.Unmarshal(t.payload, &c); err != nil {
		return nil, time.Time{}, refuse("token claims: %v", err)
	}
	if c.Iss == "" {
		return nil, time.Time{}, refuse("token has no iss")
	}
	if err := checkScopes(c.Scopes, false); err != nil {
		return nil, time.Time{}, err
	}
	keyBytes, pub, err := issuerKey(c.Iss)
	if err != nil {
		return nil, time.Time{}, err
	}
	if got := GaiaAddress(keyBytes); got != address {
		return nil, time.Time{}, refuse("token is for address %s, not %s: address not allowed to write on this path", got, address)
	}
	if v.RequireGaiaHubURL {
		u, err := CanonicalHubURL(c.HubURL)
		if err != nil || u != v.HubURL && !slices.Contains(v.GaiaHubURLs, u) {
			return nil, time.Time{}, refuse("token's hubUrl %q is not this hub's URL %s", c.HubURL, v.HubURL)
		}
	}
	if c.GaiaChallenge == nil || !v.challengeOK(*c.GaiaChallenge) {
		return nil, time.Time{}, refuse("token's gaiaChallenge does not match this hub's challenge_text")
	}
	now := v.now()
	var exp time.Time
	if c.Exp != nil {
		var ok bool
		if exp, ok = floatTime(*c.Exp); !ok || exp.Before(now) {
			return nil, time.Time{}, refuse("token expired")
		}
	}
	g := &Grant{Address: address, Scheme: "v1", Scopes: c.Scopes, Signer: address}
	if c.Iat != nil {
		iat, ok := floatTime(*c.Iat)
		if !ok {
			return nil, time.Time{}, refuse("token iat out of range")
		}
		g.IssuedAt = &iat
	}
	if err := v.verifyES256K(t, pub); err != nil {
		return nil, time.Time{}, err
	}
	if c.AssociationToken != nil {
		assocExp, signer, err := v.checkAssociation(*c.AssociationToken, address, now)
		if err != nil {
			return nil, time.Time{}, err
		}
		g.Signer = signer
		if exp.IsZero() || assocExp.Before(exp) {
			exp = assocExp
		}
	}
	return g, exp, nil
}

func (v *Verifier) challengeOK(ch string) bool {
	if ch == v.Challenge {
		return true
	}
	for _, year := range []string{"2018", "2019"} {
		if ch == `["gaiahub","`+year+`",`+jsonString(v.ServerName)+`,"blockstack_storage_please_sign"]` {
			return true
		}
	}
	return false
}

// checkAssociation verifies a wallet's association token: signed by its
// iss, not expired, and naming the bucket's key as childToAssociate. It
// returns its expiry and the address of its iss (the signing address).
func (v *Verifier) checkAssociation(tok, address string, now time.Time) (time.Time, string, error) {
	var c struct {
		ChildToAssociate string   `json:"childToAssociate"`
		Iss              string   `json:"iss"`
		Exp              *float64 `json:"exp"`
	}
	t, err := splitES256K(tok)
	if err != nil {
		return time.Time{}, "", refuse("association token: %v", err)
	}
	if err := json.Unmarshal(t.payload, &c); err != nil {
		return time.Time{}, "", refuse("association token: %v", err)
	}
	if c.Iss == "" || c.ChildToAssociate == "" || c.Exp == nil {
		return time.Time{}, "", refuse("association token lacks iss, childToAssociate or exp")
	}
	child, err := hex.DecodeString(c.ChildToAssociate)
	if err != nil || GaiaAddress(child) != address {
		return time.Time{}, "", refuse("association token is for another key")
	}
	exp, ok := floatTime(*c.Exp)
	if !ok || !exp.After(now) {
		return time.Time{}, "", refuse("association token expired")
	}
	issBytes, pub, err := issuerKey(c.Iss)
	if err != nil {
		return time.Time{}, "", refuse("association token: %v", err)
	}
	if err := v.verifyES256K(t, pub); err != nil {
		return time.Time{}, "", refuse("association token: %v", err)
	}
	return exp, GaiaAddress(issBytes), nil
}

// jsonString quotes s as JSON.stringify does (no HTML escaping).
func jsonString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// VerifyProfileToken checks a Blockstack profile token (a compact ES256K
// JWT, as in the JSON array [{"token": ...}] of a bucket's profile.json)
// for the bucket address: its issuer.publicKey's Gaia address is address,
// the signature verifies under it, and its exp (an ISO 8601 time or Unix
// seconds), if any, is not past. It returns the token's claim (the
// profile).
func (v *Verifier) VerifyProfileToken(tok, address string) (json.RawMessage, error) {
	t, err := splitES256K(tok)
	if err != nil {
		return nil, err
	}
	var p struct {
		Issuer struct {
			PublicKey string `json:"publicKey"`
		} `json:"issuer"`
		Exp   json.RawMessage `json:"exp"`
		Claim json.RawMessage `json:"claim"`
	}
	if err := json.Unmarshal(t.payload, &p); err != nil {
		return nil, refuse("profile token: %v", err)
	}
	keyBytes, pub, err := issuerKey(p.Issuer.PublicKey)
	if err != nil {
		return nil, refuse("profile token issuer: %v", err)
	}
	if GaiaAddress(keyBytes) != address {
		return nil, refuse("profile token is signed for another address")
	}
	if len(p.Exp) > 0 && string(p.Exp) != "null" {
		var exp time.Time
		var s string
		var f float64
		switch {
		case json.Unmarshal(p.Exp, &s) == nil:
			exp, err = time.Parse(time.RFC3339, s)
		case json.Unmarshal(p.Exp, &f) == nil:
			var ok bool
			if exp, ok = floatTime(f); !ok {
				err = refuse("exp out of range")
			}
		default:
			err = refuse("exp is neither a time nor a number")
		}
		if err != nil || !exp.After(v.now()) {
			return nil, refuse("profile token expired or its exp unreadable")
		}
	}
	if err := v.verifyES256K(t, pub); err != nil {
		return nil, err
	}
	return p.Claim, nil
}
