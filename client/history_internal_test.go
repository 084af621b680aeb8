package client

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/client/group"
	"github.com/parley-im/parley/client/keystore"
)

// historyClient is a client with only a history, its state in dir.
func historyClient(t testing.TB, id *keystore.Identity, dir string) *Client {
	return &Client{Name: "alice", id: id, contacts: map[string]*Contact{}, blocked: map[string]bool{},
		uploads: map[string]*pendingUpload{}, book: group.New("alice"), groupOut: map[string]*stream{}, now: time.Now,
		statePath: filepath.Join(dir, "state")}
}

// reopen loads the state in dir as a new process would.
func reopen(t *testing.T, id *keystore.Identity, dir string) (*Client, error) {
	t.Helper()
	c := historyClient(t, id, dir)
	b, err := os.ReadFile(c.statePath)
	if err != nil {
		t.Fatal(err)
	}
	return c, c.load(b)
}

func texts(h []Message) string {
	var out []string
	for _, m := range h {
		out = append(out, m.Text)
	}
	return strings.Join(out, ",")
}

// TestHistoryLog: the history is appended to a log, changes of earlier
// messages too; a filter starts a new generation; reopened, it is the same.
// A save that wrote its record but not the state is dropped, and the next
// save replaces it. A damaged or cut log is refused, said so.
func TestHistoryLog(t *testing.T) {
	id, err := keystore.New()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := historyClient(t, id, dir)
	add := func(text string) {
		c.history = append(c.history, Message{From: "bob", To: "alice", Seq: uint64(len(c.history)), Kind: "text", Text: text})
		if err := c.save(); err != nil {
			t.Fatal(err)
		}
	}
	add("a")
	add("b")
	add("c")
	c.history[1].Text = "B"
	c.touchHistory(1)
	add("d")
	if c.hist.gen != 1 || c.hist.records != 4 {
		t.Fatalf("after four saves: generation %d, %d records; want 1 and 4 (one checkpoint, three appends)", c.hist.gen, c.hist.records)
	}
	got, err := reopen(t, id, dir)
	if err != nil || texts(got.history) != "a,B,c,d" {
		t.Fatalf("reopened: %q %v", texts(got.history), err)
	}

	// A filter: a new generation, the old file gone.
	c.setHistory(c.history[1:])
	if err := c.save(); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "state.history.*")); len(files) != 1 || !strings.HasSuffix(files[0], ".2") {
		t.Fatalf("history files after the filter: %v", files)
	}
	if got, err := reopen(t, id, dir); err != nil || texts(got.history) != "B,c,d" {
		t.Fatalf("reopened after the filter: %q %v", texts(got.history), err)
	}

	// A crash between the record and the state: the record is dropped.
	c.history = append(c.history, Message{From: "bob", To: "alice", Seq: 9, Kind: "text", Text: "lost"})
	if err := c.persistHistory(); err != nil {
		t.Fatal(err)
	}
	c2, err := reopen(t, id, dir)
	if err != nil || texts(c2.history) != "B,c,d" {
		t.Fatalf("after a save cut short: %q %v", texts(c2.history), err)
	}
	c2.history = append(c2.history, Message{From: "bob", To: "alice", Seq: 9, Kind: "text", Text: "e"})
	if err := c2.save(); err != nil {
		t.Fatal(err)
	}
	if got, err := reopen(t, id, dir); err != nil || texts(got.history) != "B,c,d,e" {
		t.Fatalf("the save after it: %q %v", texts(got.history), err)
	}

	// Damage.
	path := c2.histPath(c2.hist.gen)
	good, _ := os.ReadFile(path)
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1
	os.WriteFile(path, bad, 0o600)
	if _, err := reopen(t, id, dir); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Fatalf("a damaged record: %v", err)
	}
	os.WriteFile(path, good[:len(good)-5], 0o600)
	if _, err := reopen(t, id, dir); err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("a cut log: %v", err)
	}
	other, _ := keystore.New()
	os.WriteFile(path, good, 0o600)
	if _, err := reopen(t, other, dir); err == nil {
		t.Fatal("another identity opened the state")
	}
}

// TestHistoryFromOlderState: a state file with the history inside (from
// before the log, or a backup) is read, and moved into a log at the next
// save.
func TestHistoryFromOlderState(t *testing.T) {
	id, _ := keystore.New()
	dir := t.TempDir()
	c := historyClient(t, id, dir)
	c.history = []Message{{From: "bob", To: "alice", Kind: "text", Text: "old"}}
	plain, err := c.snapshot(time.Time{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.writeState(plain); err != nil {
		t.Fatal(err)
	}
	c2, err := reopen(t, id, dir)
	if err != nil || texts(c2.history) != "old" {
		t.Fatalf("an older state: %q %v", texts(c2.history), err)
	}
	if err := c2.save(); err != nil {
		t.Fatal(err)
	}
	if c2.hist.gen == 0 {
		t.Fatal("the history was not moved into a log")
	}
	if got, err := reopen(t, id, dir); err != nil || !reflect.DeepEqual(got.history, c2.history) {
		t.Fatalf("after moving it: %+v %v", got.history, err)
	}
}
