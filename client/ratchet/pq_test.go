package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"fmt"
	"testing"
)

// sealRaw is Encrypt with the KEM fields, flags and version given, for
// messages no sender makes. It runs a due sending step and drops the
// fields that step made.
func sealRaw(t *testing.T, s *State, version, flags uint8, fields, plaintext []byte) msg {
	t.Helper()
	if s.step {
		if _, _, err := s.sendStep(); err != nil {
			t.Fatal(err)
		}
	}
	next, seed := kdfCK(*s.cks)
	s.cks = &next
	h := Header{Version: version, PN: s.pn, N: s.ns, Flags: flags}
	copy(h.DH[:], s.dhs.PublicKey().Bytes())
	s.ns++
	body := seal(DeriveMessageKeys(seed), append(bytes.Clone(fields), plaintext...), append(bytes.Clone(ad), h.Marshal()...))
	return msg{h, body, string(plaintext)}
}

func flagsOf(m msg) string {
	var s string
	for _, f := range []struct {
		bit  uint8
		name string
	}{{FlagPQ, "PQ"}, {FlagEK, "EK"}, {FlagCT, "CT"}} {
		if m.h.Flags&f.bit != 0 {
			s += f.name + " "
		}
	}
	return fmt.Sprintf("[%s]", s)
}

// TestPQSteps: the KEM fields ride on the first message of each sending
// chain (the encapsulation key always, a ciphertext once the sender holds
// the other side's key), and from the second round trip every chain comes
// from a post-quantum step, on both sides.
func TestPQSteps(t *testing.T) {
	alice, bob := pair(t)
	type step struct {
		from, to *State
		name     string
		overhead int
		flags    string
	}
	steps := []step{
		{alice, bob, "a0", EKLen, "[EK ]"},               // no key of bob's yet
		{alice, bob, "a1", 0, "[]"},                      // same chain: nothing
		{bob, alice, "b0", EKLen + CTLen, "[EK CT ]"},    // encapsulates to alice's key; nothing to mix yet
		{alice, bob, "a2", EKLen + CTLen, "[PQ EK CT ]"}, // mixes the secret of b0's ciphertext
		{alice, bob, "a3", 0, "[PQ ]"},
		{bob, alice, "b1", EKLen + CTLen, "[PQ EK CT ]"},
		{bob, alice, "b2", 0, "[PQ ]"},
		{alice, bob, "a4", EKLen + CTLen, "[PQ EK CT ]"},
	}
	for _, st := range steps {
		if got := st.from.Overhead(); got != st.overhead {
			t.Fatalf("%s: overhead %d, want %d", st.name, got, st.overhead)
		}
		m := send(t, st.from, st.name)
		if got := flagsOf(m); got != st.flags || m.h.Version != 2 {
			t.Fatalf("%s: version %d flags %s, want 2 %s", st.name, m.h.Version, got, st.flags)
		}
		if len(m.ct) != (st.overhead+len(st.name))/16*16+16+32 {
			t.Fatalf("%s: body of %d bytes for %d bytes of KEM fields", st.name, len(m.ct), st.overhead)
		}
		recv(t, st.to, m)
		if pq := m.h.Flags&FlagPQ != 0; st.from.PostQuantum() != pq {
			t.Fatalf("%s: PostQuantum() = %v, header says %v", st.name, !pq, pq)
		}
	}
}

