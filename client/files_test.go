package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
)

// chunkGate counts the file-chunk requests of one method through it and
// fails those after a limit, as a process killed mid-transfer would.
type chunkGate struct {
	method string
	count  atomic.Int64
	limit  atomic.Int64 // -1: no limit
}

func newChunkGate(method string) *chunkGate {
	g := &chunkGate{method: method}
	g.limit.Store(-1)
	return g
}

func (g *chunkGate) client() *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == g.method && strings.Contains(r.URL.Path, "/f/") {
			if l := g.limit.Load(); l >= 0 && g.count.Load() >= l {
				return nil, errors.New("interrupted")
			}
			g.count.Add(1)
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
}

func writeRandomFile(t *testing.T, size int64) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "holiday.mov")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	r := rand.NewChaCha8([32]byte{7})
	if _, err := io.CopyN(io.MultiWriter(f, h), r, size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, h.Sum(nil)
}

func sha256File(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return h.Sum(nil)
}

// TestFileTransfer: a file over 100 MiB, its upload cut after 40 chunks
// and resumed (only the rest is sent again), its download cut after 30
// chunks and resumed; the copy is identical.
func TestFileTransfer(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB transfer")
	}
	w := newWorld(t)
	ctx := context.Background()
	up, down := newChunkGate("POST"), newChunkGate("GET")
	w.opts = []client.Option{client.WithHTTPClient(up.client())}
	alice, _, _ := w.userOn("alice", []string{w.hubs[0]}, filepath.Join(t.TempDir(), "alice.state"))
	w.opts = []client.Option{client.WithHTTPClient(down.client())}
	bob := w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	connect(t, alice, bob, "a film for you")

	const size = 100<<20 + 123
	src, sum := writeRandomFile(t, size)
	chunks := wire.ChunkCount(size)
	up.limit.Store(40)
	var last int64
	if _, err := alice.SendFile(ctx, "bob", src, "the holiday", func(done, total int64) { last = done }); err == nil {
		t.Fatal("an interrupted upload succeeded")
	}
	if up.count.Load() != 40 || last != 40*wire.ChunkSize {
		t.Fatalf("before the cut: %d chunks, progress %d", up.count.Load(), last)
	}
	up.limit.Store(-1)
	up.count.Store(0)
	if _, err := alice.SendFile(ctx, "bob", src, "the holiday", func(done, total int64) { last = done }); err != nil {
		t.Fatal(err)
	}
	if n := up.count.Load(); n != int64(chunks-40) || last != size {
		t.Fatalf("the resumed upload sent %d chunks (want %d), progress %d", n, chunks-40, last)
	}

	ms, err := bob.Receive(ctx, "alice")
	if err != nil || len(ms) != 2 || ms[1].File == nil || ms[1].Text != "the holiday" || ms[1].File.Size != size {
		t.Fatalf("bob received %+v %v", ms, err)
	}
	ref := ms[1].ID()
	dest := filepath.Join(t.TempDir(), "film.mov")
	down.limit.Store(30)
	if err := bob.GetFile(ctx, "alice", ref, dest, nil); err == nil {
		t.Fatal("an interrupted download succeeded")
	}
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an incomplete file appeared: %v", err)
	}
	down.limit.Store(-1)
	down.count.Store(0)
	if err := bob.GetFile(ctx, "alice", ref, dest, nil); err != nil {
		t.Fatal(err)
	}
	if n := down.count.Load(); n != int64(chunks-30) {
		t.Fatalf("the resumed download fetched %d chunks, want %d", n, chunks-30)
	}
	if !bytes.Equal(sha256File(t, dest), sum) {
		t.Fatal("the copy differs")
	}
}

// TestFileDamage: an altered, swapped or missing chunk is reported and
// nothing is written; deleting the message deletes its chunks.
func TestFileDamage(t *testing.T) {
	w, alice, bob := newPair(t)
	ctx := context.Background()
	connect(t, alice, bob, "files")
	src, sum := writeRandomFile(t, 2*wire.ChunkSize+5)
	m, err := alice.SendFile(ctx, "bob", src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Receive(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	key := m.File.Key
	addr := alice.Address()
	real := [][]byte{blob(t, w, 0, addr, wire.ChunkPath(key, 0)), blob(t, w, 0, addr, wire.ChunkPath(key, 1))}
	dest := filepath.Join(t.TempDir(), "out")
	damage := map[string]func(){
		"altered": func() {
			b := bytes.Clone(real[1])
			b[100] ^= 1
			setBlob(w, 0, addr, wire.ChunkPath(key, 1), b)
		},
		"swapped": func() { setBlob(w, 0, addr, wire.ChunkPath(key, 1), real[0]) },
		"missing": func() { w.drivers[0].Delete(ctx, addr, wire.ChunkPath(key, 1), hub.DeleteOptions{}) },
	}
	for name, f := range damage {
		os.Remove(dest + ".part")
		f()
		var fe *client.FileError
		if err := bob.GetFile(ctx, "alice", m.ID(), dest, nil); !errors.As(err, &fe) || fe.Chunk != 1 {
			t.Fatalf("%s chunk: %v", name, err)
		}
		if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s chunk: the file was written", name)
		}
		setBlob(w, 0, addr, wire.ChunkPath(key, 1), real[1])
	}
	if err := bob.GetFile(ctx, "alice", m.ID(), dest, nil); err != nil || !bytes.Equal(sha256File(t, dest), sum) {
		t.Fatalf("after repair: %v", err)
	}
	// An existing file is never replaced.
	os.WriteFile(dest, []byte("mine"), 0o600)
	if err := bob.GetFile(ctx, "alice", m.ID(), dest, nil); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(dest); string(b) != "mine" {
		t.Fatal("an existing file was replaced")
	}
	if err := alice.Delete(ctx, "bob", m.Seq); err != nil {
		t.Fatal(err)
	}
	for i := range m.File.Chunks {
		if _, err := w.drivers[0].Stat(ctx, addr, wire.ChunkPath(key, i)); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("chunk %d outlived its message: %v", i, err)
		}
	}
}

// TestTwoHubsFilesAndGroups: alice publishes two hubs; with one down, her
// file and her group message still reach bob, from the other.
func TestTwoHubsFilesAndGroups(t *testing.T) {
	_, first, alice, bob := twoHubPair(t, "two hubs")
	ctx := context.Background()
	if _, err := alice.CreateGroup(ctx, "g", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	id := groupSync(t, "g", alice, bob)

	first.stop()
	src, sum := writeRandomFile(t, wire.ChunkSize+1)
	m, err := alice.SendFile(ctx, "bob", src, "", nil)
	if err != nil {
		t.Fatalf("file with one of two hubs down: %v", err)
	}
	if _, err := alice.SendGroup(ctx, id, &wire.Event{Kind: wire.KindText, Text: "group, one hub down"}); err != nil {
		t.Fatalf("group message with one of two hubs down: %v", err)
	}
	if _, err := bob.Receive(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "f")
	if err := bob.GetFile(ctx, "alice", m.ID(), dest, nil); err != nil || !bytes.Equal(sha256File(t, dest), sum) {
		t.Fatalf("file from the other hub: %v", err)
	}
	if got := groupTexts(t, bob, id); !strings.Contains(got, "alice:group, one hub down") {
		t.Fatalf("bob's group: %s", got)
	}
	// The first hub returns and catches up.
	first.start()
	if err := alice.Flush(ctx); err != nil {
		t.Fatalf("catching up the first hub: %v", err)
	}
}
