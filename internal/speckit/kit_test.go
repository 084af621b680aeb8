package speckit

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/ratchet"
	"github.com/parley-im/parley/client/wire"
)

var update = flag.Bool("update", false, "write testdata/vectors anew")

// VectorDir holds the test vectors, one file per case.
var vectorDir = filepath.Join(root, "testdata", "vectors")

// class names the outcome of opening a vector, as its expect line does.
func class(err error) string {
	switch {
	case err == nil:
		return "success"
	case errors.Is(err, ratchet.ErrReplay):
		return "replay"
	case errors.Is(err, wire.ErrHeader):
		return "header"
	case errors.Is(err, wire.ErrVersion), errors.Is(err, ratchet.ErrVersion):
		return "version"
	case errors.Is(err, wire.ErrUnsupported):
		return "unsupported"
	case errors.Is(err, wire.ErrAuth), errors.Is(err, ratchet.ErrAuth):
		return "mac"
	case errors.Is(err, wire.ErrForged):
		return "signature"
	case errors.Is(err, wire.ErrMalformed), errors.Is(err, ratchet.ErrMalformed):
		return "malformed"
	}
	return "unexpected error: " + err.Error()
}

func readVectors(t *testing.T) []*Vector {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(vectorDir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("no vectors in %s (go test -update ./internal/speckit writes them)", vectorDir)
	}
	var out []*Vector
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		v, err := ParseVector(strings.TrimSuffix(filepath.Base(n), ".txt"), b)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if !bytes.Equal(v.Marshal(), b) {
			t.Fatalf("%s: not in the one form Marshal writes", n)
		}
		out = append(out, v)
	}
	return out
}

