package ratchet

import (
	"bufio"
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readVectors parses testdata files: "key: hex" lines, '#' comments.
func readVectors(t *testing.T, pattern string, known ...string) []map[string][]byte {
	files, _ := filepath.Glob(filepath.Join("testdata", pattern))
	if len(files) == 0 {
		t.Fatalf("no test vectors match %s", pattern)
	}
	var out []map[string][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v := map[string][]byte{}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line := sc.Text()
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, val, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("%s: bad line %q", f, line)
			}
			found := false
			for _, kk := range known {
				found = found || kk == k
			}
			if !found {
				t.Fatalf("%s: unknown key %q", f, k)
			}
			if v[k], err = hex.DecodeString(val); err != nil {
				t.Fatalf("%s: %s: %v", f, k, err)
			}
		}
		if len(v) != len(known) {
			t.Fatalf("%s: %d of %d keys", f, len(v), len(known))
		}
		out = append(out, v)
	}
	return out
}

func TestLibsignalChainKeyVector(t *testing.T) {
	for _, v := range readVectors(t, "libsignal-chain-key.txt", "chain-key", "message-key", "mac-key", "next-chain-key") {
		var ck [32]byte
		copy(ck[:], v["chain-key"])
		next, seed := kdfCK(ck)
		k := DeriveMessageKeys(seed)
		if !bytes.Equal(k.Cipher[:], v["message-key"]) || !bytes.Equal(k.MAC[:], v["mac-key"]) || !bytes.Equal(next[:], v["next-chain-key"]) {
			t.Fatalf("chain step differs from libsignal:\n cipher %x\n mac    %x\n next   %x", k.Cipher, k.MAC, next)
		}
	}
}

type msg struct {
	h  Header
	ct []byte
	pt string
}

func pair(t testing.TB) (*State, *State) {
	sk := sha256.Sum256([]byte("shared secret from the handshake"))
	bobKey, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return InitAlice(sk, bobKey.PublicKey(), nil), InitBob(sk, bobKey, nil)
}

var ad = []byte("alice->bob conversation")

func send(t *testing.T, s *State, text string) msg {
	t.Helper()
	h, ct, err := s.Encrypt([]byte(text), ad)
	if err != nil {
		t.Fatal(err)
	}
	return msg{h, ct, text}
}

func recv(t *testing.T, s *State, m msg) {
	t.Helper()
	pt, err := s.Decrypt(m.h, m.ct, ad)
	if err != nil {
		t.Fatalf("decrypt %q: %v", m.pt, err)
	}
	if string(pt) != m.pt {
		t.Fatalf("got %q, want %q", pt, m.pt)
	}
}

func TestConversation(t *testing.T) {
	alice, bob := pair(t)
	if _, _, err := bob.Encrypt([]byte("too early"), ad); !errors.Is(err, ErrNoSession) {
		t.Fatalf("bob sent before receiving: %v", err)
	}
	a1, a2, a3 := send(t, alice, "a1"), send(t, alice, "a2"), send(t, alice, "a3")
	recv(t, bob, a3) // out of order: a1 and a2 are skipped and kept
	recv(t, bob, a1)
	b1 := send(t, bob, "b1")
	recv(t, alice, b1)
	a4 := send(t, alice, "a4 after a DH step")
	recv(t, bob, a4)
	recv(t, bob, a2) // from the previous chain, still decryptable
	for i := 0; i < 20; i++ {
		recv(t, alice, send(t, bob, fmt.Sprint("b", i)))
		recv(t, bob, send(t, alice, fmt.Sprint("a", i)))
	}
}

func TestReplayAndTamperingRefused(t *testing.T) {
	alice, bob := pair(t)
	m := send(t, alice, "hello")
	recv(t, bob, m)
	// The message key is gone: the same message never opens twice.
	if _, err := bob.Decrypt(m.h, m.ct, ad); !errors.Is(err, ErrReplay) {
		t.Fatalf("a replayed message: got %v, want ErrReplay", err)
	}
	m2 := send(t, alice, "second")
	for name, f := range map[string]func() (Header, []byte, []byte){
		"ciphertext": func() (Header, []byte, []byte) { c := bytes.Clone(m2.ct); c[0] ^= 1; return m2.h, c, ad },
		"tag":        func() (Header, []byte, []byte) { c := bytes.Clone(m2.ct); c[len(c)-1] ^= 1; return m2.h, c, ad },
		"header":     func() (Header, []byte, []byte) { h := m2.h; h.N++; return h, m2.ct, ad },
		"ad":         func() (Header, []byte, []byte) { return m2.h, m2.ct, []byte("another conversation") },
		"truncated":  func() (Header, []byte, []byte) { return m2.h, m2.ct[:16], ad },
	} {
		h, c, a := f()
		if _, err := bob.Decrypt(h, c, a); !errors.Is(err, ErrAuth) || errors.Is(err, ErrReplay) {
			t.Errorf("tampered %s: got %v, want ErrAuth", name, err)
		}
	}
	recv(t, bob, m2) // the refusals changed nothing
}

