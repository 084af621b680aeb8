// Package files moves files as sealed chunks: it hashes a file once,
// uploads its chunks to the user's hubs from where each hub stopped (an
// Upload keeps that progress under its own lock), and downloads a shared
// file into DEST.part, verified chunk by chunk and as a whole, before DEST
// appears.
//
// It must not decide who may read a file, seal or send a message, or
// take the client's lock: the client says where chunks go (Hub) and
// where they come from (Fetch), and saves its state when told (Send's
// saved).
//
// A file is cut into wire.ChunkSize chunks, each sealed under its own key
// (derived from a fresh file key) and stored on every hub of the sender
// at an unlinkable path (wire.ChunkPath). Chunk sealing is deterministic,
// so a chunk sent again is the same blob.
package files

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley/client/wire"
)

// ErrChanged: a file being sent changed while it was read (each chunk is
// checked against what the file held when the send began, before it is
// sealed): nothing of the changed content went out.
var ErrChanged = errors.New("client: the file changed while it was being sent: send it again once it stays the same")

// ErrPartNotOurs: a download's DEST.part is not a plain file of this
// user's with no other name (a symbolic or hard link someone planted in a
// shared directory, to have the download write into a file of the
// user's): nothing is written.
var ErrPartNotOurs = errors.New("client: the partial download is not a plain file of yours (a link someone else may have put there): nothing was written")

// ChunkError reports a chunk that is missing or does not open (Chunk -1:
// every chunk opened, but the whole file's SHA-256 does not match): the
// file is not written.
type ChunkError struct {
	Chunk int
	Err   error
}

func (e *ChunkError) Error() string { return fmt.Sprintf("client: chunk %d: %v", e.Chunk, e.Err) }
func (e *ChunkError) Unwrap() error { return e.Err }

// Progress is told how many bytes of a transfer are done.
type Progress func(done, total int64)

func (p Progress) tell(done, total int64) {
	if p != nil {
		p(done, total)
	}
}

// Hashes reads the file of size bytes once: the whole file's SHA-256, and
// each chunk's, so that a chunk read again for sending can be checked. A
// file shorter than size is ErrChanged.
func Hashes(f io.ReaderAt, size int64) (sum []byte, sums [][32]byte, err error) {
	whole := sha256.New()
	buf := make([]byte, wire.ChunkSize)
	for i := range wire.ChunkCount(size) {
		k, err := f.ReadAt(buf, int64(i)*wire.ChunkSize)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, err
		}
		if int64(i)*wire.ChunkSize+int64(k) != min(int64(i+1)*wire.ChunkSize, size) {
			return nil, nil, ErrChanged
		}
		whole.Write(buf[:k])
		sums = append(sums, sha256.Sum256(buf[:k]))
	}
	return whole.Sum(nil), sums, nil
}

// An Upload is a file being sent: what the message will say of it, and
// how far each hub has it. Its progress is safe for concurrent use; the
// other fields do not change once it is made.
type Upload struct {
	Path    string // absolute
	Size    int64
	SHA256  []byte
	Key     []byte // the file key
	Caption string
	// Expires: with the conversation's timer on, when the hubs delete the
	// chunks (zero: never).
	Expires time.Time

	mu    sync.Mutex
	acked map[string]int // per hub URL: chunks 0..n-1 stored
}

// Acked returns, per hub URL, how many chunks the hub has stored (a
// copy).
func (u *Upload) Acked() map[string]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := maps.Clone(u.acked)
	if out == nil {
		out = map[string]int{}
	}
	return out
}

// SetAcked records that the hub at url stored chunks 0..n-1.
func (u *Upload) SetAcked(url string, n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.acked == nil {
		u.acked = map[string]int{}
	}
	u.acked[url] = n
}

// Stored returns the paths of every chunk some hub may hold, for deleting
// an upload that will not be sent.
func (u *Upload) Stored() []string {
	most := 0
	for _, n := range u.Acked() {
		most = max(most, n)
	}
	var out []string
	for i := range most {
		out = append(out, wire.ChunkPath(u.Key, i))
	}
	return out
}

// Ref is what the message sharing the uploaded file carries, under name
// (SharedName).
func (u *Upload) Ref(name string) *wire.FileRef {
	return &wire.FileRef{Name: name, Size: u.Size, SHA256: u.SHA256, Key: u.Key, Chunks: wire.ChunkCount(u.Size)}
}

// A Hub is one of the user's hubs, as Send writes chunks to it.
type Hub interface {
	Put(ctx context.Context, path string, blob []byte, expires time.Time) error
}

