package client

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/wire"
)

// Files: a file is cut into wire.ChunkSize chunks, each sealed under its
// own key (derived from a fresh file key) and stored on every hub of the
// sender at an unlinkable path; a text event carrying the file key, size,
// chunk count and SHA-256 shares it. The hub sees full chunks and a last
// one padded to a bucket (wire.ChunkBuckets), and cannot tell whose or
// which file they are.
//
// An upload interrupted (a crash, a hub down) resumes where it stopped:
// the file key and, per hub, how many chunks the hub acknowledged are
// kept in the state; chunk sealing is deterministic, so a chunk sent again
// is the same blob. A download resumes from DEST.part, which only ever
// holds verified chunks; the whole file's hash is checked before DEST
// appears.

// Progress is told how many bytes of a transfer are done.
type Progress func(done, total int64)

// upKey names an upload: where to, and the file's absolute path.
type upKey struct {
	conv Conv
	path string
}

type pendingUpload struct {
	key     upKey
	Size    int64
	SHA256  []byte
	Key     []byte
	Caption string
	Acked   map[string]int // per hub: chunks 0..n-1 stored
	// Expires: with the conversation's timer on, when the hubs delete the
	// chunks: a day after the message's own hub expiry would be, were it
	// sent when the upload began (an upload takes less).
	Expires time.Time
}

// ErrFileChanged: a file being sent changed while it was read (each
// chunk is checked against what the file held when the send began, before
// it is sealed): nothing of the changed content went out; what went out
// before is deleted, and sending the file again starts over under a new
// file key.
var ErrFileChanged = errors.New("client: the file changed while it was being sent: send it again once it stays the same")

// hashChunks reads the file of size bytes once: the whole file's SHA-256
// and each chunk's, so that a chunk read again for sending can be checked.
func hashChunks(f *os.File, size int64) ([]byte, [][32]byte, error) {
	whole := sha256.New()
	buf := make([]byte, wire.ChunkSize)
	var sums [][32]byte
	for i := range wire.ChunkCount(size) {
		k, err := f.ReadAt(buf, int64(i)*wire.ChunkSize)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, err
		}
		if int64(i)*wire.ChunkSize+int64(k) != min(int64(i+1)*wire.ChunkSize, size) {
			return nil, nil, ErrFileChanged
		}
		whole.Write(buf[:k])
		sums = append(sums, sha256.Sum256(buf[:k]))
	}
	return whole.Sum(nil), sums, nil
}

// dropUpload forgets the pending upload under key, and has Flush delete
// the chunks it put on the user's hubs.
func (c *Client) dropUpload(key upKey) {
	c.mu.Lock()
	up := c.uploads[key]
	if up == nil {
		c.mu.Unlock()
		return
	}
	delete(c.uploads, key)
	most := 0
	for _, n := range up.Acked {
		most = max(most, n)
	}
	for i := range most {
		c.doomedPaths = append(c.doomedPaths, wire.ChunkPath(up.Key, i))
	}
	c.saveUnlock()
}

