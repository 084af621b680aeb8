package wire

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/ratchet"
)

// TestDeviceSessionVector: testdata/devicesession.txt, a device
// introduction's path and a device-pair session's keys, as computed apart
// from this code (Python's hashlib and hmac, from docs/protocol.md); the
// independent reader (internal/specreader) checks the same file.
func TestDeviceSessionVector(t *testing.T) {
	b, err := os.ReadFile("testdata/devicesession.txt")
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"alice", "alice-device", "bob", "bob-device", "pair-secret", "mutual-key", "intro-path-a-to-b",
		"header-key", "path-key-a-to-b", "path-key-b-to-a", "message-0-path-a-to-b",
		"group-link-intro-path-a-to-b", "group-link-root", "group-link-header-key"}
	v := map[string]string{}
	for n, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		k, val, ok := strings.Cut(line, ": ")
		if !ok || !strings.Contains(strings.Join(keys, " ")+" ", k+" ") || v[k] != "" {
			t.Fatalf("devicesession.txt:%d: not a known key: value line", n+1)
		}
		v[k] = val
	}
	if len(v) != len(keys) {
		t.Fatalf("devicesession.txt has %d of its %d keys", len(v), len(keys))
	}
	b32 := func(k string) (out [32]byte) {
		raw, err := hex.DecodeString(v[k])
		if err != nil || len(raw) != 32 {
			t.Fatalf("%s: %q is not 32 bytes of hex", k, v[k])
		}
		return [32]byte(raw)
	}
	a := Participant{Name: v["alice"], Device: bns.PublicKey(b32("alice-device"))}
	bo := Participant{Name: v["bob"], Device: bns.PublicKey(b32("bob-device"))}
	mutual := b32("mutual-key")
	ka, kb := DeviceSessionKeys(mutual, a, bo), DeviceSessionKeys(mutual, bo, a)
	groupRoot := GroupDeviceRoot(mutual)
	gk := DeviceSessionKeys(groupRoot, a, bo)
	for _, c := range []struct{ what, got, want string }{
		{"intro path", DeviceIntroPath(b32("pair-secret"), a, bo), v["intro-path-a-to-b"]},
		{"header key", hex.EncodeToString(ka.Header[:]), v["header-key"]},
		{"header key, bob's side", hex.EncodeToString(kb.Header[:]), v["header-key"]},
		{"path key a to b", hex.EncodeToString(ka.SendKey[:]), v["path-key-a-to-b"]},
		{"path key a to b, bob's side", hex.EncodeToString(kb.RecvKey[:]), v["path-key-a-to-b"]},
		{"path key b to a", hex.EncodeToString(ka.RecvKey[:]), v["path-key-b-to-a"]},
		{"path key b to a, bob's side", hex.EncodeToString(kb.SendKey[:]), v["path-key-b-to-a"]},
		{"message 0 path", MessagePath(ka.SendKey, 0), v["message-0-path-a-to-b"]},
		{"group device link intro path", GroupDeviceIntroPath(b32("pair-secret"), a, bo), v["group-link-intro-path-a-to-b"]},
		{"group device link root", hex.EncodeToString(groupRoot[:]), v["group-link-root"]},
		{"group device link header key", hex.EncodeToString(gk.Header[:]), v["group-link-header-key"]},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.what, c.got, c.want)
		}
	}
	// Another device of the same names is another session: no key is shared.
	other := DeviceSessionKeys(mutual, Participant{Name: "alice", Device: bns.PublicKey(b32("bob-device"))}, bo)
	if other.Header == ka.Header || other.SendKey == ka.SendKey || other.SendKey == ka.RecvKey {
		t.Error("two device pairs with one mutual key share a key")
	}
	if name := ConversationKeys(mutual, "alice", "bob"); name.Header == ka.Header || name.SendKey == ka.SendKey {
		t.Error("a device-pair session shares a key with the name session")
	}
}

