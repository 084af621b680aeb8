package ratchet

import (
	"bytes"
	"fmt"
	"testing"
)

// FuzzParseHeader: a header that parses encodes back to its bytes.
func FuzzParseHeader(f *testing.F) {
	f.Add(Header{Version: 2, DH: [32]byte{1}, PN: 3, N: 4, Flags: FlagPQ | FlagEK}.Marshal())
	f.Add(Header{Version: 1, DH: [32]byte{1}, N: 4}.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		if got := h.Marshal(); !bytes.Equal(got, b) {
			t.Fatalf("parsed %x, encodes to %x", b, got)
		}
	})
}

// FuzzUnmarshalState: a version 2 state that decodes encodes back to its
// bytes; a version 1 one to a version 2 state that decodes the same.
func FuzzUnmarshalState(f *testing.F) {
	alice, bob := pair(f)
	for i := 0; i < 3; i++ {
		a := mustSend(f, alice, fmt.Sprint("a", i))
		if _, err := bob.Decrypt(a.h, a.ct, ad); err != nil {
			f.Fatal(err)
		}
		f.Add(bob.Marshal())
		b := mustSend(f, bob, fmt.Sprint("b", i))
		mustSend(f, bob, "skipped")
		f.Add(bob.Marshal())
		if _, err := alice.Decrypt(b.h, b.ct, ad); err != nil {
			f.Fatal(err)
		}
		f.Add(alice.Marshal())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := UnmarshalState(b)
		if err != nil {
			return
		}
		got := s.Marshal()
		if b[0] == stateV2 && !bytes.Equal(got, b) {
			t.Fatalf("decoded %x, encodes to %x", b, got)
		}
		again, err := UnmarshalState(got)
		if err != nil || !bytes.Equal(again.Marshal(), got) {
			t.Fatalf("a re-encoded state: %v", err)
		}
	})
}

func mustSend(tb testing.TB, s *State, text string) msg {
	h, ct, err := s.Encrypt([]byte(text), ad)
	if err != nil {
		tb.Fatal(err)
	}
	return msg{h, ct, text}
}

// BenchmarkStateCodec is the cost of saving and loading one conversation's
// ratchet holding post-quantum state (an ML-KEM key, the other side's
// encapsulation key): the client encodes every conversation at each save
// and decodes them all when it opens.
func BenchmarkStateCodec(b *testing.B) {
	alice, bob := pair(b)
	for i := 0; i < 2; i++ {
		m := mustSend(b, alice, "a")
		if _, err := bob.Decrypt(m.h, m.ct, ad); err != nil {
			b.Fatal(err)
		}
		m = mustSend(b, bob, "b")
		if _, err := alice.Decrypt(m.h, m.ct, ad); err != nil {
			b.Fatal(err)
		}
	}
	mustSend(b, alice, "a") // alice: an ML-KEM key and bob's encapsulation key held
	enc := alice.Marshal()
	b.Run("marshal", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			alice.Marshal()
		}
		b.ReportMetric(float64(len(enc)), "bytes")
	})
	b.Run("unmarshal", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := UnmarshalState(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