// SendFile sends the file at path to conv with an optional caption. Run
// again after an interruption, it resumes the upload.
func (c *Client) SendFile(ctx context.Context, conv Conv, path, caption string, progress Progress) (Message, error) {
	if id, ok := conv.Group(); ok {
		if _, err := c.group(id); err != nil {
			return Message{}, err
		}
	} else if _, err := c.contact(conv.name); err != nil {
		return Message{}, err
	}
	if err := c.writable(ctx, false); err != nil {
		return Message{}, err
	}
	if name, ok := conv.Contact(); ok && c.isBlocked(name) {
		return Message{}, fmt.Errorf("client: %s is blocked: unblock them first", name)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Message{}, err
	}
	f, err := os.Open(abs)
	if err != nil {
		return Message{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Message{}, err
	}
	if !st.Mode().IsRegular() {
		return Message{}, fmt.Errorf("client: %s is not a regular file", path)
	}
	sum, sums, err := hashChunks(f, st.Size())
	if err != nil {
		return Message{}, err
	}

	timer := c.timerOf(conv)
	key := upKey{conv, abs}
	c.mu.Lock()
	up := c.uploads[key]
	if up != nil && (up.Size != st.Size() || !bytes.Equal(up.SHA256, sum)) {
		up = nil // another file now: start over
	}
	if up != nil && !up.Expires.IsZero() && !up.Expires.After(c.now().Add(time.Hour)) {
		up = nil // its chunks' hub expiry is (nearly) past: start over
	}
	if up == nil {
		fileKey := make([]byte, 32)
		rand.Read(fileKey)
		up = &pendingUpload{key: key, Size: st.Size(), SHA256: sum, Key: fileKey, Caption: caption, Acked: map[string]int{}}
		if timer > 0 {
			up.Expires = c.hubExpiry(c.now(), timer).Add(24 * time.Hour)
		}
		c.uploads[key] = up
		if err := c.saveUnlock(); err != nil {
			return Message{}, err
		}
	} else {
		c.mu.Unlock()
	}

	if err := c.uploadChunks(ctx, f, up, sums, progress); err != nil {
		if errors.Is(err, ErrFileChanged) {
			c.dropUpload(key)
		}
		return Message{}, err
	}
	ref := &wire.FileRef{Name: sharedName(abs), Size: up.Size, SHA256: up.SHA256, Key: up.Key, Chunks: wire.ChunkCount(up.Size)}
	e := &wire.Event{Kind: wire.KindText, Text: up.Caption, File: ref}
	m, err := c.SendEvent(ctx, conv, e)
	if err != nil && !errors.Is(err, ErrQueued) {
		return m, err
	}
	c.mu.Lock()
	delete(c.uploads, key)
	serr := c.saveUnlock()
	return m, cmp.Or(err, serr)
}

// sharedName is the name a file is shared under: its base name, made a
// plain one (wire.CheckFileName): no leading dots, no control characters.
func sharedName(path string) string {
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

// uploadChunks stores every chunk of the file on every hub of the user,
// in order, from where each hub stopped. It succeeds when at least one
// hub holds the whole file; hubs that failed are reported only if none
// succeeded.
//
// Each chunk read is checked against sums (what the file held when the
// send began) before it is sealed: a file that changed meanwhile stops
// everything with ErrFileChanged, so no file key ever seals two contents
// at one index (and v2 chunk nonces follow the content besides).
func (c *Client) uploadChunks(ctx context.Context, f *os.File, up *pendingUpload, sums [][32]byte, progress Progress) error {
	n := wire.ChunkCount(up.Size)
	buf := make([]byte, wire.ChunkSize)
	var firstErr error
	complete := false
	for _, url := range c.own {
		h, err := c.dial(ctx, url)
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		c.mu.Lock()
		start := up.Acked[url]
		c.mu.Unlock()
		err = func() error {
			for i := start; i < n; i++ {
				if progress != nil {
					progress(min(int64(i)*wire.ChunkSize, up.Size), up.Size)
				}
				k, err := f.ReadAt(buf, int64(i)*wire.ChunkSize)
				if err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				if int64(i)*wire.ChunkSize+int64(k) != min(int64(i+1)*wire.ChunkSize, up.Size) || sha256.Sum256(buf[:k]) != sums[i] {
					return ErrFileChanged
				}
				blob := wire.SealChunk(up.Key, i, n, buf[:k])
				if _, err := h.Put(ctx, wire.ChunkPath(up.Key, i), blob, "application/octet-stream", hubclient.Cond{Expires: up.Expires}); err != nil {
					return fmt.Errorf("client: chunk %d of %d to %s: %w", i, n, url, err)
				}
				c.mu.Lock()
				up.Acked[url] = i + 1
				err = c.saveUnlock()
				if err != nil {
					return err
				}
			}
			return nil
		}()
		if errors.Is(err, ErrFileChanged) {
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
	if progress != nil {
		progress(up.Size, up.Size)
	}
	return nil
}

// FileError reports a chunk that is missing or does not open: the file is
// not written.
type FileError struct {
	Chunk int
	Err   error
}

func (e *FileError) Error() string { return fmt.Sprintf("client: chunk %d: %v", e.Chunk, e.Err) }
func (e *FileError) Unwrap() error { return e.Err }

// GetFile downloads the file that message ref of the conversation with
// name shares to dest. It resumes from dest+".part" if an earlier attempt
// stopped; dest appears only once every chunk opened and the whole file's
// SHA-256 matches, and never replaces an existing file: a dest that
// exists (fs.ErrExist) or cannot be written is refused before anything
// is fetched.
func (c *Client) GetFile(ctx context.Context, conv Conv, ref wire.Ref, dest string, progress Progress) error {
	c.mu.Lock()
	i := c.find(ref, conv)
	var fr *wire.FileRef
	if i >= 0 {
		fr = c.history[i].File
	}
	c.mu.Unlock()
	if fr == nil {
		return fmt.Errorf("client: message %s with %s shares no file", ref, conv)
	}
	hubs, addr := c.own, c.Address()
	if ref.By != c.Name {
		author := c.memberConv(ref.By) // in a group: a member linked with, or a contact
		if !conv.isGroup() {
			author, _ = c.contact(ref.By)
		}
		if author == nil {
			return fmt.Errorf("%w: %s", ErrNotContact, ref.By)
		}
		hubs, addr = c.whereIs(author)
	}
	// The destination is checked before anything is fetched: it must
	// not exist, and its directory must take a new file.
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("client: %s: %w", dest, fs.ErrExist)
	}
	part := dest + ".part"
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("client: cannot write %s: %w", dest, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	start := int(st.Size() / wire.ChunkSize) // chunks before it were verified when written
	if int64(start)*wire.ChunkSize >= fr.Size && fr.Size > 0 {
		start = fr.Chunks - 1
	}
	if err := f.Truncate(int64(start) * wire.ChunkSize); err != nil {
		return err
	}
	for i := start; i < fr.Chunks; i++ {
		if progress != nil {
			progress(int64(i)*wire.ChunkSize, fr.Size)
		}
		plain, err := c.fetchChunk(ctx, hubs, addr, fr, i)
		if err != nil {
			return err
		}
		if want := min(wire.ChunkSize, fr.Size-int64(i)*wire.ChunkSize); int64(len(plain)) != want {
			return &FileError{Chunk: i, Err: fmt.Errorf("%d bytes, want %d", len(plain), want)}
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
		return &FileError{Chunk: -1, Err: errors.New("the file's SHA-256 does not match its message")}
	}
	if progress != nil {
		progress(fr.Size, fr.Size)
	}
	// Never over an existing file: a link fails if dest exists.
	if err := os.Link(part, dest); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("client: %s already exists; the verified file is kept in %s", dest, part)
		}
		return err
	}
	return os.Remove(part)
}

// fetchChunk reads chunk i from the first hub that serves one that opens.
func (c *Client) fetchChunk(ctx context.Context, hubs []string, addr string, fr *wire.FileRef, i int) ([]byte, error) {
	var plain []byte
	_, err := c.getVerified(ctx, hubs, addr, wire.ChunkPath(fr.Key, i), func(blob []byte) (err error) {
		plain, err = wire.OpenChunk(fr.Key, i, fr.Chunks, blob)
		return err
	})
	if err != nil {
		return nil, &FileError{Chunk: i, Err: err}
	}
	return plain, nil
}