// TestVectors opens every vector of testdata/vectors with the client's
// formats and checks the outcome its expect line names; every format has
// vectors that succeed and vectors that fail.
func TestVectors(t *testing.T) {
	if *update {
		if err := os.MkdirAll(vectorDir, 0o755); err != nil {
			t.Fatal(err)
		}
		old, _ := filepath.Glob(filepath.Join(vectorDir, "*.txt"))
		for _, o := range old {
			os.Remove(o)
		}
		for _, v := range generate(t) {
			if err := os.WriteFile(filepath.Join(vectorDir, v.Name+".txt"), v.Marshal(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	outcomes := map[string]map[bool]int{}
	for _, v := range readVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			format, expect := v.Get("format"), v.Get("expect")
			if outcomes[format] == nil {
				outcomes[format] = map[bool]int{}
			}
			outcomes[format][expect == "success"]++
			err := check(v)
			if got := class(err); got != expect {
				t.Errorf("%s (%s): got %s (%v), want %s", v.Name, strings.Join(v.All("comment"), "; "), got, err, expect)
			}
		})
	}
	for f := range Formats {
		if outcomes[f][true] == 0 || outcomes[f][false] == 0 {
			t.Errorf("format %s: %d valid and %d invalid vectors; each format needs both", f, outcomes[f][true], outcomes[f][false])
		}
	}
}

// errExpectation is returned when a vector opens to something else than
// its header says.
var errExpectation = errors.New("the vector opens to another value than its header says")

func check(v *Vector) error {
	switch v.Get("format") {
	case "handshake":
		return checkHandshake(v)
	case "message":
		return checkMessage(v)
	case "index":
		return checkIndex(v)
	case "receipt":
		return checkReceipt(v)
	case "group":
		return checkGroup(v)
	case "chunk":
		return checkChunk(v)
	case "profile":
		return checkProfile(v)
	case "event":
		e, err := wire.ParseEvent(v.Payload)
		if err == nil && e.Kind != v.Get("kind") {
			return errExpectation
		}
		return err
	}
	return fmt.Errorf("format %q", v.Get("format"))
}

func mustHex(v *Vector, k string) []byte {
	b, err := v.Hex(k)
	if err != nil {
		panic(err)
	}
	return b
}

func checkHandshake(v *Vector) error {
	x, err := hpke.DHKEM(ecdh.X25519()).DeriveKeyPair(mustHex(v, "to-x25519-seed"))
	if err != nil {
		return err
	}
	h, err := hpke.MLKEM768X25519().DeriveKeyPair(mustHex(v, "to-pq-seed"))
	if err != nil {
		return err
	}
	var sk bns.PublicKey
	copy(sk[:], mustHex(v, "from-signing-key"))
	in, err := wire.OpenIntro(v.Payload, v.Get("to"), []hpke.PrivateKey{x, h}, func(from string) (*bns.Record, error) {
		return &bns.Record{Name: from, Profile: bns.Profile{SigningKey: sk}}, nil
	})
	if err != nil {
		return err
	}
	if in.From != v.Get("from") || hex.EncodeToString(in.MutualKey[:]) != v.Get("mutual-key") ||
		strconv.FormatInt(in.Time.Unix(), 10) != v.Get("time") || hex.EncodeToString([]byte(in.Greeting)) != v.Get("greeting") {
		return errExpectation
	}
	return nil
}

// checkMessage replays the conversation: each message line is sealed
// again from the random inputs it gives (it must give the same blob) and
// opened by the other side; then the payload is opened.
func checkMessage(v *Vector) error {
	k := [32]byte(mustHex(v, "mutual-key"))
	bk, err := ecdh.X25519().NewPrivateKey(mustHex(v, "bob-x25519-private"))
	if err != nil {
		return err
	}
	alice, bob := v.Get("alice"), v.Get("bob")
	ra, rb := &fixedRandom{}, &fixedRandom{}
	type side struct {
		r    *ratchet.State
		rand *fixedRandom
		keys wire.Keys
	}
	sides := map[string]*side{
		alice: {ratchet.InitAlice(k, bk.PublicKey(), ra), ra, wire.ConversationKeys(k, alice, bob)},
		bob:   {ratchet.InitBob(k, bk, rb), rb, wire.ConversationKeys(k, bob, alice)},
	}
	other := map[string]string{alice: bob, bob: alice}
	for _, line := range v.All("message") {
		m := map[string]string{}
		for _, f := range strings.Fields(line) {
			key, val, _ := strings.Cut(f, "=")
			m[key] = val
		}
		from, to := sides[m["from"]], sides[other[m["from"]]]
		n, _ := strconv.ParseUint(m["n"], 10, 64)
		random, _ := hex.DecodeString(m["random"])
		ev, _ := hex.DecodeString(m["event"])
		want, _ := hex.DecodeString(m["blob"])
		for _, size := range []int{32, 64, 32} {
			if len(random) > 24 {
				from.rand.inputs = append(from.rand.inputs, random[:size])
				random = random[size:]
			}
		}
		from.rand.inputs = append(from.rand.inputs, random)
		path := wire.MessagePath(from.keys.SendKey, n)
		blob, err := wire.SealMessage(from.r, from.keys.Header, ev, []byte(path), from.rand)
		if err != nil {
			return fmt.Errorf("sealing again: %v", err)
		}
		if !bytes.Equal(blob, want) {
			return fmt.Errorf("message %s: sealed again, another blob", line[:20])
		}
		if got, err := wire.OpenMessage(to.r, to.keys.Header, blob, []byte(path)); err != nil || !bytes.Equal(got, ev) {
			return fmt.Errorf("message %s: %v", line[:20], err)
		}
	}
	reader := sides[v.Get("open-by")]
	n, _ := strconv.ParseUint(v.Get("n"), 10, 64)
	path := wire.MessagePath(reader.keys.RecvKey, n)
	got, err := wire.OpenMessage(reader.r, reader.keys.Header, v.Payload, []byte(path))
	if err != nil {
		return err
	}
	if hex.EncodeToString(got) != v.Get("event") {
		return errExpectation
	}
	return nil
}

func conversation(v *Vector) (wire.Keys, string, string) {
	return wire.ConversationKeys([32]byte(mustHex(v, "mutual-key")), v.Get("sender"), v.Get("reader")), v.Get("sender"), v.Get("reader")
}

func joinU64(xs []uint64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.FormatUint(x, 10)
	}
	return strings.Join(s, ",")
}

