package store

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/parley-im/parley/client/keystore"
)

func testKeys(t testing.TB) Keys {
	id, err := keystore.New()
	if err != nil {
		t.Fatal(err)
	}
	return keysOf(id)
}

func keysOf(id *keystore.Identity) Keys {
	return Keys{State: id.LocalKey("state"), History: id.LocalKey("history")}
}

// home is a store and the history a client keeps in memory.
type home struct {
	t       testing.TB
	s       *Store
	history []Message
	ch      *Changes
}

func openHome(t testing.TB, path string, keys Keys) (*home, *State, error) {
	s, st, h, ch, err := Open(path, keys)
	if err != nil {
		return nil, nil, err
	}
	return &home{t: t, s: s, history: h, ch: ch}, st, nil
}

// save prepares and writes a save of an empty state and the history.
func (h *home) save() error {
	state, _ := (&State{}).Marshal()
	sv, err := h.s.Prepare(state, len(h.history), func(i int) Message { return h.history[i] }, h.ch)
	if err != nil {
		return err
	}
	return h.s.Write(sv)
}

func (h *home) add(text string) {
	h.t.Helper()
	h.history = append(h.history, Message{From: "bob", To: "alice", Seq: uint64(len(h.history)), Kind: "text", Text: text})
	if err := h.save(); err != nil {
		h.t.Fatal(err)
	}
}

func texts(h []Message) string {
	var out []string
	for _, m := range h {
		out = append(out, m.Text)
	}
	return strings.Join(out, ",")
}

func reopen(t *testing.T, path string, keys Keys) ([]Message, error) {
	t.Helper()
	h, _, err := openHome(t, path, keys)
	if err != nil {
		return nil, err
	}
	return h.history, nil
}

