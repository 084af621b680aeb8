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
	"slices"
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

// errInterrupted is what a chunkGate says of a request it stops.
var errInterrupted = errors.New("interrupted")

func (g *chunkGate) client() *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == g.method && strings.Contains(r.URL.Path, "/f/") {
			if l := g.limit.Load(); l >= 0 && g.count.Load() >= l {
				return nil, errInterrupted
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
	if _, err := alice.SendFile(ctx, client.ContactConv("bob"), src, "the holiday", func(done, total int64) { last = done }); !errors.Is(err, errInterrupted) {
		t.Fatalf("an interrupted upload succeeded: %v, want the interruption", err)
	}
	if up.count.Load() != 40 || last != 40*wire.ChunkSize {
		t.Fatalf("before the cut: %d chunks, progress %d", up.count.Load(), last)
	}
	up.limit.Store(-1)
	up.count.Store(0)
	if _, err := alice.SendFile(ctx, client.ContactConv("bob"), src, "the holiday", func(done, total int64) { last = done }); err != nil {
		t.Fatal(err)
	}
	if n := up.count.Load(); n != int64(chunks-40) || last != size {
		t.Fatalf("the resumed upload sent %d chunks (want %d), progress %d", n, chunks-40, last)
	}

	ms, err := bob.Receive(ctx, client.ContactConv("alice"))
	if err != nil || len(ms) != 2 || ms[1].File == nil || ms[1].Text != "the holiday" || ms[1].File.Size != size {
		t.Fatalf("bob received %+v %v", ms, err)
	}
	ref := ms[1].ID()
	dest := filepath.Join(t.TempDir(), "film.mov")
	down.limit.Store(30)
	if err := bob.GetFile(ctx, client.ContactConv("alice"), ref, dest, nil); !errors.Is(err, errInterrupted) {
		t.Fatalf("an interrupted download succeeded: %v, want the interruption", err)
	}
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an incomplete file appeared: %v", err)
	}
	down.limit.Store(-1)
	down.count.Store(0)
	if err := bob.GetFile(ctx, client.ContactConv("alice"), ref, dest, nil); err != nil {
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
	m, err := alice.SendFile(ctx, client.ContactConv("bob"), src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
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
		if err := bob.GetFile(ctx, client.ContactConv("alice"), m.ID(), dest, nil); !errors.As(err, &fe) || fe.Chunk != 1 {
			t.Fatalf("%s chunk: %v", name, err)
		}
		if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s chunk: the file was written", name)
		}
		setBlob(w, 0, addr, wire.ChunkPath(key, 1), real[1])
	}
	if err := bob.GetFile(ctx, client.ContactConv("alice"), m.ID(), dest, nil); err != nil || !bytes.Equal(sha256File(t, dest), sum) {
		t.Fatalf("after repair: %v", err)
	}
	// An existing file is never replaced.
	os.WriteFile(dest, []byte("mine"), 0o600)
	if err := bob.GetFile(ctx, client.ContactConv("alice"), m.ID(), dest, nil); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(dest); string(b) != "mine" {
		t.Fatal("an existing file was replaced")
	}
	if err := alice.Delete(ctx, client.ContactConv("bob"), m.Seq); err != nil {
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
	m, err := alice.SendFile(ctx, client.ContactConv("bob"), src, "", nil)
	if err != nil {
		t.Fatalf("file with one of two hubs down: %v", err)
	}
	if _, err := alice.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "group, one hub down"}); err != nil {
		t.Fatalf("group message with one of two hubs down: %v", err)
	}
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "f")
	if err := bob.GetFile(ctx, client.ContactConv("alice"), m.ID(), dest, nil); err != nil || !bytes.Equal(sha256File(t, dest), sum) {
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

// keystreamReused reports whether two chunk blobs were sealed with one
// (key, nonce) over the plaintexts a and b: their ciphertexts XOR to
// a XOR b (at the ciphertext's offset in v1, or in v2 after the nonce
// and the length).
func keystreamReused(x, y, a, b []byte) bool {
	for _, off := range []int{1, 1 + 24 + 4} {
		if len(x) < off+len(a) || len(y) < off+len(b) {
			continue
		}
		same := true
		for i := range a {
			same = same && x[off+i]^y[off+i] == a[i]^b[i]
		}
		if same {
			return true
		}
	}
	return false
}

// TestFileChangedMidUpload: alice sends a file to her two hubs, and it
// changes (same size, other content) after the first hub has it and
// before the second does. No (key, nonce) ever seals two contents: the
// send stops with ErrFileChanged before the changed chunk goes out, and
// every chunk on both hubs is checked for a reused keystream. Sent again,
// the file goes out whole under a new key and bob gets exactly it.
func TestFileChangedMidUpload(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	alice, _, _ := w.userOn("alice", []string{w.hubs[0], w.hubs[1]}, "")
	bob := w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	connect(t, alice, bob, "files")
	before := bytes.Repeat([]byte("the first version of the file. "), 100)
	after := bytes.Repeat([]byte("THE OTHER VERSION OF THE FILE! "), 100)
	src := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(src, before, 0o600); err != nil {
		t.Fatal(err)
	}
	starts := 0
	_, err := alice.SendFile(ctx, client.ContactConv("bob"), src, "", func(done, total int64) {
		if done == 0 {
			if starts++; starts == 2 { // the second hub's first chunk is next
				os.WriteFile(src, after, 0o600)
			}
		}
	})
	if starts < 2 {
		t.Fatalf("the upload went to %d hubs", starts)
	}
	chunks := map[string][][]byte{}
	for i := range w.drivers[:2] {
		objs, _, lerr := w.drivers[i].List(ctx, alice.Address(), "f/", "", 1000)
		if lerr != nil {
			t.Fatal(lerr)
		}
		for _, o := range objs {
			chunks[o.Path] = append(chunks[o.Path], blob(t, w, i, alice.Address(), o.Path))
		}
	}
	for path, bs := range chunks {
		if len(bs) == 2 && !bytes.Equal(bs[0], bs[1]) && keystreamReused(bs[0], bs[1], before, after) {
			t.Errorf("%s: the two hubs hold two contents sealed under one key and nonce", path)
		}
	}
	if !errors.Is(err, client.ErrFileChanged) {
		t.Fatalf("sending a file that changed mid-upload: %v", err)
	}
	m, err := alice.SendFile(ctx, client.ContactConv("bob"), src, "", nil)
	if err != nil {
		t.Fatalf("sending it again: %v", err)
	}
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "got.txt")
	if err := bob.GetFile(ctx, client.ContactConv("alice"), m.ID(), dest, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, after) {
		t.Fatalf("bob got %.40q", got)
	}
	// What went out of the first attempt is gone from both hubs.
	for i := range w.drivers[:2] {
		objs, _, _ := w.drivers[i].List(ctx, alice.Address(), "f/", "", 1000)
		if len(objs) != 1 || objs[0].Path != wire.ChunkPath(m.File.Key, 0) {
			t.Errorf("hub %d holds %+v, not only the file sent", i, objs)
		}
	}
}