func checkIndex(v *Vector) error {
	keys, _, _ := conversation(v)
	path := wire.IndexPath(keys.SendKey)
	x, err := wire.OpenIndex(keys.Header, path, v.Payload)
	if err != nil {
		return err
	}
	var exp []string
	for _, e := range x.Expiring {
		exp = append(exp, fmt.Sprintf("%d@%d", e.Seq, e.At.Unix()))
	}
	if strconv.FormatUint(x.Count, 10) != v.Get("count") || joinU64(x.Deleted) != v.Get("deleted") || strings.Join(exp, ",") != v.Get("expiring") {
		return errExpectation
	}
	return nil
}

func checkReceipt(v *Vector) error {
	keys, _, _ := conversation(v)
	r, err := wire.OpenReceipt(keys.Header, wire.ReceiptPath(keys.SendKey), v.Payload)
	if err != nil {
		return err
	}
	var runs []string
	for _, s := range r.Skipped {
		runs = append(runs, fmt.Sprintf("%d-%d", s.From, s.To))
	}
	if strconv.FormatUint(r.Delivered, 10) != v.Get("delivered") || strconv.FormatUint(r.Read, 10) != v.Get("read") || strings.Join(runs, ",") != v.Get("skipped") {
		return errExpectation
	}
	return nil
}

func checkGroup(v *Vector) error {
	s := mustHex(v, "sender-key")
	epoch, _ := strconv.ParseUint(v.Get("epoch"), 10, 64)
	from, _ := strconv.ParseUint(v.Get("from"), 10, 64)
	i, _ := strconv.ParseUint(v.Get("i"), 10, 64)
	ck := wire.GroupChainStart(s)
	var mk [32]byte
	for j := from; j <= i; j++ {
		ck, mk = wire.GroupChainStep(ck)
	}
	ev, err := wire.OpenGroupMessage(mk, ed25519.PublicKey(mustHex(v, "sign-key")), v.Get("group"), epoch, i, wire.GroupPath(s, i), v.Payload)
	if err != nil {
		return err
	}
	if hex.EncodeToString(ev) != v.Get("event") {
		return errExpectation
	}
	return nil
}

func checkChunk(v *Vector) error {
	i, _ := strconv.Atoi(v.Get("i"))
	count, _ := strconv.Atoi(v.Get("count"))
	b, err := wire.OpenChunk(mustHex(v, "file-key"), i, count, v.Payload)
	if err != nil {
		return err
	}
	if hex.EncodeToString(b) != v.Get("content") {
		return errExpectation
	}
	return nil
}

func checkProfile(v *Vector) error {
	p, err := wire.OpenProfile(mustHex(v, "profile-key"), v.Payload)
	if err != nil {
		return err
	}
	want := map[string]string{}
	var got = map[string]string{"name": p.DisplayName, "status": p.Status}
	for _, kv := range []string{"name", "status"} {
		want[kv] = ""
	}
	js := mustHex(v, "profile")
	if !bytes.Contains(js, []byte(p.DisplayName)) || !bytes.Contains(js, []byte(p.Status)) || len(got) != len(want) {
		return errExpectation
	}
	return nil
}

// TestVectorFormat: the vector files have one form: a file with an
// unknown field, a field twice, upper-case hex or no final newline is
// refused.
func TestVectorFormat(t *testing.T) {
	good := "format: event\nexpect: success\ncomment: c\nkind: text\n\n7b7d\n"
	if _, err := ParseVector("x", []byte(good)); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]string{
		"unknown field":  "format: event\nexpect: success\nsize: 3\n\n7b7d\n",
		"field twice":    "format: event\nexpect: success\nkind: text\nkind: text\n\n7b7d\n",
		"unknown expect": "format: event\nexpect: maybe\n\n7b7d\n",
		"upper-case hex": "format: event\nexpect: success\n\n7B7D\n",
		"no newline":     "format: event\nexpect: success\n\n7b7d",
		"no blank line":  "format: event\nexpect: success\n7b7d\n",
		"unknown format": "format: poem\nexpect: success\n\n7b7d\n",
	} {
		if _, err := ParseVector("x", []byte(b)); err == nil {
			t.Errorf("%s: taken", name)
		}
	}
	_ = slices.Contains[[]string]
	_ = time.Second
}
