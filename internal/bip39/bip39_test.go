package bip39

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestWordList: the embedded list is the BIP's English list, byte for
// byte (the SHA-256 of bip-0039/english.txt), and every word is told
// apart by its first four letters, which Normalize relies on.
func TestWordList(t *testing.T) {
	if got, want := hex.EncodeToString(func() []byte { s := sha256.Sum256([]byte(englishText)); return s[:] }()),
		"2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda"; got != want {
		t.Fatalf("english.txt has SHA-256 %s, the BIP's has %s", got, want)
	}
	seen := map[string]string{}
	for _, w := range english {
		p := w[:min(4, len(w))]
		if other, dup := seen[p]; dup {
			t.Errorf("%q and %q share their first four letters", other, w)
		}
		seen[p] = w
	}
}

type vector struct {
	line                                int
	entropy, mnemonic, passphrase, seed string
}

// readVectors reads testdata/vectors.txt: blocks of "key: value" lines
// separated by blank lines, "#" lines ignored. Unknown keys, missing
// keys and an empty file fail the test.
func readVectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out []vector
	var cur *vector
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
			continue
		case line == "":
			cur = nil
			continue
		}
		if cur == nil {
			out = append(out, vector{line: n})
			cur = &out[len(out)-1]
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("vectors.txt:%d: not a key: value line", n)
		}
		switch k {
		case "entropy":
			cur.entropy = v
		case "mnemonic":
			cur.mnemonic = v
		case "passphrase":
			cur.passphrase = v
		case "seed":
			cur.seed = v
		default:
			t.Fatalf("vectors.txt:%d: unknown key %q", n, k)
		}
	}
	for _, v := range out {
		if v.entropy == "" || v.mnemonic == "" || v.seed == "" {
			t.Fatalf("vectors.txt:%d: a vector lacks a field", v.line)
		}
	}
	if len(out) != 24 {
		t.Fatalf("vectors.txt holds %d vectors, the BIP's English set has 24", len(out))
	}
	return out
}

// TestVectors: the BIP's 24 English vectors, both ways, and their seeds.
func TestVectors(t *testing.T) {
	for _, v := range readVectors(t) {
		ent, _ := hex.DecodeString(v.entropy)
		m, err := NewMnemonic(ent)
		if err != nil || m != v.mnemonic {
			t.Errorf("vectors.txt:%d: NewMnemonic = %q, %v; want %q", v.line, m, err, v.mnemonic)
		}
		got, err := EntropyOf(v.mnemonic)
		if err != nil || !bytes.Equal(got, ent) {
			t.Errorf("vectors.txt:%d: EntropyOf = %x, %v; want %s", v.line, got, err, v.entropy)
		}
		seed, err := Seed(v.mnemonic, v.passphrase)
		if err != nil || hex.EncodeToString(seed) != v.seed {
			t.Errorf("vectors.txt:%d: Seed = %x, %v; want %s", v.line, seed, err, v.seed)
		}
	}
}

// TestRefused: what is not a canonical valid mnemonic is refused, with
// the error that says why.
func TestRefused(t *testing.T) {
	valid := "legal winner thank year wave sausage worth useful legal winner thank yellow"
	for _, c := range []struct {
		name, m string
		want    error
	}{
		{"checksum", "legal winner thank year wave sausage worth useful legal winner thank year", ErrChecksum},
		{"swapped words", "winner legal thank year wave sausage worth useful legal winner thank yellow", ErrChecksum},
		{"unknown word", strings.Replace(valid, "wave", "wavy", 1), ErrUnknownWord},
		{"eleven words", strings.TrimSuffix(valid, " yellow"), ErrLength},
		{"thirteen words", valid + " yellow", ErrLength},
		{"empty", "", ErrLength},
		{"uppercase", strings.Replace(valid, "legal", "Legal", 1), ErrForm},
		{"two spaces", strings.Replace(valid, " ", "  ", 1), ErrForm},
		{"trailing space", valid + " ", ErrForm},
		{"tab", strings.Replace(valid, " ", "\t", 1), ErrForm},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := EntropyOf(c.m)
			if !errors.Is(err, c.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("EntropyOf(%q) = %v, want %v", c.m, err, c.want)
			}
			if _, err := Seed(c.m, ""); !errors.Is(err, c.want) {
				t.Fatalf("Seed(%q) = %v, want %v", c.m, err, c.want)
			}
		})
	}
	if _, err := Seed(valid, "pässword"); err == nil || !strings.Contains(err.Error(), "needs NFKD normalization") {
		t.Fatalf("Seed took a passphrase it cannot normalize: %v, want it refused for want of NFKD", err)
	}
	for _, n := range []int{0, 15, 17, 33, 36} {
		if _, err := NewMnemonic(make([]byte, n)); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("entropy of %d bytes, want 16, 20, 24, 28 or 32", n)) {
			t.Errorf("NewMnemonic took %d bytes of entropy: %v, want the sizes it takes", n, err)
		}
	}
}

// TestNormalize: what a person types (any case, any spacing, words cut
// to four letters or more) becomes the canonical phrase; a prefix that
// fits two words, or none, is refused naming the word.
func TestNormalize(t *testing.T) {
	want := "letter advice cage absurd amount doctor acoustic avoid letter advice cage above"
	for _, typed := range []string{
		want,
		"  Letter ADVICE cage absurd\tamount doctor\nacoustic avoid letter advice cage above \n",
		"lett advi cage absu amou doct acou avoi lett advi cage abov",
		"lette advice cage absurd amoun doctor acoustic avoid letter advic cage above",
	} {
		got, err := Normalize(typed)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", typed, got, err, want)
		}
	}
	for _, c := range []struct {
		typed string
		want  error
	}{
		{"let advice cage absurd amount doctor acoustic avoid letter advice cage above", ErrUnknownWord},     // three letters
		{"letterx advice cage absurd amount doctor acoustic avoid letter advice cage above", ErrUnknownWord}, // no such word
		{"letter advice cage absurd amount doctor acoustic avoid letter advice cage about", ErrChecksum},
		{"letter advice cage", ErrLength},
	} {
		_, err := Normalize(c.typed)
		if !errors.Is(err, c.want) {
			t.Errorf("Normalize(%q) = %v, want %v", c.typed, err, c.want)
		}
	}
	_, err := Normalize("letterx advice cage absurd amount doctor acoustic avoid letter advice cage above")
	if err == nil || !strings.Contains(err.Error(), "word 1") {
		t.Errorf("the error does not say which word: %v", err)
	}
}

// FuzzEntropyOf: a string that parses is the one mnemonic of its
// entropy (parse, then make, gives the input back).
func FuzzEntropyOf(f *testing.F) {
	f.Add("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about")
	f.Add("zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo vote")
	f.Fuzz(func(t *testing.T, m string) {
		ent, err := EntropyOf(m)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		back, err := NewMnemonic(ent)
		if err != nil || back != m {
			t.Fatalf("EntropyOf(%q) = %x, which makes %q (%v)", m, ent, back, err)
		}
	})
}