// TestPQFirstMessageLost: a chain whose first message (the one with the
// KEM fields) never arrives still opens; that step is classical, both
// sides agree on it, and the next steps are post-quantum again. The lost
// message, if it comes later, opens from its skipped key.
func TestPQFirstMessageLost(t *testing.T) {
	alice, bob := pair(t)
	recv(t, bob, send(t, alice, "a0"))
	recv(t, alice, send(t, bob, "b0"))
	lost := send(t, alice, "a1: first of a post-quantum chain, lost")
	if lost.h.Flags != FlagPQ|FlagEK|FlagCT {
		t.Fatalf("a1 %s", flagsOf(lost))
	}
	recv(t, bob, send(t, alice, "a2"))
	b1 := send(t, bob, "b1")
	if b1.h.Flags != FlagEK { // no ciphertext of alice's reached bob, and bob holds no key of hers
		t.Fatalf("b1 after a lost first message: %s, want [EK ]", flagsOf(b1))
	}
	recv(t, alice, b1) // alice drops the secret she encapsulated in a1
	if alice.sss != nil {
		t.Fatal("alice kept a KEM secret bob never answered")
	}
	a3 := send(t, alice, "a3")
	recv(t, bob, a3)
	b2 := send(t, bob, "b2")
	recv(t, alice, b2)
	if a3.h.Flags != FlagEK|FlagCT || b2.h.Flags != FlagPQ|FlagEK|FlagCT {
		t.Fatalf("after the loss: a3 %s, b2 %s", flagsOf(a3), flagsOf(b2))
	}
	recv(t, bob, lost) // late: its key was kept, its KEM fields are ignored
	for i := 0; i < 3; i++ {
		recv(t, bob, send(t, alice, fmt.Sprint("a", 4+i)))
		recv(t, alice, send(t, bob, fmt.Sprint("b", 3+i)))
	}
	if !alice.PostQuantum() || !bob.PostQuantum() {
		t.Fatal("the conversation did not return to post-quantum steps")
	}
}

// rootLog is one root KDF step as bob performed it: what went in, what
// came out, and which chain (the sender's ratchet key) it keyed.
type rootLog struct {
	rkIn    [32]byte
	dh      []byte
	bobKey  [32]byte // bob's private key in the DH
	ss      *[32]byte
	chain   [32]byte
	ckOut   [32]byte
	sending bool
}

// transcript drives a conversation, recording every message and bob's
// root steps, and what a thief of bob's state at one moment learns.
type transcript struct {
	t          *testing.T
	alice, bob *State
	msgs       []msg
	from       []string
	steps      []rootLog
	stolen     *State
	stolenAt   int // messages sent before the theft
	stepsAt    int
	knownSS    map[[32]byte]bool // KEM secrets the thief can know: stolen, or decapsulated with the stolen key
}

func (tr *transcript) steal() {
	tr.stolen = tr.bob.clone()
	tr.stolenAt, tr.stepsAt = len(tr.msgs), len(tr.steps)
	tr.knownSS = map[[32]byte]bool{}
	for _, ss := range []*[32]byte{tr.bob.ssr, tr.bob.sss} {
		if ss != nil {
			tr.knownSS[*ss] = true
		}
	}
}

func privBytes(k *ecdh.PrivateKey) (b [32]byte) {
	copy(b[:], k.Bytes())
	return
}

func (tr *transcript) aliceSends(text string) {
	m := send(tr.t, tr.alice, text)
	tr.msgs, tr.from = append(tr.msgs, m), append(tr.from, "alice")
	before := tr.bob.clone()
	recv(tr.t, tr.bob, m)
	if before.dhr == nil || *before.dhr != m.h.DH { // bob's receiving step
		pub, _ := ecdh.X25519().NewPublicKey(m.h.DH[:])
		dh, _ := before.dhs.ECDH(pub)
		var ss *[32]byte
		if m.h.Flags&FlagPQ != 0 {
			ss = before.sss
		}
		tr.steps = append(tr.steps, rootLog{rkIn: before.rk, dh: dh, bobKey: privBytes(before.dhs), ss: ss, chain: m.h.DH, ckOut: *tr.bob.ckr})
		tr.steps[len(tr.steps)-1].ckOut, _ = rootStep(before.rk, dh, ss)
		_, tr.steps[len(tr.steps)-1].ckOut = rootStep(before.rk, dh, ss)
	}
	// A ciphertext decapsulated with the stolen decapsulation key: the
	// thief can do the same.
	if tr.stolen != nil && before.dks != nil && tr.stolen.dks != nil && tr.bob.ssr != nil &&
		bytes.Equal(before.dks, tr.stolen.dks) {
		tr.knownSS[*tr.bob.ssr] = true
	}
}

