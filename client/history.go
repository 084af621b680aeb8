package client

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/client/keystore"
)

// The history is kept beside the state file, in an append-only log, so
// that a save costs what changed, not the whole history (the state file,
// rewritten at every save, holds only what is small: contacts, ratchets,
// outboxes, groups, settings).
//
// The log is STATE.history.GEN: records of u32 len ‖ nonce[24] ‖
// XChaCha20-Poly1305(the identity's local key "history", JSON, ad =
// "parley/history/v1" ‖ u64 GEN ‖ u64 record number). A record is either
// a checkpoint, the whole history ({"all": [...]}, always record 0), or
// what one save changed ({"add": [...], "set": {"i": message}}). The state
// file names the generation and how many records it commits: the log is
// appended to (and synced) before the state is written, so records past
// that count are from a save that did not finish, and are dropped. After
// history is filtered (messages expire, a contact is removed), or when the
// log has grown to twice its checkpoint, the next save writes a new
// generation with one checkpoint; the old file goes once the state names
// the new one.

// histLog is where the history stands on disk; guarded by c.mu.
type histLog struct {
	gen     uint64       // generation of the log file (0: none yet)
	records uint64       // records committed
	size    int64        // bytes of the committed records
	base    int64        // bytes of the generation's checkpoint
	saved   int          // history[:saved] is in the log
	dirty   map[int]bool // indices below saved changed since
	rewrite bool         // the next save starts a new generation
}

type histRecord struct {
	All []Message           `json:"all,omitempty"`
	Add []Message           `json:"add,omitempty"`
	Set map[string]*Message `json:"set,omitempty"`
}

func (c *Client) histPath(gen uint64) string {
	return c.statePath + ".history." + strconv.FormatUint(gen, 10)
}

func (c *Client) histAD(gen, i uint64) []byte {
	ad := []byte("parley/history/v1")
	ad = binary.BigEndian.AppendUint64(ad, gen)
	return binary.BigEndian.AppendUint64(ad, i)
}

func (c *Client) histSeal(gen, i uint64, r *histRecord) ([]byte, error) {
	plain, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	k := c.id.LocalKey("history")
	aead, _ := chacha20poly1305.NewX(k[:])
	out := make([]byte, 4+chacha20poly1305.NonceSizeX, 4+chacha20poly1305.NonceSizeX+len(plain)+chacha20poly1305.Overhead)
	rand.Read(out[4:])
	out = aead.Seal(out, out[4:4+chacha20poly1305.NonceSizeX], plain, c.histAD(gen, i))
	clear(plain)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out, nil
}

// touchHistory notes that the message at index i changed; the caller
// holds c.mu.
func (c *Client) touchHistory(i int) {
	if i < c.hist.saved {
		if c.hist.dirty == nil {
			c.hist.dirty = map[int]bool{}
		}
		c.hist.dirty[i] = true
	}
}

// setHistory replaces the history (a filter); the caller holds c.mu.
func (c *Client) setHistory(h []Message) {
	c.history = h
	c.hist.rewrite = true
}

// persistHistory writes what changed in the history since the last save,
// synced, before the state that commits it; the caller holds c.mu.
func (c *Client) persistHistory() error {
	h := &c.hist
	if h.gen == 0 || h.rewrite || (h.size > 2*h.base+1<<20) {
		return c.checkpointHistory()
	}
	if h.saved == len(c.history) && len(h.dirty) == 0 {
		return nil
	}
	var r histRecord
	r.Add = c.history[h.saved:]
	if len(h.dirty) > 0 {
		r.Set = map[string]*Message{}
		for i := range h.dirty {
			r.Set[strconv.Itoa(i)] = &c.history[i]
		}
	}
	rec, err := c.histSeal(h.gen, h.records, &r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(c.histPath(h.gen), os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(h.size); err != nil { // what a save that did not finish left
		return err
	}
	if _, err := f.WriteAt(rec, h.size); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	h.records++
	h.size += int64(len(rec))
	h.saved, h.dirty = len(c.history), nil
	return nil
}

// checkpointHistory writes a new generation holding the whole history.
func (c *Client) checkpointHistory() error {
	h := &c.hist
	gen := h.gen + 1
	rec, err := c.histSeal(gen, 0, &histRecord{All: c.history})
	if err != nil {
		return err
	}
	if err := keystore.WriteFileAtomic(c.histPath(gen), rec); err != nil {
		return err
	}
	h.gen, h.records, h.size, h.base = gen, 1, int64(len(rec)), int64(len(rec))
	h.saved, h.dirty, h.rewrite = len(c.history), nil, false
	return nil
}

// dropOldHistory removes the log files of other generations than the
// state's, once the state names it.
func (c *Client) dropOldHistory() {
	files, _ := filepath.Glob(c.statePath + ".history.*")
	for _, f := range files {
		if f != c.histPath(c.hist.gen) && strings.HasPrefix(f, c.statePath+".history.") {
			os.Remove(f)
		}
	}
}

// loadHistory reads the committed records of generation gen; the caller
// holds c.mu or has the client to itself.
func (c *Client) loadHistory(gen, records uint64) error {
	b, err := os.ReadFile(c.histPath(gen))
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	k := c.id.LocalKey("history")
	aead, _ := chacha20poly1305.NewX(k[:])
	var (
		history []Message
		off     int64
	)
	r := bytes.NewReader(b)
	for i := range records {
		var n uint32
		if err := binary.Read(r, binary.BigEndian, &n); err != nil {
			return fmt.Errorf("history: record %d of %d is missing: the file was cut short", i, records)
		}
		rec := make([]byte, n)
		if _, err := io.ReadFull(r, rec); err != nil || n < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
			return fmt.Errorf("history: record %d of %d is cut short", i, records)
		}
		plain, err := aead.Open(nil, rec[:chacha20poly1305.NonceSizeX], rec[chacha20poly1305.NonceSizeX:], c.histAD(gen, i))
		if err != nil {
			return fmt.Errorf("history: record %d does not open: damaged, or another identity's", i)
		}
		var hr histRecord
		if err := json.Unmarshal(plain, &hr); err != nil {
			return fmt.Errorf("history: record %d: %w", i, err)
		}
		if i == 0 {
			history = hr.All
		}
		for s, m := range hr.Set {
			j, err := strconv.Atoi(s)
			if err != nil || j < 0 || j >= len(history) || m == nil {
				return fmt.Errorf("history: record %d changes message %q of %d", i, s, len(history))
			}
			history[j] = *m
		}
		history = append(history, hr.Add...)
		off += 4 + int64(n)
	}
	c.history = slices.Clip(history)
	c.hist = histLog{gen: gen, records: records, size: off, saved: len(history)}
	if records > 0 {
		c.hist.base = 4 + int64(binary.BigEndian.Uint32(b)) // the checkpoint
	}
	return nil
}
