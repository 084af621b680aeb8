package wire

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/parley-im/parley/chain/bns"
)

// safetyProfile is a profile whose keys come from seed(label...).
func safetyProfile(t *testing.T, label string) bns.Profile {
	t.Helper()
	x, err := hpke.DHKEM(ecdh.X25519()).DeriveKeyPair(seed(label+"-x25519", 32))
	if err != nil {
		t.Fatal(err)
	}
	h, err := hpke.MLKEM768X25519().DeriveKeyPair(seed(label+"-hybrid", 64))
	if err != nil {
		t.Fatal(err)
	}
	return bns.Profile{SigningKey: bns.PublicKeyOf(ed25519.NewKeyFromSeed(seed(label+"-signing", 32))),
		EncKeys: []bns.EncKey{{KEM: bns.KEMX25519, Key: x.PublicKey().Bytes()}, {KEM: bns.KEMMLKEM768X25519, Key: h.PublicKey().Bytes()}}}
}

// TestSafetyNumberVector: the recorded number of alice and bob (their
// keys from seed()) is what both sides compute; the same halves in the
// other order, and the number of v1 (one side's keys, half its digits
// a function of the other half), are not it.
func TestSafetyNumberVector(t *testing.T) {
	a, b := safetyProfile(t, "alice"), safetyProfile(t, "bob")
	number := SafetyNumber("alice", a, "bob", b)
	keys := []string{"name-a", "signing-a", "x25519-a", "hybrid-a", "name-b", "signing-b", "x25519-b", "hybrid-b", "number", "not-swapped", "not-v1"}
	if *update {
		swapped := number[36:] + " " + number[:35]
		writeVector(t, "safety.txt", "The safety number of alice and bob (client/wire/safety.go): their names and\n"+
			"published keys, the number both compute (ASCII), and two numbers that are not it:\n"+
			"the halves swapped, and v1's number for bob's keys alone. Values are hex.", [][2]string{
			{"name-a", hex.EncodeToString([]byte("alice"))}, {"signing-a", hex.EncodeToString(a.SigningKey[:])},
			{"x25519-a", hex.EncodeToString(a.EncKeys[0].Key)}, {"hybrid-a", hex.EncodeToString(a.EncKeys[1].Key)},
			{"name-b", hex.EncodeToString([]byte("bob"))}, {"signing-b", hex.EncodeToString(b.SigningKey[:])},
			{"x25519-b", hex.EncodeToString(b.EncKeys[0].Key)}, {"hybrid-b", hex.EncodeToString(b.EncKeys[1].Key)},
			{"number", hex.EncodeToString([]byte(number))}, {"not-swapped", hex.EncodeToString([]byte(swapped))},
			{"not-v1", hex.EncodeToString([]byte("23964 83818 10514 19593 32437 27389 01866 97867 90882 92332 21578 11480"))},
		})
	}
	v := readVector(t, "safety.txt", keys...)
	profile := func(side string) bns.Profile {
		return bns.Profile{SigningKey: bns.PublicKey(v["signing-"+side]), EncKeys: []bns.EncKey{
			{KEM: bns.KEMX25519, Key: v["x25519-"+side]}, {KEM: bns.KEMMLKEM768X25519, Key: v["hybrid-"+side]}}}
	}
	pa, pb := profile("a"), profile("b")
	got, back := SafetyNumber(string(v["name-a"]), pa, string(v["name-b"]), pb), SafetyNumber(string(v["name-b"]), pb, string(v["name-a"]), pa)
	if got != string(v["number"]) || back != got {
		t.Fatalf("alice computes %s, bob %s; recorded %s", got, back, v["number"])
	}
	for _, bad := range []string{"not-swapped", "not-v1"} {
		if string(v[bad]) == got {
			t.Fatalf("%s is the number", bad)
		}
	}
	// Each half is one side's: bob's other keys change bob's half only.
	c := safetyProfile(t, "bob-replaced")
	other := SafetyNumber("alice", pa, "bob", c)
	ha, hb := SafetyHalf("alice", pa), SafetyHalf("bob", c)
	if strings.ReplaceAll(other, " ", "") != min(ha, hb)+max(ha, hb) || !strings.Contains(strings.ReplaceAll(got, " ", ""), ha) {
		t.Fatalf("alice's half %s is not in both %s and %s", ha, got, other)
	}
	if same := commonGroups(SafetyHalf("bob", pb), hb); same > 1 {
		t.Fatalf("bob's halves for two sets of keys share %d of 6 groups", same)
	}
}

func commonGroups(x, y string) int {
	n := 0
	for i := 0; i < len(x); i += 5 {
		if x[i:i+5] == y[i:i+5] {
			n++
		}
	}
	return n
}