func (tr *transcript) bobSends(text string) {
	before := tr.bob.clone()
	m := send(tr.t, tr.bob, text)
	tr.msgs, tr.from = append(tr.msgs, m), append(tr.from, "bob")
	if before.step { // bob's sending step
		pub, _ := ecdh.X25519().NewPublicKey(before.dhr[:])
		dh, _ := tr.bob.dhs.ECDH(pub)
		_, ck := rootStep(before.rk, dh, before.ssr)
		tr.steps = append(tr.steps, rootLog{rkIn: before.rk, dh: dh, bobKey: privBytes(tr.bob.dhs), ss: before.ssr, chain: m.h.DH, ckOut: ck, sending: true})
	}
	recv(tr.t, tr.alice, m)
}

// replay is the thief's work: from the stolen root key, every root step
// after the theft, with the DH outputs and KEM secrets the thief knows
// (a wrong guess for the others), then every message after the theft
// opened with the chain keys so derived. It returns the texts it opened.
func (tr *transcript) replay(knowDH func(rootLog) bool, knowSS func([32]byte) bool) []string {
	type chain struct {
		ck    [32]byte
		first uint32
	}
	chains := map[[32]byte]chain{}
	if tr.stolen.cks != nil {
		chains[[32]byte(tr.stolen.dhs.PublicKey().Bytes())] = chain{*tr.stolen.cks, tr.stolen.ns}
	}
	if tr.stolen.ckr != nil {
		chains[*tr.stolen.dhr] = chain{*tr.stolen.ckr, tr.stolen.nr}
	}
	rk := tr.stolen.rk
	for i, st := range tr.steps[tr.stepsAt:] {
		if i == 0 && st.rkIn != rk {
			tr.t.Fatal("the root steps logged do not start from the stolen root key")
		}
		dh := make([]byte, 32) // a guess
		if knowDH(st) {
			dh = st.dh
		}
		ss := st.ss
		if ss != nil && !knowSS(*ss) {
			ss = &[32]byte{} // a guess
		}
		var ck [32]byte
		rk, ck = rootStep(rk, dh, ss)
		chains[st.chain] = chain{ck, 0}
	}
	var opened []string
	for i, m := range tr.msgs[tr.stolenAt:] {
		c, ok := chains[m.h.DH]
		if !ok || m.h.N < c.first {
			tr.t.Fatalf("message %q is in no chain the thief followed", m.pt)
		}
		ck := c.ck
		var seed [32]byte
		for n := c.first; n <= m.h.N; n++ {
			ck, seed = kdfCK(ck)
		}
		if _, err := open(DeriveMessageKeys(seed), m.ct, append(bytes.Clone(ad), m.h.Marshal()...)); err == nil {
			opened = append(opened, tr.msgs[tr.stolenAt+i].pt)
		}
	}
	return opened
}

