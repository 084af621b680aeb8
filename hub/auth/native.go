package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// NativeScheme is the version prefix of native tokens. Version 2 binds a
// token to the hub's URL; version 1 ("parley1") bound it to the challenge
// text, which any hub can advertise, and is refused.
const NativeScheme = "parley2"

// NativeDomain is prefixed to a native token's payload before signing.
const NativeDomain = "parley/hub/token/v2\n"

// MaxNativeLifetime bounds how far in the future a native token may expire.
const MaxNativeLifetime = 366 * 24 * time.Hour

// nativeClaims are a native token's claims, in this order, no others.
type nativeClaims struct {
	Iss    string  `json:"iss"`              // Ed25519 public key, hex
	Hub    string  `json:"hub"`              // the hub's URL, CanonicalHubURL form
	Adr    string  `json:"adr"`              // the bucket address
	Exp    int64   `json:"exp"`              // unix seconds
	Iat    int64   `json:"iat"`              // unix seconds
	Scopes []Scope `json:"scopes,omitempty"` // none: every operation
	Salt   string  `json:"salt"`             // 16 random bytes, hex: makes tokens unique
}

// MakeNative makes a native token for priv's bucket on the hub at hubURL
// (the URL its owner published, which the hub compares with its own public
// URL), valid from now until exp, restricted to scopes if any. The result
// goes after "bearer " in an Authorization header.
func MakeNative(priv ed25519.PrivateKey, hubURL string, now, exp time.Time, scopes []Scope) string {
	pub := priv.Public().(ed25519.PublicKey)
	if u, err := CanonicalHubURL(hubURL); err == nil {
		hubURL = u
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	c := nativeClaims{Iss: hex.EncodeToString(pub), Hub: hubURL, Adr: NativeAddress(pub), Exp: exp.Unix(), Iat: now.Unix(),
		Scopes: scopes, Salt: hex.EncodeToString(salt)}
	payload, _ := json.Marshal(c)
	sig := ed25519.Sign(priv, append([]byte(NativeDomain), payload...))
	return NativeScheme + ":" + b64.EncodeToString(payload) + "." + b64.EncodeToString(sig)
}

// parseNative decodes a native token (after "parley2:") without checking
// its signature.
func parseNative(tok string) (*nativeClaims, []byte, []byte, error) {
	p64, s64, ok := strings.Cut(tok, ".")
	if !ok {
		return nil, nil, nil, refuse("native token is not payload.signature")
	}
	payload, err := b64.DecodeString(p64)
	if err != nil {
		return nil, nil, nil, refuse("native token payload: %v", err)
	}
	sig, err := b64.DecodeString(s64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, nil, nil, refuse("native token signature is not 64 bytes of base64url")
	}
	var c nativeClaims
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return nil, nil, nil, refuse("native token claims: %v", err)
	}
	return &c, payload, sig, nil
}

// verifyNative checks every claim, then the signature.
func (v *Verifier) verifyNative(tok, address string) (*Grant, time.Time, error) {
	c, payload, sig, err := parseNative(tok)
	if err != nil {
		return nil, time.Time{}, err
	}
	pub, err := hex.DecodeString(c.Iss)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, time.Time{}, refuse("native token iss is not a hex Ed25519 key")
	}
	if c.Adr != address || NativeAddress(pub) != address {
		return nil, time.Time{}, refuse("native token is for address %s, not %s", c.Adr, address)
	}
	if c.Hub != v.HubURL {
		return nil, time.Time{}, refuse("native token is for the hub at %q; this hub is %s", c.Hub, v.HubURL)
	}
	now := v.now()
	exp, iat := time.Unix(c.Exp, 0), time.Unix(c.Iat, 0)
	switch {
	case !exp.After(now):
		return nil, time.Time{}, refuse("native token expired")
	case exp.Sub(now) > MaxNativeLifetime:
		return nil, time.Time{}, refuse("native token expires more than a year ahead")
	case iat.After(now.Add(MaxClockSkew)):
		return nil, time.Time{}, refuse("native token issued in the future")
	}
	if err := checkScopes(c.Scopes, true); err != nil {
		return nil, time.Time{}, err
	}
	v.signatures.Add(1)
	if !ed25519.Verify(pub, append([]byte(NativeDomain), payload...), sig) {
		return nil, time.Time{}, refuse("native token signature does not verify")
	}
	return &Grant{Address: address, Scheme: NativeScheme, IssuedAt: &iat, Scopes: c.Scopes, Signer: address}, exp, nil
}
