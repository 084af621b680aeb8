package disk_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/driver/disk"
	"github.com/parley-im/parley/hub/drivertest"
)

func TestConformance(t *testing.T) {
	drivertest.Run(t, func(t *testing.T, now func() time.Time) hub.Driver {
		d, err := disk.New(t.TempDir(), disk.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// TestStaysUnderRoot: every file a write makes is under root/<address>, and
// no stored name starts with '.', whatever the path.
func TestStaysUnderRoot(t *testing.T) {
	root := t.TempDir()
	d, err := disk.New(filepath.Join(root, "data"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"%2e%2e/escape", "a/%2F..%2F", ".env", "x/.ssh/id", "con", "a:b", "🙂"} {
		if _, err := d.Put(context.Background(), "addr", p, strings.NewReader("x"), hub.PutOptions{}); err != nil {
			t.Fatalf("put %q: %v", p, err)
		}
	}
	filepath.WalkDir(root, func(p string, de os.DirEntry, err error) error {
		rel, _ := filepath.Rel(filepath.Join(root, "data", "addr"), p)
		if !de.IsDir() && (strings.HasPrefix(rel, "..") || strings.HasPrefix(de.Name(), ".")) {
			t.Errorf("file %s outside the address directory or hidden", p)
		}
		return nil
	})
}

// TestCrashLeftovers: temporary files of interrupted writes are removed on
// open and never listed.
func TestCrashLeftovers(t *testing.T) {
	root := t.TempDir()
	d, _ := disk.New(root)
	d.Put(context.Background(), "addr", "f", strings.NewReader("x"), hub.PutOptions{})
	tmp := filepath.Join(root, "addr", ".tmp-123")
	os.WriteFile(tmp, []byte("half"), 0o600)
	if objs, _, _ := d.List(context.Background(), "addr", "", "", 10); len(objs) != 1 {
		t.Fatalf("listed %d objects with a leftover temp file", len(objs))
	}
	if _, err := disk.New(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatal("leftover temp file not removed on open")
	}
}