// TestDeviceIntroAttacks: a device opens the introduction a listed device
// of a contact sealed to it at its path, and refuses every forgery: a
// writer the name does not list (a contact's hub, a removed device);
// sealed to another device, or for another name; moved to another path
// (a hub serving one device's introduction for another's); altered; cut;
// another version.
func TestDeviceIntroAttacks(t *testing.T) {
	a1, b1, b2, mallory := newDevice(t), newDevice(t), newDevice(t), newDevice(t)
	A := Participant{Name: "alice", Device: a1.pub}
	B1, B2 := Participant{Name: "bob", Device: b1.pub}, Participant{Name: "bob", Device: b2.pub}
	listed := func(name string, k bns.PublicKey) bool { return name == "alice" && k == a1.pub }
	pq := func(d *device) bns.EncKey {
		return bns.EncKey{KEM: bns.KEMMLKEM768X25519, Key: d.pq.PublicKey().Bytes()}
	}
	path := DeviceIntroPath([32]byte{1}, A, B1)
	in := &DeviceIntro{From: A, To: B1, MutualKey: [32]byte{7, 7, 7}, Time: time.Unix(1700000000, 0)}
	env, err := SealDeviceIntro(a1.sign, in, pq(b1), path)
	if err != nil {
		t.Fatal(err)
	}
	keys1 := []hpke.PrivateKey{b1.x, b1.pq}
	got, err := OpenDeviceIntro(env, path, B1, keys1, listed)
	if err != nil || *got != *in {
		t.Fatalf("OpenDeviceIntro = %+v, %v; want %+v", got, err, in)
	}
	seal := func(signer *device, in DeviceIntro, to bns.EncKey, path string) []byte {
		t.Helper()
		in.From.Device = signer.pub
		env, err := SealDeviceIntro(signer.sign, &in, to, path)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	for _, c := range []struct {
		name string
		env  []byte
		path string
		want error
	}{
		{"written by a device alice's record does not list", seal(mallory, *in, pq(b1), path), path, ErrNotADevice},
		{"sealed to bob's other device", seal(a1, DeviceIntro{From: A, To: B2, Time: in.Time}, pq(b2), path), path, ErrAuth},
		{"for another name", seal(a1, DeviceIntro{From: A, To: Participant{Name: "bobby", Device: b1.pub}, Time: in.Time}, pq(b1), path), path, ErrAuth},
		{"moved to another path", env, DeviceIntroPath([32]byte{1}, A, B2), ErrAuth},
		{"altered", func() []byte { e := bytes.Clone(env); e[len(e)-70] ^= 1; return e }(), path, ErrAuth},
		{"cut", env[:len(env)-1], path, ErrAuth},
		{"no envelope", env[:3], path, ErrMalformed},
		{"unknown version", append([]byte{2}, env[1:]...), path, ErrVersion},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := OpenDeviceIntro(c.env, c.path, B1, keys1, listed); !errors.Is(err, c.want) {
				t.Fatalf("OpenDeviceIntro = %v, want %v", err, c.want)
			}
		})
	}
	// Sealed to b1, naming b2 in its body: b1 opens the envelope but the
	// introduction is not its own.
	wrong := &DeviceIntro{From: A, To: B2, Time: in.Time}
	env2, err := SealDeviceIntro(a1.sign, wrong, pq(b1), path)
	if err != nil {
		t.Fatal(err)
	}
	env2[0] = deviceIntroVersion
	if _, err := OpenDeviceIntro(env2, path, B1, keys1, listed); !errors.Is(err, ErrAuth) {
		t.Fatalf("an introduction naming b2 sealed to b1: %v, want ErrAuth (the HPKE info names the device)", err)
	}
	// Signed by another key than the writer it names.
	if _, err := SealDeviceIntro(mallory.sign, in, pq(b1), path); err == nil {
		t.Fatal("SealDeviceIntro signed with a key that is not the writer's")
	}
}