// TestHarvestNowDecryptLater: Eve records every message and steals bob's
// whole state once. Later she can break X25519 (she knows every DH output:
// modelled by reading them from the runs) but not ML-KEM-768: she knows a
// KEM secret only if it was in the stolen state or was encapsulated to the
// stolen decapsulation key. Recomputing the root chain from the stolen
// root key with what she knows, she opens the messages up to the first
// chain keyed with a secret encapsulated after the theft, and none after
// it. Without the KEM secrets (a classical ratchet) the same replay opens
// everything. A classical thief (no quantum computer, but suppose ML-KEM
// broken: every KEM secret) is shut out by the DH steps alone, one chain
// earlier: healing still works classically.
func TestHarvestNowDecryptLater(t *testing.T) {
	for _, tc := range []struct {
		name      string
		before    []string // "a" alice sends, "b" bob sends
		after     []string
		quantum   []string // what the thief with a quantum computer opens
		classical []string // what the thief with every KEM secret but no quantum computer opens
	}{{
		name:      "stolen after bob read alice's chain",
		before:    []string{"a", "b", "a", "b", "a"},
		after:     []string{"b", "b", "a", "b", "a", "a", "b", "a"},
		quantum:   []string{"b5", "b6"}, // bob's next chain mixes the secret the thief stole
		classical: nil,                  // bob's next chain has a fresh DH key
	}, {
		name:      "stolen while bob's chain waits for an answer",
		before:    []string{"a", "b", "a", "b"},
		after:     []string{"b", "a", "b", "a", "b", "a", "b"},
		quantum:   []string{"b4", "a5", "b6"}, // alice encapsulated to the stolen key; bob's answer mixes that
		classical: []string{"b4", "a5"},       // alice's chain answers bob's stolen DH key
	}} {
		t.Run(tc.name, func(t *testing.T) {
			alice, bob := pair(t)
			tr := &transcript{t: t, alice: alice, bob: bob}
			i := 0
			run := func(who []string) {
				for _, w := range who {
					text := fmt.Sprint(w, i)
					i++
					if w == "a" {
						tr.aliceSends(text)
					} else {
						tr.bobSends(text)
					}
				}
			}
			run(tc.before)
			tr.steal()
			run(tc.after)
			var all []string
			for _, m := range tr.msgs[tr.stolenAt:] {
				all = append(all, m.pt)
			}
			stolenKey := privBytes(tr.stolen.dhs)
			everyDH := func(rootLog) bool { return true }
			stolenDH := func(st rootLog) bool { return st.bobKey == stolenKey }
			everySS := func([32]byte) bool { return true }
			stolenSS := func(ss [32]byte) bool { return tr.knownSS[ss] }
			if got := tr.replay(everyDH, everySS); fmt.Sprint(got) != fmt.Sprint(all) {
				t.Fatalf("with every secret the replay opens %v, want all of %v: the model is wrong", got, all)
			}
			if got := tr.replay(everyDH, stolenSS); fmt.Sprint(got) != fmt.Sprint(tc.quantum) {
				t.Errorf("the thief who breaks X25519 later opens %v, want only %v (sent after the theft: %v)", got, tc.quantum, all)
			}
			if got := tr.replay(stolenDH, everySS); fmt.Sprint(got) != fmt.Sprint(tc.classical) {
				t.Errorf("the classical thief opens %v, want only %v", got, tc.classical)
			}
			if !alice.PostQuantum() && !bob.PostQuantum() {
				t.Fatal("no post-quantum step at the end")
			}
		})
	}
}

// TestVersion1AfterVersion2Refused: version 1 headers (the previous
// client's) open until the conversation has carried a version 2 one; then
// they are refused, except a message whose key was kept as skipped.
func TestVersion1AfterVersion2Refused(t *testing.T) {
	alice, bob := pair(t)
	recv(t, bob, sealRaw(t, alice, 1, 0, nil, []byte("v1 message")))
	skipped := sealRaw(t, alice, 1, 0, nil, []byte("v1, arrives late"))
	recv(t, bob, send(t, alice, "v2 message"))
	v1 := sealRaw(t, alice, 1, 0, nil, []byte("v1 after v2"))
	if _, err := bob.Decrypt(v1.h, v1.ct, ad); !errors.Is(err, ErrVersion) {
		t.Fatalf("a version 1 header after version 2: %v, want ErrVersion", err)
	}
	recv(t, bob, skipped)
	recv(t, alice, send(t, bob, "b0"))
}

