package auth

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// NativeScheme is the version prefix of native tokens.
const NativeScheme = "parley1"

// NativeDomain is prefixed to a native token's payload before signing.
const NativeDomain = "parley/hub/token/v1\n"

// MaxNativeLifetime bounds how far in the future a native token may expire.
const MaxNativeLifetime = 366 * 24 * time.Hour

type nativeClaims struct {
	Iss    string  `json:"iss"`    // Ed25519 public key, hex
	Hub    string  `json:"hub"`    // the hub's challenge_text
	Adr    string  `json:"adr"`    // the bucket address
	Exp    int64   `json:"exp"`    // unix seconds
	Iat    int64   `json:"iat"`    // unix seconds
	Scopes []Scope `json:"scopes"` // optional
	Salt   string  `json:"salt"`   // optional, makes tokens unique
}

// MakeNative makes a native token for priv's bucket on the hub whose
// challenge_text is challenge, valid from now until exp, restricted to
// scopes if any. The result goes after "bearer " in an Authorization header.
func MakeNative(priv ed25519.PrivateKey, challenge string, now, exp time.Time, scopes []Scope) string {
	pub := priv.Public().(ed25519.PublicKey)
	c := nativeClaims{Iss: hex.EncodeToString(pub), Hub: challenge, Adr: NativeAddress(pub), Exp: exp.Unix(), Iat: now.Unix(), Scopes: scopes}
	payload, _ := json.Marshal(c)
	sig := ed25519.Sign(priv, append([]byte(NativeDomain), payload...))
	return NativeScheme + ":" + b64.EncodeToString(payload) + "." + b64.EncodeToString(sig)
}

func (v *Verifier) verifyNative(tok, address string) (*Grant, time.Time, error) {
	p64, s64, ok := strings.Cut(tok, ".")
	if !ok {
		return nil, time.Time{}, refuse("native token is not payload.signature")
	}
	payload, err := b64.DecodeString(p64)
	if err != nil {
		return nil, time.Time{}, refuse("native token payload: %v", err)
	}
	sig, err := b64.DecodeString(s64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, time.Time{}, refuse("native token signature is not 64 bytes of base64url")
	}
	var c nativeClaims
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return nil, time.Time{}, refuse("native token claims: %v", err)
	}
	pub, err := hex.DecodeString(c.Iss)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, time.Time{}, refuse("native token iss is not a hex Ed25519 key")
	}
	if !ed25519.Verify(pub, append([]byte(NativeDomain), payload...), sig) {
		return nil, time.Time{}, refuse("native token signature does not verify")
	}
	if c.Hub != v.Challenge {
		return nil, time.Time{}, refuse("native token is for another hub")
	}
	if c.Adr != address || NativeAddress(pub) != address {
		return nil, time.Time{}, refuse("native token is for address %s, not %s", c.Adr, address)
	}
	now := v.now()
	exp, iat := time.Unix(c.Exp, 0), time.Unix(c.Iat, 0)
	switch {
	case !exp.After(now):
		return nil, time.Time{}, refuse("native token expired")
	case exp.Sub(now) > MaxNativeLifetime:
		return nil, time.Time{}, refuse("native token expires more than a year ahead")
	case iat.After(now.Add(5 * time.Minute)):
		return nil, time.Time{}, refuse("native token issued in the future")
	}
	if err := checkScopes(c.Scopes); err != nil {
		return nil, time.Time{}, err
	}
	return &Grant{Address: address, Scheme: NativeScheme, IssuedAt: &iat, Scopes: c.Scopes}, exp, nil
}
