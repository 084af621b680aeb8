package wire

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestReceipts(t *testing.T) {
	_, _, ka, kb := conversation(t)
	p := ReceiptPath(kb.RecvKey)
	if p != ReceiptPath(ka.SendKey) {
		t.Fatal("sender and reader compute different receipt paths")
	}
	r := SealReceipt(kb.Header, p, Receipt{Delivered: 7, Read: 5})
	if got, err := OpenReceipt(ka.Header, p, r); err != nil || !reflect.DeepEqual(got, Receipt{Delivered: 7, Read: 5}) {
		t.Fatalf("receipt = %+v %v", got, err)
	}
	skips := Receipt{Delivered: 9, Read: 9, Skipped: []Span{{1, 3}, {3, 4}, {6, 9}}}
	if got, err := OpenReceipt(ka.Header, p, SealReceipt(kb.Header, p, skips)); err != nil || !reflect.DeepEqual(got, skips) {
		t.Fatalf("receipt with skipped runs = %+v %v", got, err)
	}
	for seq, want := range []bool{false, true, true, true, false, false, true, true, true, false} {
		if skips.Skips(uint64(seq)) != want {
			t.Errorf("Skips(%d) = %v", seq, !want)
		}
	}
	var tooMany []Span
	for i := range uint64(MaxSkipped + 1) {
		tooMany = append(tooMany, Span{i, i + 1})
	}
	bad := bytes.Clone(r)
	bad[len(bad)-1] ^= 1
	for name, b := range map[string]struct {
		key  [32]byte
		path string
		blob []byte
	}{
		"altered":            {ka.Header, p, bad},
		"moved":              {ka.Header, ReceiptPath(ka.RecvKey), r},
		"wrong key":          {[32]byte{1}, p, r},
		"short":              {ka.Header, p, r[:10]},
		"read > delivered":   {ka.Header, p, SealReceipt(kb.Header, p, Receipt{Delivered: 1, Read: 2})},
		"empty run":          {ka.Header, p, SealReceipt(kb.Header, p, Receipt{Delivered: 5, Skipped: []Span{{2, 2}}})},
		"backward run":       {ka.Header, p, SealReceipt(kb.Header, p, Receipt{Delivered: 5, Skipped: []Span{{3, 2}}})},
		"unsorted runs":      {ka.Header, p, SealReceipt(kb.Header, p, Receipt{Delivered: 5, Skipped: []Span{{3, 4}, {1, 2}}})},
		"overlapping runs":   {ka.Header, p, SealReceipt(kb.Header, p, Receipt{Delivered: 5, Skipped: []Span{{1, 3}, {2, 4}}})},
		"run past delivered": {ka.Header, p, SealReceipt(kb.Header, p, Receipt{Delivered: 5, Skipped: []Span{{4, 6}}})},
		"too many runs":      {ka.Header, p, SealReceipt(kb.Header, p, Receipt{Delivered: 40, Skipped: tooMany})},
		"half a run":         {ka.Header, p, sealSmall(kb.Header, receiptVersion, p, make([]byte, 24))},
		"an index, not one":  {ka.Header, p, SealIndex(kb.Header, p, Index{Count: 3})},
	} {
		want := ErrMalformed // what does not authenticate is forged
		if name == "altered" || name == "moved" || name == "wrong key" {
			want = ErrForged
		}
		if _, err := OpenReceipt(b.key, b.path, b.blob); !errors.Is(err, want) {
			t.Errorf("%s receipt: %v, want %v", name, err, want)
		}
	}
}