// TestMalformedKEMFields: a message that authenticates but whose KEM
// fields are wrong is refused and changes nothing; a post-quantum flag
// with no secret of ours to mix is refused.
func TestMalformedKEMFields(t *testing.T) {
	alice, bob := pair(t)
	recv(t, bob, send(t, alice, "a0"))
	recv(t, alice, send(t, bob, "b0")) // alice now holds bob's key and a secret to mix
	ek := alice.clone()
	if err := func() error { _, _, err := ek.sendStep(); return err }(); err != nil {
		t.Fatal(err)
	}
	goodEK := ek.dksKey.EncapsulationKey().Bytes()
	badEK := bytes.Clone(goodEK)
	badEK[0], badEK[1] = 0xff, badEK[1]|0x0f // a coefficient of 4095, not below q = 3329
	for _, tc := range []struct {
		name   string
		flags  uint8
		fields []byte
		text   string
		want   error
	}{
		{"key not reduced mod q", FlagPQ | FlagEK, badEK, "x", ErrMalformed},
		{"fields cut short", FlagPQ | FlagEK | FlagCT, goodEK, "short", ErrMalformed},
		{"post-quantum flag, nothing to mix", FlagEK, goodEK, "x", ErrAuth}, // alice did mix: bob's keys differ
	} {
		s := alice.clone()
		m := sealRaw(t, s, 2, tc.flags, tc.fields, []byte(tc.text))
		if _, err := bob.Decrypt(m.h, m.ct, ad); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	recv(t, bob, send(t, alice, "a1 after the refusals"))
	recv(t, alice, send(t, bob, "b1"))

	// A chain of bob's claiming a post-quantum step when alice had
	// encapsulated nothing (her first chain had no key of bob's).
	alice, bob = pair(t)
	recv(t, bob, send(t, alice, "a0"))
	m := sealRaw(t, bob, 2, FlagPQ|FlagEK, goodEK, []byte("claims a post-quantum step"))
	if _, err := alice.Decrypt(m.h, m.ct, ad); !errors.Is(err, ErrAuth) {
		t.Errorf("a post-quantum step with no secret of ours: %v, want ErrAuth", err)
	}
}

// TestBadKEMCiphertext: a ciphertext that is not what was encapsulated
// (ML-KEM's implicit rejection gives the receiver another secret) makes
// the answer unreadable: the sender refuses it, and nothing opens a
// chain keyed with a secret the two sides do not share.
func TestBadKEMCiphertext(t *testing.T) {
	alice, bob := pair(t)
	recv(t, bob, send(t, alice, "a0"))
	recv(t, alice, send(t, bob, "b0"))
	recv(t, bob, send(t, alice, "a1"))
	// bob's next first message, with its ciphertext altered by someone
	// holding the chain keys.
	s := bob.clone()
	fields, flags, err := s.sendStep()
	if err != nil {
		t.Fatal(err)
	}
	fields[EKLen+100] ^= 1
	s.step = false
	m := sealRaw(t, s, 2, flags|FlagPQ, fields, []byte("b1 with a bad ciphertext"))
	recv(t, alice, m) // opens: the ciphertext is not checked here
	a2 := send(t, alice, "a2")
	if _, err := s.Decrypt(a2.h, a2.ct, ad); !errors.Is(err, ErrAuth) {
		t.Fatalf("an answer keyed with a secret from a bad ciphertext: %v, want ErrAuth", err)
	}
}

// TestAliceFirstKeyIsNoChain: a message naming the key alice started
// from (bob's published key) is refused, not a crash.
func TestAliceFirstKeyIsNoChain(t *testing.T) {
	alice, bob := pair(t)
	h := Header{Version: 2, DH: *alice.dhr}
	if _, err := alice.Decrypt(h, make([]byte, 64), ad); !errors.Is(err, ErrAuth) {
		t.Fatalf("%v, want ErrAuth", err)
	}
	send(t, alice, "a0")
	if _, err := alice.Decrypt(h, make([]byte, 64), ad); !errors.Is(err, ErrAuth) {
		t.Fatalf("after sending: %v, want ErrAuth", err)
	}
	_ = bob
}
