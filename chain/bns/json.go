package bns

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// JSON forms, for operators and the CLI. They are views: the chain's
// canonical form is the binary encoding.

// MarshalText gives the canonical "ed25519:<hex>" form.
func (k PublicKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText accepts only the canonical form.
func (k *PublicKey) UnmarshalText(b []byte) error {
	p, err := ParsePublicKey(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}

// KEMName names an encryption key kind.
func KEMName(kem uint16) string {
	switch kem {
	case KEMX25519:
		return "X25519"
	case KEMMLKEM768X25519:
		return "MLKEM768-X25519"
	}
	return fmt.Sprintf("kem-0x%04x", kem)
}

// MarshalJSON shows the kind by name and the key in base64.
func (k EncKey) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		KEM string `json:"kem"`
		Key string `json:"key"`
	}{KEMName(k.KEM), base64.StdEncoding.EncodeToString(k.Key)})
}

func (p Profile) view() any {
	if p.IsEmpty() {
		return nil
	}
	return struct {
		SigningKey PublicKey `json:"signing_key"`
		EncKeys    []EncKey  `json:"encryption_keys"`
		Hubs       []string  `json:"hubs"`
	}{p.SigningKey, p.EncKeys, p.Hubs}
}

// MarshalJSON shows a record with readable keys.
func (r *Record) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name           string    `json:"name"`
		Owner          PublicKey `json:"owner"`
		Profile        any       `json:"profile"`
		RegisteredAt   int64     `json:"registered_at"`
		ExpiresAt      int64     `json:"expires_at"`
		UpdatedAt      int64     `json:"updated_at"`
		Revoked        bool      `json:"revoked"`
		Seq            uint64    `json:"seq"`
		PreorderHeight int64     `json:"preorder_height"`
		HistoryHash    string    `json:"history_hash"`
	}{r.Name, r.Owner, r.Profile.view(), r.RegisteredAt, r.ExpiresAt, r.UpdatedAt, r.Revoked, r.Seq, r.PreorderHeight, fmt.Sprintf("%x", r.HistoryHash)})
}

// MarshalJSON shows a history entry with readable keys.
func (h *HistoryEntry) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Seq       uint64    `json:"seq"`
		Height    int64     `json:"height"`
		Op        string    `json:"op"`
		Owner     PublicKey `json:"owner"`
		Profile   any       `json:"profile"`
		ExpiresAt int64     `json:"expires_at"`
		Revoked   bool      `json:"revoked"`
	}{h.Seq, h.Height, h.Op.String(), h.Owner, h.Profile.view(), h.ExpiresAt, h.Revoked})
}