// TestDeviceEventFields: the fields device-pair sessions add to events
// (s, c, ref dev, kind read) round-trip, and bad values are malformed.
func TestDeviceEventFields(t *testing.T) {
	dev := strings.Repeat("ab", 32)
	for _, e := range []*Event{
		{Kind: KindText, Text: "hi", S: 7},
		{Kind: KindText, Text: "copy", Conv: "bob", S: 3},
		{Kind: KindReact, Emoji: "👍", Ref: &Ref{By: "alice", Seq: 2, Dev: dev}, S: 4},
		{Kind: KindRead, Conv: "bob", Upto: []Ref{{By: "bob", Seq: 5}, {By: "bob", Seq: 2, Dev: dev}}},
		{Kind: KindRead, G: strings.Repeat("0f", 16), Upto: []Ref{{By: "bob", Seq: 5}, {By: "alice", Seq: 2, Dev: dev}}},
	} {
		b, err := MarshalEvent(e)
		if err != nil {
			t.Fatalf("MarshalEvent(%+v): %v", e, err)
		}
		got, err := ParseEvent(b)
		if err != nil {
			t.Fatalf("ParseEvent(%s): %v", b, err)
		}
		again, _ := MarshalEvent(got)
		if !bytes.Equal(again, b) {
			t.Errorf("round trip: %s, then %s", b, again)
		}
	}
	for _, c := range []struct{ name, json string }{
		{"a read without a conversation", `{"v":1,"k":"read","t":1,"upto":[{"by":"bob","seq":1}]}`},
		{"a read without refs", `{"v":1,"k":"read","t":1,"c":"bob"}`},
		{"a device in upper case", `{"v":1,"k":"react","t":1,"ref":{"by":"bob","seq":1,"dev":"` + strings.ToUpper(dev) + `"}}`},
		{"a device of 31 bytes", `{"v":1,"k":"react","t":1,"ref":{"by":"bob","seq":1,"dev":"` + dev[2:] + `"}}`},
		{"a conversation that is no name", `{"v":1,"k":"text","t":1,"text":"x","c":"Bob!"}`},
		{"a read of a conversation and a group", `{"v":1,"k":"read","t":1,"c":"bob","g":"` + strings.Repeat("0f", 16) + `","upto":[{"by":"bob","seq":1}]}`},
		{"a read of a group ID in capitals", `{"v":1,"k":"read","t":1,"g":"` + strings.Repeat("0F", 16) + `","upto":[{"by":"bob","seq":1}]}`},
		{"a group on a text", `{"v":1,"k":"text","t":1,"text":"x","g":"` + strings.Repeat("0f", 16) + `"}`},
		{"65 refs", `{"v":1,"k":"read","t":1,"c":"bob","upto":[` + strings.Repeat(`{"by":"bob","seq":1},`, 64) + `{"by":"bob","seq":1}]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParseEvent([]byte(c.json)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseEvent = %v, want ErrMalformed", err)
			}
		})
	}
}

// TestDeviceSessionsAcrossDevices: alice's device sends one event to each
// of bob's two devices, each in its own session; each device opens its
// introduction and its message, with the sequence number the event
// carries. A hub serving b1's message to b2 (at b2's path, or at b1's)
// serves nothing b2 opens: no device reads another's session.
func TestDeviceSessionsAcrossDevices(t *testing.T) {
	a1, b1, b2 := newDevice(t), newDevice(t), newDevice(t)
	A := Participant{Name: "alice", Device: a1.pub}
	listed := func(name string, k bns.PublicKey) bool { return name == "alice" && k == a1.pub }
	aliceX, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := MarshalEvent(&Event{Kind: KindText, Text: "hello, both of you", N: 1, S: 4, Time: 1700000000000})
	if err != nil {
		t.Fatal(err)
	}
	type side struct {
		keys       Keys
		bob        *ratchet.State
		path, blob string
	}
	var sides []*side
	for _, d := range []*device{b1, b2} {
		B := Participant{Name: "bob", Device: d.pub}
		raw, err := d.x.Bytes() // an X25519 private key serializes as itself
		if err != nil {
			t.Fatal(err)
		}
		devX, err := ecdh.X25519().NewPrivateKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := PairSecret(aliceX, devX.PublicKey().Bytes())
		if err != nil {
			t.Fatal(err)
		}
		path := DeviceIntroPath(pair, A, B)
		var k [32]byte
		rand.Read(k[:])
		env, err := SealDeviceIntro(a1.sign, &DeviceIntro{From: A, To: B, MutualKey: k, Time: time.Unix(1700000000, 0)},
			bns.EncKey{KEM: bns.KEMMLKEM768X25519, Key: d.pq.PublicKey().Bytes()}, path)
		if err != nil {
			t.Fatal(err)
		}
		keys := DeviceSessionKeys(k, A, B)
		msgPath := MessagePath(keys.SendKey, 0)
		blob, err := SealMessage(ratchet.InitAlice(k, devX.PublicKey(), nil), keys.Header, plain, []byte(msgPath), nil)
		if err != nil {
			t.Fatal(err)
		}
		// Bob's device: its own pair secret names the same path.
		pairB, _ := PairSecret(devX, aliceX.PublicKey().Bytes())
		in, err := OpenDeviceIntro(env, DeviceIntroPath(pairB, A, B), B, []hpke.PrivateKey{d.x, d.pq}, listed)
		if err != nil {
			t.Fatalf("bob's device opens its introduction: %v", err)
		}
		mine := DeviceSessionKeys(in.MutualKey, B, A)
		sides = append(sides, &side{keys: mine, bob: ratchet.InitBob(in.MutualKey, devX, nil), path: msgPath, blob: string(blob)})
		if MessagePath(mine.RecvKey, 0) != msgPath {
			t.Fatal("bob's device reads message 0 at another path than alice wrote it")
		}
	}
	// A hub serves b1's message to b2: at b2's path, and at b1's.
	for _, path := range []string{sides[1].path, sides[0].path} {
		r := *sides[1].bob
		if _, err := OpenMessage(&r, sides[1].keys.Header, []byte(sides[0].blob), []byte(path)); !errors.Is(err, ErrHeader) {
			t.Fatalf("b2 opened b1's message at %s: %v, want ErrHeader", path, err)
		}
	}
	for i, s := range sides {
		got, err := OpenMessage(s.bob, s.keys.Header, []byte(s.blob), []byte(s.path))
		if err != nil {
			t.Fatalf("device %d: %v", i+1, err)
		}
		e, err := ParseEvent(got)
		if err != nil || e.Text != "hello, both of you" || e.S != 4 {
			t.Fatalf("device %d reads %+v, %v", i+1, e, err)
		}
	}
}
