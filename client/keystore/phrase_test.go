package keystore

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/internal/bip39"
)

// TestRecoveryVectors: the owner keys of testdata/recovery.txt, which
// were computed apart from this code.
func TestRecoveryVectors(t *testing.T) {
	b, err := os.ReadFile("testdata/recovery.txt")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []map[string]string
	cur := map[string]string(nil)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if line == "" {
			cur = nil
			continue
		}
		if cur == nil {
			cur = map[string]string{}
			blocks = append(blocks, cur)
		}
		k, v, ok := strings.Cut(line, ": ")
		switch {
		case !ok:
			t.Fatalf("recovery.txt:%d: not a key: value line", n)
		case k != "phrase" && k != "seed" && k != "owner-seed" && k != "owner":
			t.Fatalf("recovery.txt:%d: unknown key %q", n, k)
		}
		cur[k] = v
	}
	if len(blocks) == 0 {
		t.Fatal("recovery.txt holds no vector")
	}
	for _, v := range blocks {
		seed, err := bip39.Seed(v["phrase"], "")
		if err != nil || hex.EncodeToString(seed) != v["seed"] {
			t.Errorf("%s: seed %x, %v; want %s", v["phrase"], seed, err, v["seed"])
		}
		s, err := OwnerSeed(v["phrase"])
		if err != nil || hex.EncodeToString(s[:]) != v["owner-seed"] {
			t.Errorf("%s: owner seed %x, %v; want %s", v["phrase"], s, err, v["owner-seed"])
		}
		id, err := FromPhrase(v["phrase"])
		if err != nil {
			t.Fatal(err)
		}
		if got := bns.PublicKeyOf(id.OwnerKey()).String(); got != v["owner"] {
			t.Errorf("%s: owner %s, want %s", v["phrase"], got, v["owner"])
		}
	}
}

// TestFromPhrase: two identities from one phrase share the owner key and
// nothing else (each device draws its own keys); a new phrase has 12
// words and round-trips; a phrase that is not one is refused with
// ErrPhrase, and the words as a person types them are taken.
func TestFromPhrase(t *testing.T) {
	p, err := NewPhrase()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(p)); n != PhraseWords {
		t.Fatalf("NewPhrase gave %d words", n)
	}
	if q, err := NewPhrase(); err != nil || q == p {
		t.Fatalf("two phrases: %q, %q (%v)", p, q, err)
	}
	a, err := FromPhrase(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := FromPhrase(p)
	if err != nil {
		t.Fatal(err)
	}
	if !a.OwnerKey().Equal(b.OwnerKey()) {
		t.Fatal("one phrase, two owner keys")
	}
	if a.SigningKey().Equal(b.SigningKey()) || a.x25519Seed == b.x25519Seed || a.pqSeed == b.pqSeed {
		t.Fatal("two devices of one phrase share a device key")
	}
	typed := strings.ToUpper(strings.ReplaceAll(p, " ", "\n  "))
	if n, err := NormalizePhrase(typed); err != nil || n != p {
		t.Fatalf("NormalizePhrase(%q) = %q, %v", typed, n, err)
	}
	swapped := "winner legal thank year wave sausage worth useful legal winner thank yellow" // its checksum fails
	if _, err := FromPhrase(swapped); !errors.Is(err, ErrPhrase) {
		t.Fatalf("two words swapped: %v, want ErrPhrase", err)
	}
	if _, err := OwnerKeyOf("not a phrase"); !errors.Is(err, ErrPhrase) {
		t.Fatalf("OwnerKeyOf(junk) = %v, want ErrPhrase", err)
	}
}