func TestIndex(t *testing.T) {
	_, _, ka, kb := conversation(t)
	p := IndexPath(ka.SendKey)
	if p != IndexPath(kb.RecvKey) || p == IndexPath(kb.SendKey) {
		t.Fatal("index paths do not match their direction")
	}
	x := Index{Count: 10, Deleted: []uint64{2, 7}}
	got, err := OpenIndex(kb.Header, p, SealIndex(ka.Header, p, x))
	if err != nil || got.Count != 10 || !got.IsDeleted(7) || got.IsDeleted(3) || len(got.Deleted) != 2 {
		t.Fatalf("index = %+v %v", got, err)
	}
	at := time.Unix(1800000000, 0)
	x = Index{Count: 10, Deleted: []uint64{2}, Expiring: []Expiry{{Seq: 3, At: at}, {Seq: 8, At: at.Add(time.Hour)}}}
	got, err = OpenIndex(kb.Header, p, SealIndex(ka.Header, p, x))
	if err != nil || !reflect.DeepEqual(got, &x) {
		t.Fatalf("index with expiring messages = %+v %v", got, err)
	}
	for _, tc := range []struct {
		seq  uint64
		now  time.Time
		want bool
	}{
		{3, at, true}, {3, at.Add(-ExpiryTolerance), true}, {3, at.Add(-ExpiryTolerance - time.Second), false},
		{8, at.Add(-time.Second), false}, {8, at.Add(time.Hour), true}, {2, at.Add(time.Hour), false}, {4, at.Add(time.Hour), false},
	} {
		if got.IsExpired(tc.seq, tc.now) != tc.want {
			t.Errorf("IsExpired(%d, %v) = %v", tc.seq, tc.now, !tc.want)
		}
	}
	for name, bad := range map[string]Index{
		"deleted beyond count":  {Count: 3, Deleted: []uint64{3}},
		"unsorted":              {Count: 9, Deleted: []uint64{5, 2}},
		"repeated":              {Count: 9, Deleted: []uint64{2, 2}},
		"expiring beyond count": {Count: 3, Expiring: []Expiry{{Seq: 3, At: at}}},
		"expiring unsorted":     {Count: 9, Expiring: []Expiry{{Seq: 5, At: at}, {Seq: 2, At: at}}},
		"expiring repeated":     {Count: 9, Expiring: []Expiry{{Seq: 5, At: at}, {Seq: 5, At: at}}},
		"deleted and expiring":  {Count: 9, Deleted: []uint64{5}, Expiring: []Expiry{{Seq: 5, At: at}}},
	} {
		if _, err := OpenIndex(kb.Header, p, SealIndex(ka.Header, p, bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s index: %v", name, err)
		}
	}
	if _, err := OpenIndex(kb.Header, IndexPath(kb.SendKey), SealIndex(ka.Header, p, x)); !errors.Is(err, ErrForged) {
		t.Errorf("index moved to another path: %v", err)
	}
}

func TestEvents(t *testing.T) {
	key := make([]byte, 32)
	good := []Event{
		{Kind: KindText, Text: "hello", Time: 1},
		{Kind: KindText, Text: "a reply", Ref: &Ref{By: "bob", Seq: 3}},
		{Kind: KindReact, Emoji: "👍", Ref: &Ref{By: "bob", Seq: 3}},
		{Kind: KindEdit, Text: "fixed", Ref: &Ref{By: "alice", Seq: 1}},
		{Kind: KindDelete, Ref: &Ref{By: "alice", Seq: 1}},
		{Kind: KindTimer, TTL: 3600},
		{Kind: KindProfile, Key: key},
		{Kind: KindReceipts, Key: key},
		{Kind: KindGroup, Group: group(func(g *GroupInfo) {})},
		{Kind: KindGroup, Group: group(func(g *GroupInfo) { g.Seed, g.Sign = nil, nil })}, // the roster only
		{Kind: KindText, File: &FileRef{Name: "a.txt", Size: ChunkSize + 1, SHA256: make([]byte, 32), Key: key, Chunks: 2}},
	}
	for _, e := range good {
		b, err := MarshalEvent(&e)
		if err != nil {
			t.Fatalf("%s: %v", e.Kind, err)
		}
		got, err := ParseEvent(b)
		if err != nil || got.Kind != e.Kind || got.Text != e.Text || (e.Ref != nil && *got.Ref != *e.Ref) {
			t.Fatalf("%s: %+v %v", e.Kind, got, err)
		}
	}
	bad := map[string]Event{
		"react without ref":     {Kind: KindReact, Emoji: "x"},
		"long reaction":         {Kind: KindReact, Emoji: string(make([]byte, 40)), Ref: &Ref{}},
		"edit without ref":      {Kind: KindEdit, Text: "x"},
		"negative timer":        {Kind: KindTimer, TTL: -1},
		"short profile key":     {Kind: KindProfile, Key: key[:5]},
		"long receipt key":      {Kind: KindReceipts, Key: append(key, 0)},
		"ref by escapes":        {Kind: KindText, Text: "x", Ref: &Ref{By: "\x1b]0;title\x07\x1b[2J"}},
		"ref by nobody":         {Kind: KindDelete, Ref: &Ref{}},
		"ref by RLO":            {Kind: KindEdit, Text: "x", Ref: &Ref{By: "bob\u202e"}},
		"group: no group":       {Kind: KindGroup},
		"group: escapes in id":  {Kind: KindGroup, Group: group(func(g *GroupInfo) { g.ID = "\x1b[2J" + strings.Repeat("a", 28) })},
		"group: id in capitals": {Kind: KindGroup, Group: group(func(g *GroupInfo) { g.ID = strings.Repeat("AB", 16) })},
		"group: short id":       {Kind: KindGroup, Group: group(func(g *GroupInfo) { g.ID = "abc" })},
		"group: bad member":     {Kind: KindGroup, Group: group(func(g *GroupInfo) { g.Members = []string{"alice", "Bob!"} })},
		"group: no members":     {Kind: KindGroup, Group: group(func(g *GroupInfo) { g.Members = nil })},
		"group: short seed":     {Kind: KindGroup, Group: group(func(g *GroupInfo) { g.Seed = key[:5] })},
		"group: short sign":     {Kind: KindGroup, Group: group(func(g *GroupInfo) { g.Sign = key[:31] })},
		"group: sign, no seed":  {Kind: KindGroup, Group: group(func(g *GroupInfo) { g.Seed = nil })},
		"bad utf-8":             {Kind: KindText, Text: "\xff"},
		"file chunk count":      {Kind: KindText, File: &FileRef{Name: "a", Size: 10, SHA256: make([]byte, 32), Key: key, Chunks: 2}},
		"file name: path":       {Kind: KindText, File: &FileRef{Name: "../../.bashrc", Size: 1, SHA256: make([]byte, 32), Key: key, Chunks: 1}},
		"file name: hidden":     {Kind: KindText, File: &FileRef{Name: ".bashrc", Size: 1, SHA256: make([]byte, 32), Key: key, Chunks: 1}},
		"file name: NUL":        {Kind: KindText, File: &FileRef{Name: "a\x00b", Size: 1, SHA256: make([]byte, 32), Key: key, Chunks: 1}},
		"file name: empty":      {Kind: KindText, File: &FileRef{Size: 1, SHA256: make([]byte, 32), Key: key, Chunks: 1}},
	}
	for name, e := range bad {
		if _, err := MarshalEvent(&e); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParseEvent([]byte(`{"v":1,"k":"poll","t":5}`)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := ParseEvent([]byte(`{"v":2,"k":"text"}`)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("future version: %v", err)
	}
	if _, err := ParseEvent([]byte(`{"v":1,`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated: %v", err)
	}
}

func TestChunks(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	if ChunkCount(0) != 1 || ChunkCount(ChunkSize) != 1 || ChunkCount(ChunkSize+1) != 2 {
		t.Fatal("chunk count")
	}
	plain := []byte("chunk zero")
	b := SealChunk(key, 0, 2, plain)
	if !bytes.Equal(b, SealChunk(key, 0, 2, plain)) {
		t.Fatal("sealing is not deterministic: uploads could not resume")
	}
	if got, err := OpenChunk(key, 0, 2, b); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %q %v", got, err)
	}
	other := sha256.Sum256(key)
	altered := bytes.Clone(b)
	altered[5] ^= 1
	for name, f := range map[string]func() ([]byte, error){
		"altered":        func() ([]byte, error) { return OpenChunk(key, 0, 2, altered) },
		"swapped":        func() ([]byte, error) { return OpenChunk(key, 1, 2, b) },
		"file truncated": func() ([]byte, error) { return OpenChunk(key, 0, 1, b) },
		"another file's": func() ([]byte, error) { return OpenChunk(other[:], 0, 2, b) },
		"empty":          func() ([]byte, error) { return OpenChunk(key, 0, 2, nil) },
	} {
		want := ErrAuth
		if name == "empty" {
			want = ErrMalformed
		}
		if _, err := f(); !errors.Is(err, want) {
			t.Errorf("%s chunk: %v, want %v", name, err, want)
		}
	}
	if ChunkPath(key, 0) == ChunkPath(key, 1) || ChunkPath(key, 0) == ChunkPath(other[:], 0) {
		t.Fatal("chunk paths collide")
	}
}

// FuzzParseEvent: whatever a blob's plaintext holds, parsing neither
// panics nor accepts an event that does not check.
func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{`{"v":1,"k":"text","t":1,"text":"hi"}`, `{"v":1,"k":"react","ref":{"by":"a","seq":1},"emoji":"x"}`,
		`{"v":1,"k":"group","group":{"id":"00000000000000000000000000000000","name":"g","creator":"a","members":["a"],"epoch":1}}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEvent(b)
		if err == nil {
			if _, err := MarshalEvent(e); err != nil {
				t.Fatalf("parsed an event that does not check: %v", err)
			}
		}
	})
}

// group returns a well-formed group description, changed by edit.
func group(edit func(*GroupInfo)) *GroupInfo {
	g := &GroupInfo{ID: strings.Repeat("ab", 16), Name: "trip", Creator: "alice", Members: []string{"alice", "bob"},
		Epoch: 1, Seed: make([]byte, 32), Sign: make([]byte, 32), From: 3}
	edit(g)
	return g
}

// FuzzParseIndex: an index plaintext that parses (second format) is
// written back byte for byte, and never panics.
func FuzzParseIndex(f *testing.F) {
	at := time.Unix(1800000000, 0)
	for _, x := range []Index{{}, {Count: 10, Deleted: []uint64{2, 7}}, {Count: 10, Deleted: []uint64{2}, Expiring: []Expiry{{Seq: 3, At: at}, {Seq: 8, At: at}}}} {
		f.Add(indexPlain(x))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		x, err := parseIndex(indexVersion, p)
		if err != nil {
			return
		}
		if got := indexPlain(*x); !bytes.Equal(got, p) {
			t.Fatalf("%x parsed to %+v, written back as %x", p, x, got)
		}
		parseIndex(1, p)
	})
}

// TestEventJSONStrict: an event is read as every implementation reads it
// (docs/protocol.md, Events): each of these was taken by encoding/json
// alone, some as another event than a second client would see.
func TestEventJSONStrict(t *testing.T) {
	for _, b := range []string{
		`{"v":1,"k":"text","t":1700000000000,"text":"hi","ref":{"by":"bob","seq":9007199254740991}}`,
		`{"v":1,"k":"text","t":1,"text":"\ud83d\udc4d \\ud800 \"\u00e9"}`, // a pair, an escaped backslash, a quote
	} {
		if _, err := ParseEvent([]byte(b)); err != nil {
			t.Fatalf("a valid event %s: %v", b, err)
		}
	}
	for name, b := range map[string]string{
		"duplicate member":    `{"v":1,"k":"text","t":1,"text":"hi","text":"bye"}`,
		"member in capitals":  `{"v":1,"K":"text","t":1,"text":"hi"}`,
		"kelvin sign for k":   `{"v":1,"` + "\u212a" + `":"text","t":1,"text":"hi"}`,
		"nested capitals":     `{"v":1,"k":"react","t":1,"emoji":"x","ref":{"BY":"bob","seq":1}}`,
		"fraction":            `{"v":1,"k":"text","t":1.5,"text":"hi"}`,
		"exponent":            `{"v":1,"k":"text","t":1e3,"text":"hi"}`,
		"beyond 2^53 - 1":     `{"v":1,"k":"text","t":9007199254740992,"text":"hi"}`,
		"invalid UTF-8":       "{\"v\":1,\"k\":\"text\",\"t\":1,\"text\":\"h\xffi\"}",
		"two values":          `{"v":1,"k":"text","t":1,"text":"hi"}{}`,
		"lone surrogate":      `{"v":1,"k":"text","t":1,"text":"a\ud800b"}`,
		"base64 line break":   `{"v":1,"k":"profile","t":1,"key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"}`,
		"base64 pad bits":     `{"v":1,"k":"profile","t":1,"key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB="}`,
		"nested too deep":     `{"v":1,"k":"text","t":1,"x":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}`,
		"lone low surrogate":  `{"v":1,"k":"text","t":1,"text":"\udc00"}`,
		"duplicate in nested": `{"v":1,"k":"react","t":1,"emoji":"x","ref":{"by":"bob","by":"eve","seq":1}}`,
	} {
		if _, err := ParseEvent([]byte(b)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}