// TestForwardSecrecy: a copy of Bob's state taken now opens nothing Bob
// already received.
func TestForwardSecrecy(t *testing.T) {
	alice, bob := pair(t)
	old := []msg{send(t, alice, "one"), send(t, alice, "two")}
	recv(t, bob, old[0])
	recv(t, bob, old[1])
	stolen := bob.clone()
	for _, m := range old {
		if _, err := stolen.Decrypt(m.h, m.ct, ad); !errors.Is(err, ErrReplay) {
			t.Fatalf("a stolen state and the earlier message %q: %v, want ErrReplay (its key is gone)", m.pt, err)
		}
	}
}

// TestHealing: an eavesdropper with a copy of Bob's state, who sees every
// message, loses access once Bob and Alice complete DH ratchet steps with
// keys made after the theft.
func TestHealing(t *testing.T) {
	alice, bob := pair(t)
	recv(t, bob, send(t, alice, "before"))
	stolen := bob.clone()
	for i := 0; i < 2; i++ {
		b := send(t, bob, "b")
		recv(t, alice, b)
		stolen.Decrypt(b.h, b.ct, ad) // the thief's own chain advances too, uselessly
		a := send(t, alice, "a")
		recv(t, bob, a)
		if i == 1 {
			if _, err := stolen.Decrypt(a.h, a.ct, ad); !errors.Is(err, ErrAuth) {
				t.Fatalf("the thief after two round trips: %v, want ErrAuth (the conversation healed)", err)
			}
			return
		}
		stolen.Decrypt(a.h, a.ct, ad)
	}
}

func TestSkipBound(t *testing.T) {
	alice, bob := pair(t)
	recv(t, bob, send(t, alice, "first"))
	var last msg
	for i := 0; i <= MaxSkip+1; i++ {
		last = send(t, alice, "x")
	}
	if _, err := bob.Decrypt(last.h, last.ct, ad); !errors.Is(err, ErrTooMany) {
		t.Fatalf("far-ahead message: %v", err)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	for _, h := range []Header{
		{Version: 2, DH: [32]byte{1, 2}, PN: 7, N: 9, Flags: FlagPQ | FlagEK | FlagCT},
		{Version: 2, DH: [32]byte{3}, PN: 0, N: 1},
		{Version: 1, DH: [32]byte{1, 2}, PN: 7, N: 9},
	} {
		b := h.Marshal()
		if want := map[uint8]int{1: HeaderLenV1, 2: HeaderLen}[h.Version]; len(b) != want {
			t.Fatalf("version %d header of %d bytes, want %d", h.Version, len(b), want)
		}
		got, err := ParseHeader(b)
		if err != nil || got != h {
			t.Fatalf("%+v %v", got, err)
		}
	}
	good := Header{Version: 2, DH: [32]byte{1}, N: 3, Flags: FlagPQ}.Marshal()
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"truncated", good[:HeaderLen-1], ErrMalformed},
		{"a byte more", append(bytes.Clone(good), 0), ErrMalformed},
		{"version 3", append([]byte{3}, good[1:]...), ErrVersion},
		{"version 1 in a 42-byte header", append([]byte{1}, good[1:]...), ErrVersion},
		{"unknown flag", append(bytes.Clone(good[:HeaderLen-1]), FlagPQ|0x08), ErrMalformed},
	} {
		if _, err := ParseHeader(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestStateRoundTrip: a state saved and restored mid-conversation (with
// skipped keys pending, and at every point of the post-quantum steps:
// a sending step due, keys and KEM secrets held) carries on exactly, and
// encodes again to the same bytes.
func TestStateRoundTrip(t *testing.T) {
	alice, bob := pair(t)
	restore := func(s *State) *State {
		t.Helper()
		b := s.Marshal()
		got, err := UnmarshalState(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Marshal(), b) {
			t.Fatal("a restored state encodes differently")
		}
		return got
	}
	alice = restore(alice) // before its first message: no ratchet key yet
	a1, a2, a3 := send(t, alice, "a1"), send(t, alice, "a2"), send(t, alice, "a3")
	recv(t, bob, a3) // a1, a2 skipped
	bob, alice = restore(bob), restore(alice)
	recv(t, bob, a2)
	bob = restore(bob)
	recv(t, bob, a1)
	recv(t, alice, send(t, bob, "b1"))
	alice = restore(alice)
	recv(t, bob, send(t, alice, "a4"))
	for i := 0; i < 4; i++ {
		bob = restore(bob) // a sending step due, a KEM secret to mix
		m := send(t, bob, fmt.Sprint("b", i))
		bob = restore(bob) // a decapsulation key and a secret awaiting an answer
		alice = restore(alice)
		recv(t, alice, m)
		alice = restore(alice)
		recv(t, bob, send(t, alice, fmt.Sprint("a", i)))
	}
	if !alice.PostQuantum() || alice.dks == nil || bob.ssr == nil || bob.ekr == nil {
		t.Fatal("the conversation holds no post-quantum state to save")
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"trailing byte", append(bob.Marshal(), 0)},
		{"truncated", bob.Marshal()[:50]},
		{"truncated in the KEM fields", bob.Marshal()[:200]},
		{"version 3", append([]byte{3}, bob.Marshal()[1:]...)},
		{"empty", nil},
	} {
		if _, err := UnmarshalState(tc.b); !errors.Is(err, ErrBadState) {
			t.Errorf("%s: %v, want ErrBadState", tc.name, err)
		}
	}
}
