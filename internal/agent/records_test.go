package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/api"
)

// TestRecordsFile: the records whois verified come back from the sealed
// file in a new cache (a restarted agent), the newest maxSavedRecords of
// them; a file changed by a byte, or sealed under another identity's key,
// does not open (errRecords) and gives nothing, so a thief who can write
// the home cannot make whois show a record of their making.
func TestRecordsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), recordsF)
	key, other := [32]byte{1}, [32]byte{2}
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	r := newRecordCache(maxRecords)
	for i := range maxSavedRecords + 10 {
		name := fmt.Sprintf("n%03d", i)
		r.put(name, api.Whois{Record: api.Record{Name: name}, VerifiedAt: at.Add(time.Duration(i) * time.Second), Height: int64(i + 1)})
	}
	if err := r.save(path, key); err != nil {
		t.Fatal(err)
	}
	again := newRecordCache(maxRecords)
	if err := again.load(path, key); err != nil {
		t.Fatal(err)
	}
	if w, ok := again.get("n265"); !ok || w.Height != 266 || !w.VerifiedAt.Equal(at.Add(265*time.Second)) {
		t.Fatalf("the newest record after a restart: %+v, %v", w, ok)
	}
	if _, ok := again.get("n009"); ok {
		t.Fatalf("the file kept more than the newest %d", maxSavedRecords)
	}
	if _, ok := again.get("n010"); !ok {
		t.Fatalf("the file lost one of the newest %d", maxSavedRecords)
	}

	sealed, _ := os.ReadFile(path)
	for name, tc := range map[string]struct {
		file []byte
		key  [32]byte
	}{
		"a byte changed":       {append(append([]byte{}, sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1), key},
		"another identity's":   {sealed, other},
		"truncated":            {sealed[:len(recordsMagic)+10], key},
		"another file's magic": {append([]byte("parley/state/v1\n"), sealed[len(recordsMagic):]...), key},
	} {
		if err := os.WriteFile(path, tc.file, 0o600); err != nil {
			t.Fatal(err)
		}
		c := newRecordCache(maxRecords)
		if err := c.load(path, tc.key); !errors.Is(err, errRecords) {
			t.Errorf("%s: load = %v, want errRecords", name, err)
		}
		if _, ok := c.get("n265"); ok {
			t.Errorf("%s: a record came from a file that does not open", name)
		}
	}
}