// Send stores every chunk of f (read at up.Size bytes) on every hub of
// hubs, in order, from where each hub stopped (up.Acked), dialling each
// with dial. After each chunk a hub stored it calls saved (the caller
// saves up's progress), and stops if saved fails. It succeeds when at
// least one hub holds the whole file; the failures of the others are
// reported only if none succeeded.
//
// Each chunk read is checked against sums (Hashes, when the send began)
// before it is sealed: a file that changed meanwhile stops everything
// with ErrChanged, so no file key ever seals two contents at one index.
func Send(ctx context.Context, f io.ReaderAt, up *Upload, sums [][32]byte, hubs []string, dial func(context.Context, string) (Hub, error), saved func() error, progress Progress) error {
	n := wire.ChunkCount(up.Size)
	buf := make([]byte, wire.ChunkSize)
	var firstErr error
	complete := false
	for _, url := range hubs {
		h, err := dial(ctx, url)
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		start := up.Acked()[url]
		err = func() error {
			for i := start; i < n; i++ {
				progress.tell(min(int64(i)*wire.ChunkSize, up.Size), up.Size)
				k, err := f.ReadAt(buf, int64(i)*wire.ChunkSize)
				if err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				if int64(i)*wire.ChunkSize+int64(k) != min(int64(i+1)*wire.ChunkSize, up.Size) || sha256.Sum256(buf[:k]) != sums[i] {
					return ErrChanged
				}
				blob := wire.SealChunk(up.Key, i, n, buf[:k])
				if err := h.Put(ctx, wire.ChunkPath(up.Key, i), blob, up.Expires); err != nil {
					return fmt.Errorf("client: chunk %d of %d to %s: %w", i, n, url, err)
				}
				up.SetAcked(url, i+1)
				if err := saved(); err != nil {
					return err
				}
			}
			return nil
		}()
		if errors.Is(err, ErrChanged) {
			return err // on no hub more
		}
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		complete = true
	}
	if !complete {
		return firstErr
	}
	progress.tell(up.Size, up.Size)
	return nil
}

// Fetch reads the blob at path from the hubs of the file's author and
// returns it once open accepts it (trying the next hub when open
// refuses one).
type Fetch func(ctx context.Context, path string, open func(blob []byte) error) error

// Get downloads the file fr to dest, fetching its chunks with fetch. It
// resumes from dest+".part" if an earlier attempt stopped; dest appears
// only once every chunk opened and the whole file's SHA-256 matches, and
// never replaces an existing file: a dest that exists (fs.ErrExist) or
// cannot be written, or whose .part is not a plain file of the user's
// (ErrPartNotOurs: a link), is refused before anything is fetched. A
// chunk that is missing or does not open is a *ChunkError.
func Get(ctx context.Context, fr *wire.FileRef, dest string, fetch Fetch, progress Progress) error {
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("client: %s: %w", dest, fs.ErrExist)
	}
	// The part file, in a directory others may write to (/tmp), is
	// opened only if it is the user's own plain file: never through a
	// link someone planted to have the download write into another file.
	part := dest + ".part"
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE|noFollow, 0o600)
	if linkRefused(err) {
		return fmt.Errorf("%w (%s)", ErrPartNotOurs, part)
	}
	if err != nil {
		return fmt.Errorf("client: cannot write %s: %w", dest, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !ownPlain(st) {
		return fmt.Errorf("%w (%s)", ErrPartNotOurs, part)
	}
	start := int(st.Size() / wire.ChunkSize) // chunks before it were verified when written
	if int64(start)*wire.ChunkSize >= fr.Size && fr.Size > 0 {
		start = fr.Chunks - 1
	}
	if err := f.Truncate(int64(start) * wire.ChunkSize); err != nil {
		return err
	}
	for i := start; i < fr.Chunks; i++ {
		progress.tell(int64(i)*wire.ChunkSize, fr.Size)
		var plain []byte
		err := fetch(ctx, wire.ChunkPath(fr.Key, i), func(blob []byte) (err error) {
			plain, err = wire.OpenChunk(fr.Key, i, fr.Chunks, blob)
			return err
		})
		if err != nil {
			return &ChunkError{Chunk: i, Err: err}
		}
		if want := min(wire.ChunkSize, fr.Size-int64(i)*wire.ChunkSize); int64(len(plain)) != want {
			return &ChunkError{Chunk: i, Err: fmt.Errorf("%d bytes, want %d", len(plain), want)}
		}
		if _, err := f.WriteAt(plain, int64(i)*wire.ChunkSize); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if !bytes.Equal(h.Sum(nil), fr.SHA256) {
		os.Remove(part) // every chunk opened yet the whole differs: start over
		return &ChunkError{Chunk: -1, Err: errors.New("the file's SHA-256 does not match its message")}
	}
	progress.tell(fr.Size, fr.Size)
	// Never over an existing file: a link fails if dest exists.
	if err := os.Link(part, dest); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("client: %s already exists; the verified file is kept in %s", dest, part)
		}
		return err
	}
	return os.Remove(part)
}

// SharedName is the name a file at path is shared under: its base name,
// made a plain one (wire.CheckFileName): no leading dots, no control
// characters, at most wire.MaxFileName bytes ("file" if nothing is left).
func SharedName(path string) string {
	name := strings.TrimLeft(filepath.Base(path), ".")
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return '_'
		}
		return r
	}, name)
	for len(name) > wire.MaxFileName {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	if name == "" {
		return "file"
	}
	return name
}
