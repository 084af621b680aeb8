package client

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/store"
)

type chainDown struct{}

func (chainDown) Lookup(context.Context, string) (*bns.Record, error) {
	return nil, errors.New("chain down")
}

// openRecorded opens a copy of store/testdata/state-v1 (see
// state_fixture_test.go) and returns the client and the plaintext of the
// recorded state file.
func openRecorded(t *testing.T) (*Client, []byte) {
	t.Helper()
	src := filepath.Join("store", "testdata", "state-v1")
	var meta struct{ Name, Hub string }
	b, err := os.ReadFile(filepath.Join(src, "fixture.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	id, err := keystore.Load(filepath.Join(src, "keystore"), []byte("the fixture's passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(src, "state*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sealed, err := os.ReadFile(filepath.Join(src, "state"))
	if err != nil {
		t.Fatal(err)
	}
	k := id.LocalKey("state")
	aead, _ := chacha20poly1305.NewX(k[:])
	body := sealed[len(store.Magic):]
	plain, err := aead.Open(nil, body[:chacha20poly1305.NonceSizeX], body[chacha20poly1305.NonceSizeX:], []byte(store.Magic))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(context.Background(), meta.Name, id, chainDown{}, meta.Hub, filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	return c, plain
}

// normalState decodes a state's JSON with its lists that follow map order
// sorted, so that two states holding the same can be compared.
func normalState(t *testing.T, plain []byte) map[string]any {
	t.Helper()
	var s map[string]any
	d := json.NewDecoder(bytes.NewReader(plain))
	d.UseNumber()
	if err := d.Decode(&s); err != nil {
		t.Fatal(err)
	}
	by := func(key string) func(a, b any) int {
		return func(a, b any) int {
			return cmp.Compare(a.(map[string]any)[key].(string), b.(map[string]any)[key].(string))
		}
	}
	for list, key := range map[string]string{"contacts": "name", "links": "name", "groups": "id", "uploads": "path"} {
		if l, ok := s[list].([]any); ok {
			slices.SortFunc(l, by(key))
		}
	}
	return s
}

// migrateNumbers is what loading does to a state from before message
// numbers (next_number, next_n absent): the user's numbers go on from the
// sequence numbers shown so far.
func migrateNumbers(s map[string]any) {
	num := func(v any) int64 {
		n, _ := v.(json.Number).Int64()
		return n
	}
	for _, list := range []string{"contacts", "links"} {
		for _, x := range s[list].([]any) {
			ct := x.(map[string]any)
			if ct["next_number"] == nil {
				ct["next_number"] = json.Number(strconv.FormatInt(max(num(ct["next_send"]), 1), 10))
			}
		}
	}
	for _, x := range s["groups"].([]any) {
		g := x.(map[string]any)
		if g["next_n"] == nil {
			g["next_n"] = json.Number(strconv.FormatInt(max(num(g["out"].(map[string]any)["next"]), 1), 10))
		}
	}
}

// TestRecordedStateRoundTrip: the recorded state, loaded, is saved again
// as it was (but for the documented migrations: migrateNumbers), and what is saved opens to the same state: nothing of the
// old format is lost on the way through the client.
func TestRecordedStateRoundTrip(t *testing.T) {
	c, plain := openRecorded(t)
	want := normalState(t, plain)
	migrateNumbers(want)
	for _, key := range []string{"contacts", "links", "groups", "uploads", "doomed_paths", "blocked", "backup", "profile", "history_gen", "hubs", "device"} {
		if want[key] == nil {
			t.Fatalf("the recorded state has no %q: record a fuller fixture", key)
		}
	}
	delete(want, "history_gen") // where the log stands: the store puts it in (store.TestRecordedState)
	delete(want, "history_records")
	c.mu.Lock()
	got, err := c.snapshot(time.Time{}, false)
	c.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if g := normalState(t, got); !reflect.DeepEqual(g, want) {
		for k := range want {
			if !reflect.DeepEqual(g[k], want[k]) {
				t.Errorf("%s: got %.300v\nwant %.300v", k, g[k], want[k])
			}
		}
		for k := range g {
			if _, ok := want[k]; !ok {
				t.Errorf("%s: got %.300v, not in the recorded state", k, g[k])
			}
		}
		t.FailNow()
	}
	history := c.History()
	if len(history) < 10 {
		t.Fatalf("the recorded history holds %d messages", len(history))
	}

	// Saved again, a new generation of the history and all, it reopens the same.
	c.mu.Lock()
	c.changes.Replace()
	err = c.saveUnlock()
	if err != nil {
		t.Fatal(err)
	}
	id := c.id
	again, err := Open(context.Background(), c.Name, id, chainDown{}, c.ownHubs()[0], c.statePath)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.History(); !reflect.DeepEqual(got, history) {
		t.Fatalf("the history reopened: %d messages, want %d", len(got), len(history))
	}
	again.mu.Lock()
	re, err := again.snapshot(time.Time{}, true)
	again.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	before, _ := c.snapshot(time.Time{}, true)
	c.mu.Unlock()
	if !reflect.DeepEqual(normalState(t, re), normalState(t, before)) {
		t.Fatalf("reopened:\n got %.2000s\nwant %.2000s", re, before)
	}
}
