package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// GaiaClaims are the claims MakeGaia puts in a v1 token. Nil pointers are
// left out, as Stacks.js leaves out exp and iat.
type GaiaClaims struct {
	GaiaChallenge    string   `json:"gaiaChallenge"`
	HubURL           string   `json:"hubUrl,omitempty"`
	Iss              string   `json:"iss"`
	Salt             string   `json:"salt"`
	Exp              *float64 `json:"exp,omitempty"`
	Iat              *float64 `json:"iat,omitempty"`
	Scopes           []Scope  `json:"scopes,omitempty"`
	AssociationToken string   `json:"associationToken,omitempty"`
}

// MakeGaia signs a v1 token (without the "v1:" prefix) with key, filling in
// iss (the compressed public key) and a random salt. It is what Stacks.js's
// connectToGaiaHub does; the hub's tests and Go clients of Gaia hubs use it.
func MakeGaia(key *secp256k1.PrivateKey, c GaiaClaims) string {
	c.Iss = hex.EncodeToString(key.PubKey().SerializeCompressed())
	salt := make([]byte, 16)
	rand.Read(salt)
	c.Salt = hex.EncodeToString(salt)
	payload, _ := json.Marshal(c)
	return signES256K(key, payload)
}

// MakeAssociation signs a wallet association token: identity key delegates
// to the bucket key child until exp.
func MakeAssociation(identity *secp256k1.PrivateKey, child *secp256k1.PublicKey, exp float64) string {
	payload, _ := json.Marshal(map[string]any{
		"childToAssociate": hex.EncodeToString(child.SerializeCompressed()),
		"iss":              hex.EncodeToString(identity.PubKey().SerializeCompressed()),
		"exp":              exp,
		"iat":              exp - 3600,
		"salt":             "00",
	})
	return signES256K(identity, payload)
}

func signES256K(key *secp256k1.PrivateKey, payload []byte) string {
	input := b64.EncodeToString([]byte(`{"typ":"JWT","alg":"ES256K"}`)) + "." + b64.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	sig := ecdsa.Sign(key, digest[:])
	r, s := sig.R(), sig.S()
	rb, sb := r.Bytes(), s.Bytes()
	return input + "." + b64.EncodeToString(append(rb[:], sb[:]...))
}

// MakeProfileToken signs a Blockstack profile token for claim (the
// profile) with key, as blockstack.js's signProfileToken does: subject
// and issuer are key's public key, iat now and exp a year on (ISO 8601).
func MakeProfileToken(key *secp256k1.PrivateKey, claim any, now time.Time) string {
	pk := hex.EncodeToString(key.PubKey().SerializeCompressed())
	payload, _ := json.Marshal(map[string]any{
		"jti": "00000000-0000-4000-8000-000000000000", "iat": now.UTC().Format(time.RFC3339), "exp": now.AddDate(1, 0, 0).UTC().Format(time.RFC3339),
		"subject": map[string]string{"publicKey": pk}, "issuer": map[string]string{"publicKey": pk}, "claim": claim,
	})
	return signES256K(key, payload)
}
