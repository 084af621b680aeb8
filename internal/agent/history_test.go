package agent

import (
	"testing"

	"github.com/parley-im/parley/chain/bns"
)

// TestHistoryNote: what whois says each key history entry changed.
func TestHistoryNote(t *testing.T) {
	key := func(b byte) bns.PublicKey { var k bns.PublicKey; k[0] = b; return k }
	enc := func(b byte) []bns.EncKey { return []bns.EncKey{{KEM: bns.KEMX25519, Key: []byte{b}}} }
	p := bns.Profile{SigningKey: key(1), EncKeys: enc(1), Hubs: []string{"http://h1"}}
	with := func(f func(*bns.Profile)) bns.Profile { q := p.Clone(); f(&q); return q }
	reg := &bns.HistoryEntry{Seq: 1, Op: bns.OpRegister, Owner: key(9), Profile: p}
	for _, c := range []struct {
		name string
		e    *bns.HistoryEntry
		want string
	}{
		{"renew", &bns.HistoryEntry{Op: bns.OpRenew, Owner: key(9), Profile: p}, ""},
		{"hubs", &bns.HistoryEntry{Op: bns.OpUpdate, Owner: key(9), Profile: with(func(q *bns.Profile) { q.Hubs = []string{"http://h2", "http://h3"} })}, "hubs: http://h2 http://h3"},
		{"recovery", &bns.HistoryEntry{Op: bns.OpUpdate, Owner: key(9), Profile: with(func(q *bns.Profile) { q.SigningKey, q.EncKeys = key(2), enc(2) })},
			"new keys: signing key ed25519:0200000000000000…"},
		{"encryption keys", &bns.HistoryEntry{Op: bns.OpUpdate, Owner: key(9), Profile: with(func(q *bns.Profile) { q.EncKeys = enc(3) })}, "new encryption keys"},
		{"transfer", &bns.HistoryEntry{Op: bns.OpTransfer, Owner: key(8)}, "new owner ed25519:0800000000000000…"},
	} {
		if got := historyNote(reg, c.e); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	transferred := &bns.HistoryEntry{Op: bns.OpTransfer, Owner: key(8)}
	if got, want := historyNote(transferred, &bns.HistoryEntry{Op: bns.OpUpdate, Owner: key(8), Profile: p}), "new keys: signing key ed25519:0100000000000000…"; got != want {
		t.Errorf("the new owner's keys: %q, want %q", got, want)
	}
}
