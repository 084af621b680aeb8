// Package bip39 is BIP-39 (mnemonic code for generating deterministic
// keys) with its English word list: entropy to words and back, and words
// to the 64-byte seed. It is the documented algorithm of the BIP
// (bitcoin/bips, bip-0039.mediawiki), checked against the BIP's own test
// vectors (testdata/vectors.txt), and nothing more: no other word list,
// no BIP-32.
//
// Parley's recovery phrase is a BIP-39 mnemonic; what Parley derives from
// its seed is client/keystore's (docs/protocol.md, Recovery phrase).
//
// The package is pure: no randomness (the caller draws the entropy), no
// I/O, no package state but the embedded word list.
package bip39

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	_ "embed"
	"errors"
	"fmt"
	"strings"
)

//go:embed english.txt
var englishText string

// english is the BIP's English word list: 2048 words of 3 to 8 lowercase
// letters, sorted, each told apart from every other by its first four
// letters.
var english = strings.Split(strings.TrimSuffix(englishText, "\n"), "\n")

// index maps each word to its position.
var index = func() map[string]int {
	if len(english) != 2048 {
		panic("bip39: the word list does not have 2048 words")
	}
	m := make(map[string]int, len(english))
	for i, w := range english {
		m[w] = i
	}
	return m
}()

// Errors. Each wraps ErrInvalid.
var (
	ErrInvalid     = errors.New("bip39: not a valid recovery phrase")
	ErrLength      = fmt.Errorf("%w: it must have 12, 15, 18, 21 or 24 words", ErrInvalid)
	ErrUnknownWord = fmt.Errorf("%w: a word is not in the BIP-39 English word list", ErrInvalid)
	ErrChecksum    = fmt.Errorf("%w: its checksum does not match (a word is wrong, or two are swapped)", ErrInvalid)
	ErrForm        = fmt.Errorf("%w: words must be lowercase, separated by single spaces", ErrInvalid)
)

// Word returns the word at position i (0 to 2047) of the list.
func Word(i int) string { return english[i] }

// NewMnemonic returns the mnemonic of entropy, which must be 16, 20, 24,
// 28 or 32 bytes (12 to 24 words): the entropy's bits followed by the
// first len/4 bits of its SHA-256, read 11 bits a word.
func NewMnemonic(entropy []byte) (string, error) {
	n := len(entropy)
	if n < 16 || n > 32 || n%4 != 0 {
		return "", fmt.Errorf("bip39: entropy of %d bytes, want 16, 20, 24, 28 or 32", n)
	}
	sum := sha256.Sum256(entropy)
	bits := append(append([]byte(nil), entropy...), sum[0]) // the checksum is at most 8 bits
	words := make([]string, (n*8+n/4)/11)
	for i := range words {
		v := 0
		for b := i * 11; b < i*11+11; b++ {
			v = v<<1 | int(bits[b/8]>>(7-b%8)&1)
		}
		words[i] = english[v]
	}
	return strings.Join(words, " "), nil
}

// EntropyOf returns the entropy a mnemonic encodes. The mnemonic must be
// in its one canonical form: 12, 15, 18, 21 or 24 words of the list, in
// lowercase, separated by single spaces, with a matching checksum
// (errors wrap ErrInvalid; Normalize makes the canonical form of what a
// person typed).
func EntropyOf(mnemonic string) ([]byte, error) {
	words := strings.Split(mnemonic, " ")
	switch len(words) {
	case 12, 15, 18, 21, 24:
	default:
		if strings.Join(strings.Fields(mnemonic), " ") != mnemonic {
			return nil, ErrForm
		}
		return nil, ErrLength
	}
	bits := make([]byte, (len(words)*11+7)/8)
	for i, w := range words {
		v, ok := index[w]
		if !ok {
			if w == "" || strings.ToLower(w) != w {
				return nil, ErrForm
			}
			return nil, fmt.Errorf("%w (word %d)", ErrUnknownWord, i+1)
		}
		for j := 0; j < 11; j++ {
			if v>>(10-j)&1 == 1 {
				b := i*11 + j
				bits[b/8] |= 1 << (7 - b%8)
			}
		}
	}
	cs := len(words) * 11 / 33 // checksum bits
	ent := bits[:(len(words)*11-cs)/8]
	sum := sha256.Sum256(ent)
	if got, want := bits[len(ent)]>>(8-cs), sum[0]>>(8-cs); got != want {
		return nil, ErrChecksum
	}
	return append([]byte(nil), ent...), nil
}

// Seed returns the BIP-39 seed of a valid mnemonic: PBKDF2-HMAC-SHA512
// of the mnemonic with the salt "mnemonic" ‖ passphrase, 2048
// iterations, 64 bytes. The BIP normalizes both to NFKD first; this
// package takes only the canonical mnemonic (ASCII) and an ASCII
// passphrase, whose NFKD forms are themselves, and refuses any other
// passphrase. Parley uses the empty passphrase; the test vectors use
// "TREZOR".
func Seed(mnemonic, passphrase string) ([]byte, error) {
	if _, err := EntropyOf(mnemonic); err != nil {
		return nil, err
	}
	for i := 0; i < len(passphrase); i++ {
		if passphrase[i] >= 0x80 {
			return nil, errors.New("bip39: a passphrase other than ASCII needs NFKD normalization, which this package does not do")
		}
	}
	return pbkdf2.Key(sha512.New, mnemonic, []byte("mnemonic"+passphrase), 2048, 64)
}

// Normalize turns what a person typed into the canonical form: it folds
// case, takes any run of spaces, tabs or line breaks as one separator,
// and accepts a word by its first four letters or more when they are the
// start of exactly one word of the list (BIP-39 chose its words so that
// four letters always are). It checks the words and the checksum, and
// says which word is wrong when it can.
func Normalize(typed string) (string, error) {
	fields := strings.Fields(strings.ToLower(typed))
	for i, f := range fields {
		if _, ok := index[f]; ok {
			continue
		}
		w, err := complete(f)
		if err != nil {
			return "", fmt.Errorf("%w (word %d, %q)", err, i+1, f)
		}
		fields[i] = w
	}
	m := strings.Join(fields, " ")
	if _, err := EntropyOf(m); err != nil {
		return "", err
	}
	return m, nil
}

// complete returns the one word of the list that starts with prefix, if
// the prefix has four letters or more and no other word starts with it.
func complete(prefix string) (string, error) {
	if len(prefix) < 4 {
		return "", ErrUnknownWord
	}
	found := ""
	for _, w := range english {
		if strings.HasPrefix(w, prefix) {
			if found != "" {
				return "", ErrUnknownWord
			}
			found = w
		}
	}
	if found == "" {
		return "", ErrUnknownWord
	}
	return found, nil
}