// TestHistoryLog: the history is appended to a log, changes of earlier
// messages too; a filter starts a new generation; reopened, it is the same.
// A save that wrote its record but not the state is dropped, and the next
// save replaces it. A damaged or cut log is refused, said so.
func TestHistoryLog(t *testing.T) {
	keys := testKeys(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	h, st, err := openHome(t, path, keys)
	if err != nil || st != nil {
		t.Fatalf("a new home: %+v, %v", st, err)
	}
	h.add("a")
	h.add("b")
	h.add("c")
	h.history[1].Text = "B"
	h.ch.Touch(1)
	h.add("d")
	if h.s.gen != 1 || h.s.records != 4 {
		t.Fatalf("after four saves: generation %d, %d records; want 1 and 4 (one checkpoint, three appends)", h.s.gen, h.s.records)
	}
	if got, err := reopen(t, path, keys); err != nil || texts(got) != "a,B,c,d" {
		t.Fatalf("reopened: %q %v", texts(got), err)
	}

	// A filter: a new generation, the old file gone.
	h.history = h.history[1:]
	h.ch.Replace()
	if err := h.save(); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "state.history.*")); len(files) != 1 || !strings.HasSuffix(files[0], ".2") {
		t.Fatalf("history files after the filter: %v", files)
	}
	if got, err := reopen(t, path, keys); err != nil || texts(got) != "B,c,d" {
		t.Fatalf("reopened after the filter: %q %v", texts(got), err)
	}

	// A crash between the record and the state: the record is dropped.
	rec, err := h.s.seal(h.s.gen, h.s.records, []byte(`{"add":[{"text":"lost"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.s.append(rec); err != nil {
		t.Fatal(err)
	}
	h2, _, err := openHome(t, path, keys)
	if err != nil || texts(h2.history) != "B,c,d" {
		t.Fatalf("after a save cut short: %q %v", texts(h2.history), err)
	}
	h2.add("e")
	if got, err := reopen(t, path, keys); err != nil || texts(got) != "B,c,d,e" {
		t.Fatalf("the save after it: %q %v", texts(got), err)
	}

	// Damage.
	log := h2.s.histPath(h2.s.gen)
	good, _ := os.ReadFile(log)
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	os.WriteFile(log, bad, 0o600)
	if _, err := reopen(t, path, keys); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "does not open") {
		t.Fatalf("a damaged record: %v", err)
	}
	os.WriteFile(log, good[:len(good)-5], 0o600)
	if _, err := reopen(t, path, keys); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("a cut log: %v", err)
	}
	os.WriteFile(log, good, 0o600)
	if _, err := reopen(t, path, testKeys(t)); !errors.Is(err, ErrDamaged) {
		t.Fatalf("another identity opened the state: %v", err)
	}
	os.WriteFile(path, []byte("not a state"), 0o600)
	if _, err := reopen(t, path, keys); !errors.Is(err, ErrNotState) {
		t.Fatalf("a file that is not a state: %v", err)
	}
}

// TestHistoryFromOlderState: a state file with the history inside (from
// before the log, or a backup) is read, and moved into a log at the next
// save.
func TestHistoryFromOlderState(t *testing.T) {
	keys := testKeys(t)
	path := filepath.Join(t.TempDir(), "state")
	old, _ := json.Marshal(&State{History: []Message{{From: "bob", To: "alice", Kind: "text", Text: "old"}}})
	if err := WriteState(path, keys, old); err != nil {
		t.Fatal(err)
	}
	h, _, err := openHome(t, path, keys)
	if err != nil || texts(h.history) != "old" {
		t.Fatalf("an older state: %q %v", texts(h.history), err)
	}
	if err := h.save(); err != nil {
		t.Fatal(err)
	}
	if h.s.gen == 0 {
		t.Fatal("the history was not moved into a log")
	}
	if got, err := reopen(t, path, keys); err != nil || !reflect.DeepEqual(got, h.history) {
		t.Fatalf("after moving it: %+v %v", got, err)
	}
}

// TestSavesInOrder: saves prepared in one order by many goroutines (each
// under the caller's lock, as a client does) and written without it,
// reach the disk in that order: the last state and the whole history.
func TestSavesInOrder(t *testing.T) {
	keys := testKeys(t)
	path := filepath.Join(t.TempDir(), "state")
	h, _, err := openHome(t, path, keys)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu sync.Mutex // the client's lock
		wg sync.WaitGroup
	)
	for i := range 40 {
		wg.Go(func() {
			mu.Lock()
			h.history = append(h.history, Message{Kind: "text", Text: strconv.Itoa(i)})
			if len(h.history) > 3 {
				h.history[2].Emoji += "x"
				h.ch.Touch(2)
			}
			state, _ := (&State{Blocked: []string{strconv.Itoa(len(h.history))}}).Marshal()
			sv, err := h.s.Prepare(state, len(h.history), func(i int) Message { return h.history[i] }, h.ch)
			mu.Unlock()
			if err == nil {
				err = h.s.Write(sv)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	h2, st, err := openHome(t, path, keys)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Blocked, []string{"40"}) || !reflect.DeepEqual(h2.history, h.history) {
		t.Fatalf("on disk: the state of save %v, %d messages (want the 40th, %d)", st.Blocked, len(h2.history), len(h.history))
	}
}

// TestFailedWrite: a save whose write fails is said so, as are those
// prepared on top of it; the next save writes everything, and nothing of
// the history is lost.
func TestFailedWrite(t *testing.T) {
	keys := testKeys(t)
	dir := filepath.Join(t.TempDir(), "home")
	os.Mkdir(dir, 0o700)
	path := filepath.Join(dir, "state")
	h, _, _ := openHome(t, path, keys)
	h.add("a")
	state, _ := (&State{}).Marshal()
	h.history = append(h.history, Message{Text: "b"})
	first, _ := h.s.Prepare(state, len(h.history), func(i int) Message { return h.history[i] }, h.ch)
	h.history = append(h.history, Message{Text: "c"})
	second, _ := h.s.Prepare(state, len(h.history), func(i int) Message { return h.history[i] }, h.ch)
	os.RemoveAll(dir) // the disk loses the home: nothing can be written
	err1 := h.s.Write(first)
	err2 := h.s.Write(second)
	if err1 == nil || !errors.Is(err2, errEarlier) {
		t.Fatalf("writes into a directory that is gone: %v, %v", err1, err2)
	}
	os.Mkdir(dir, 0o700)
	h.add("d")
	if got, err := reopen(t, path, keys); err != nil || texts(got) != "a,b,c,d" {
		t.Fatalf("after the failure: %q %v", texts(got), err)
	}
}

// TestParseMigrations: a state from before message numbers gets them.
func TestParseMigrations(t *testing.T) {
	st, err := Parse([]byte(`{"contacts":[{"name":"bob","next_send":5},{"name":"carol","next_send":0},{"name":"dave","next_send":9,"next_number":4}],` +
		`"links":[{"name":"erin","next_send":2}],"groups":[{"id":"g","out":{"next":3}},{"id":"h","out":{"next":3},"next_n":7}],"history":null}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ct := range append(st.Contacts, st.Links...) {
		got = append(got, ct.Name+":"+strconv.FormatUint(ct.NextNumber, 10))
	}
	for _, g := range st.Groups {
		got = append(got, g.ID+":"+strconv.FormatUint(g.NextN, 10))
	}
	if want := []string{"bob:5", "carol:1", "dave:4", "erin:2", "g:3", "h:7"}; !slices.Equal(got, want) {
		t.Fatalf("numbers %v, want %v", got, want)
	}
	if _, err := Parse([]byte(`{"contacts":`)); !errors.As(err, new(*json.SyntaxError)) {
		t.Fatalf("a cut state parsed: %v, want a JSON syntax error", err)
	}
}

// TestRecordedState: testdata/state-v1, a home written by the client
// before it was split into parts, opens, and saved again (with its
// migrations, TestParseMigrations) it is the same state: every field of
// the old format has its place in State. Its history comes back whole.
func TestRecordedState(t *testing.T) {
	src := filepath.Join("testdata", "state-v1")
	id, err := keystore.Load(filepath.Join(src, "keystore"), []byte("the fixture's passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	keys := keysOf(id)
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(src, "state*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600)
	}
	path := filepath.Join(dir, "state")
	sealed, _ := os.ReadFile(path)
	recorded, err := New(path, keys).open(sealed)
	if err != nil {
		t.Fatal(err)
	}
	h, st, err := openHome(t, path, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Contacts) != 5 || len(st.Links) != 2 || len(st.Groups) != 1 || len(h.history) < 10 {
		t.Fatalf("opened: %d contacts, %d links, %d groups, %d messages", len(st.Contacts), len(st.Links), len(st.Groups), len(h.history))
	}
	want := normal(t, recorded)
	for _, x := range append(want["contacts"].([]any), want["links"].([]any)...) { // the migration
		ct := x.(map[string]any)
		n, _ := ct["next_send"].(json.Number).Int64()
		ct["next_number"] = json.Number(strconv.FormatInt(max(n, 1), 10))
	}
	for _, x := range want["groups"].([]any) {
		g := x.(map[string]any)
		n, _ := g["out"].(map[string]any)["next"].(json.Number).Int64()
		g["next_n"] = json.Number(strconv.FormatInt(max(n, 1), 10))
	}
	b, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got := normal(t, h.s.place(b)) // where the log stands, as Write puts it
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the state as parsed:\n%s\nrecorded:\n%s", h.s.place(b), recorded)
	}

	// Saved again (a new generation), it reopens the same.
	h.ch.Replace()
	sv, err := h.s.Prepare(b, len(h.history), func(i int) Message { return h.history[i] }, h.ch)
	if err == nil {
		err = h.s.Write(sv)
	}
	if err != nil {
		t.Fatal(err)
	}
	h2, st2, err := openHome(t, path, keys)
	if err != nil || !reflect.DeepEqual(st2, st) || !reflect.DeepEqual(h2.history, h.history) {
		t.Fatalf("reopened: %v", err)
	}
}

// normal decodes a state's JSON with its lists that follow map order
// sorted.
func normal(t *testing.T, plain []byte) map[string]any {
	t.Helper()
	var s map[string]any
	d := json.NewDecoder(bytes.NewReader(plain))
	d.UseNumber()
	if err := d.Decode(&s); err != nil {
		t.Fatal(err)
	}
	for list, key := range map[string]string{"contacts": "name", "links": "name", "groups": "id", "uploads": "path"} {
		if l, ok := s[list].([]any); ok {
			slices.SortFunc(l, func(a, b any) int {
				return cmp.Compare(a.(map[string]any)[key].(string), b.(map[string]any)[key].(string))
			})
		}
	}
	return s
}

// TestUnwrittenSave: a save prepared and not written yet (its goroutine
// is slow) is written by the next Write, in its place: no Write waits on
// another goroutine, and none is lost.
func TestUnwrittenSave(t *testing.T) {
	keys := testKeys(t)
	path := filepath.Join(t.TempDir(), "state")
	h, _, _ := openHome(t, path, keys)
	h.add("a")
	prepare := func(text, blocked string) *Save {
		h.history = append(h.history, Message{Text: text})
		state, _ := (&State{Blocked: []string{blocked}}).Marshal()
		sv, err := h.s.Prepare(state, len(h.history), func(i int) Message { return h.history[i] }, h.ch)
		if err != nil {
			t.Fatal(err)
		}
		return sv
	}
	slow := prepare("b", "first")
	fast := prepare("c", "second")
	if err := h.s.Write(fast); err != nil {
		t.Fatal(err)
	}
	got, st, err := openHome(t, path, keys)
	if err != nil || texts(got.history) != "a,b,c" || !slices.Equal(st.Blocked, []string{"second"}) {
		t.Fatalf("on disk: %q, %v, %v", texts(got.history), st.Blocked, err)
	}
	if err := h.s.Write(slow); err != nil { // written already: nothing more to do
		t.Fatal(err)
	}
	h.s.WriteAll()
	if got, st, _ := openHome(t, path, keys); texts(got.history) != "a,b,c" || !slices.Equal(st.Blocked, []string{"second"}) {
		t.Fatalf("the slow save rewrote the state: %q, %v", texts(got.history), st.Blocked)
	}
}
