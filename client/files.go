package client

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/parley-im/parley/client/files"
	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub/auth"
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
type Progress = files.Progress

// ErrFileChanged: a file being sent changed while it was read (each
// chunk is checked against what the file held when the send began, before
// it is sealed): nothing of the changed content went out; what went out
// before is deleted, and sending the file again starts over under a new
// file key.
var ErrFileChanged = files.ErrChanged

// ErrPartNotOurs: a download's DEST.part is a link or someone else's file
// (planted in a shared directory): nothing was written (files.ErrPartNotOurs).
var ErrPartNotOurs = files.ErrPartNotOurs

// FileError reports a chunk that is missing or does not open (Chunk -1:
// the whole file's SHA-256 does not match): the file is not written.
type FileError = files.ChunkError

// upKey names an upload: where to, and the file's absolute path.
type upKey struct {
	conv Conv
	path string
}

// pendingUpload is a file being sent to key.conv.
type pendingUpload struct {
	key upKey
	*files.Upload
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
	c.doomedPaths = append(c.doomedPaths, up.Stored()...)
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
	sum, sums, err := files.Hashes(f, st.Size())
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
		up = &pendingUpload{key, &files.Upload{Path: abs, Size: st.Size(), SHA256: sum, Key: fileKey, Caption: caption}}
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

	c.mu.Lock()
	own := slices.Clone(c.ownHubs())
	c.mu.Unlock()
	dial := func(ctx context.Context, url string) (files.Hub, error) {
		h, err := c.dial(ctx, url)
		if err != nil {
			return nil, err
		}
		return chunkHub{h}, nil
	}
	saved := func() error {
		c.mu.Lock()
		return c.saveUnlock()
	}
	if err := files.Send(ctx, f, up.Upload, sums, own, dial, saved, progress); err != nil {
		if errors.Is(err, ErrFileChanged) {
			c.dropUpload(key)
		}
		return Message{}, err
	}
	e := &wire.Event{Kind: wire.KindText, Text: up.Caption, File: up.Ref(files.SharedName(abs))}
	m, err := c.SendEvent(ctx, conv, e)
	if err != nil && !errors.Is(err, ErrQueued) {
		return m, err
	}
	c.mu.Lock()
	delete(c.uploads, key)
	serr := c.saveUnlock()
	return m, cmp.Or(err, serr)
}

// chunkHub is one of the user's hubs as files.Send writes to it.
type chunkHub struct{ h *hubclient.Client }

func (h chunkHub) Put(ctx context.Context, path string, blob []byte, expires time.Time) error {
	_, err := h.h.Put(ctx, path, blob, "application/octet-stream", hubclient.Cond{Expires: expires})
	return err
}

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
	hubs, addr := c.ownHubs(), c.Address()
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
	if dev := c.authorDevice(ref); dev != nil { // a device's chunks are in its own bucket
		addr = auth.NativeAddress(dev[:])
	}
	return files.Get(ctx, fr, dest, func(ctx context.Context, path string, open func([]byte) error) error {
		_, err := c.getVerified(ctx, hubs, addr, path, open)
		return err
	}, progress)
}