// TestFileChunksPadded: the hub learns a file's size only to its chunk
// count and the last chunk's bucket, as it learns a message's: a 4-byte
// file, a 3000-byte one and one a chunk and 5 bytes long are stored as
// chunks of bucket sizes, and bob gets each exactly.
func TestFileChunksPadded(t *testing.T) {
	w, alice, bob := newPair(t)
	ctx := context.Background()
	connect(t, alice, bob, "files")
	for _, size := range []int64{4, 3000, wire.ChunkSize + 5} {
		src, sum := writeRandomFile(t, size)
		m, err := alice.SendFile(ctx, client.ContactConv("bob"), src, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range m.File.Chunks {
			obj, err := w.drivers[0].Stat(ctx, alice.Address(), wire.ChunkPath(m.File.Key, i))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(wire.ChunkBuckets, int(obj.Size)) {
				t.Errorf("a file of %d bytes: chunk %d is %d bytes on the hub, not a bucket size %v", size, i, obj.Size, wire.ChunkBuckets)
			}
		}
		if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(t.TempDir(), "got")
		if err := bob.GetFile(ctx, client.ContactConv("alice"), m.ID(), dest, nil); err != nil || !bytes.Equal(sha256File(t, dest), sum) {
			t.Fatalf("a file of %d bytes: %v", size, err)
		}
	}
}
