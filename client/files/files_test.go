package files

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/client/wire"
)

func TestSharedName(t *testing.T) {
	for in, want := range map[string]string{
		"/home/a/holiday.mov": "holiday.mov",
		"/home/a/.bashrc":     "bashrc",
		"/tmp/...":            "file",
		"/tmp/a\x01b\\c":      "a_b_c",
	} {
		got := SharedName(in)
		if got != want || wire.CheckFileName(got) != nil {
			t.Errorf("SharedName(%q) = %q, want %q", in, got, want)
		}
	}
}

// memHub is a hub in memory; it fails every Put after failAfter (-1:
// never).
type memHub struct {
	mu        sync.Mutex
	blobs     map[string][]byte
	puts      int
	failAfter int
}

var errDown = errors.New("hub down")

func (h *memHub) Put(_ context.Context, path string, blob []byte, _ time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failAfter >= 0 && h.puts >= h.failAfter {
		return errDown
	}
	h.puts++
	h.blobs[path] = bytes.Clone(blob)
	return nil
}

func (h *memHub) fetch(_ context.Context, path string, open func([]byte) error) error {
	h.mu.Lock()
	b, ok := h.blobs[path]
	h.mu.Unlock()
	if !ok {
		return fs.ErrNotExist
	}
	return open(b)
}

// upload makes a file of size random bytes and an Upload of it.
func upload(t *testing.T, size int64) (*os.File, []byte, *Upload, [][32]byte) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	sum, sums, err := Hashes(f, size)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	return f, data, &Upload{Path: path, Size: size, SHA256: sum, Key: key}, sums
}

// TestSendResumesAndGetVerifies: an upload cut short on one hub resumes
// where that hub stopped, on another hub it starts from nothing; what the
// hub holds downloads to the same bytes; a chunk altered on the hub is a
// *ChunkError naming it and leaves no file.
func TestSendResumesAndGetVerifies(t *testing.T) {
	ctx := context.Background()
	size := int64(2*wire.ChunkSize + 1000)
	f, data, up, sums := upload(t, size)
	hubs := map[string]*memHub{"a": {blobs: map[string][]byte{}, failAfter: 1}, "b": {blobs: map[string][]byte{}, failAfter: -1}}
	dial := func(_ context.Context, url string) (Hub, error) { return hubs[url], nil }
	saves := 0
	saved := func() error { saves++; return nil }
	if err := Send(ctx, f, up, sums, []string{"a"}, dial, saved, nil); !errors.Is(err, errDown) {
		t.Fatalf("send with the hub failing after one chunk: %v, want errDown", err)
	}
	if got := up.Acked()["a"]; got != 1 || saves != 1 {
		t.Fatalf("after one chunk: acked %d, saved %d times", got, saves)
	}
	hubs["a"].failAfter = -1
	if err := Send(ctx, f, up, sums, []string{"a", "b"}, dial, saved, nil); err != nil {
		t.Fatal(err)
	}
	if a, b := hubs["a"].puts, hubs["b"].puts; a != 3 || b != 3 {
		t.Fatalf("puts: hub a %d (want 3: one, then the two left), hub b %d (want 3)", a, b)
	}

	fr := up.Ref("f")
	dest := filepath.Join(t.TempDir(), "got")
	if err := Get(ctx, fr, dest, hubs["b"].fetch, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, data) {
		t.Fatal("the downloaded file differs")
	}

	p := wire.ChunkPath(fr.Key, 1)
	hubs["a"].blobs[p][len(hubs["a"].blobs[p])-1] ^= 1
	other := filepath.Join(t.TempDir(), "altered")
	var ce *ChunkError
	if err := Get(ctx, fr, other, hubs["a"].fetch, nil); !errors.As(err, &ce) || ce.Chunk != 1 {
		t.Fatalf("get with chunk 1 altered: %v, want a *ChunkError for chunk 1", err)
	}
	if _, err := os.Stat(other); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the file appeared though a chunk did not open: %v", err)
	}
	if err := Get(ctx, fr, dest, hubs["b"].fetch, nil); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("get onto an existing file: %v, want fs.ErrExist", err)
	}
}

// TestSendStopsOnChange: a file that changes after it was hashed stops
// the upload with ErrChanged before the changed chunk is sealed.
func TestSendStopsOnChange(t *testing.T) {
	ctx := context.Background()
	f, _, up, sums := upload(t, int64(wire.ChunkSize+10))
	h := &memHub{blobs: map[string][]byte{}, failAfter: -1}
	if err := os.WriteFile(up.Path, []byte(fmt.Sprint("something else, ", time.Now())), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Send(ctx, f, up, sums, []string{"a"}, func(context.Context, string) (Hub, error) { return h, nil }, func() error { return nil }, nil)
	if !errors.Is(err, ErrChanged) || h.puts != 0 {
		t.Fatalf("send of a changed file: %v, %d chunks stored; want ErrChanged and none", err, h.puts)
	}
}

// TestGetWritesNoOneElsesFile: bob, a contact who also has an account on
// alice's machine, shares a file "notes.txt" holding shell commands, and
// plants /tmp/notes.txt.part, a symbolic link to alice's ~/.bashrc (or a
// hard link to a file of hers, where the kernel allows it). Alice saves
// the file in /tmp. The download opened the part file through the link,
// truncated her .bashrc and wrote bob's file into it: his commands ran at
// her next shell. A part file is now opened without following a link,
// and only if it is a plain file of this user's with no other name; else
// the download is refused (ErrPartNotOurs) and nothing is written.
func TestGetWritesNoOneElsesFile(t *testing.T) {
	ctx := context.Background()
	f, _, up, sums := upload(t, 1000)
	hub := &memHub{blobs: map[string][]byte{}, failAfter: -1}
	dial := func(context.Context, string) (Hub, error) { return hub, nil }
	if err := Send(ctx, f, up, sums, []string{"h"}, dial, func() error { return nil }, nil); err != nil {
		t.Fatal(err)
	}
	fr := up.Ref("notes.txt")
	home, shared := t.TempDir(), t.TempDir()
	bashrc := filepath.Join(home, ".bashrc")
	const mine = "alias ll='ls -l'\n"
	for _, tc := range []struct {
		name  string
		plant func(part string) error
	}{
		{"a symbolic link", func(part string) error { return os.Symlink(bashrc, part) }},
		{"a hard link", func(part string) error { return os.Link(bashrc, part) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(bashrc, []byte(mine), 0o600); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(shared, "notes-"+strings.ReplaceAll(tc.name, " ", "-")+".txt")
			if err := tc.plant(dest + ".part"); err != nil {
				t.Fatal(err)
			}
			err := Get(ctx, fr, dest, hub.fetch, nil)
			if got, _ := os.ReadFile(bashrc); string(got) != mine {
				t.Fatalf("saving a file where %s to .bashrc waited as its .part: .bashrc now holds %d bytes of what bob shared (Get: %v)", tc.name, len(got), err)
			}
			if !errors.Is(err, ErrPartNotOurs) {
				t.Fatalf("Get: %v, want ErrPartNotOurs", err)
			}
			if _, err := os.Lstat(dest); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the file appeared: %v", err)
			}
		})
	}
}
