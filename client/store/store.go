// Package store is a Parley client's local store: the state file and the
// history log beside it, their format (State and the types it holds) and
// its migrations.
//
// It owns the files and their format: the state file, sealed with
// XChaCha20-Poly1305 under the identity's local key "state" and replaced
// atomically at every save; the history, an append-only log of sealed
// records under the local key "history", so that a save costs what
// changed, not the whole history (docs/protocol.md, "Local state").
//
// It must not know what the state means: it neither reads the network nor
// decides anything about conversations, and its types are not the
// client's (the client converts). It does not hold its caller's lock
// while it writes: a save is prepared under the caller's lock (Prepare:
// the state's JSON and what changed in the history, in memory), and
// written after the caller let go of it (Write), in the order the saves
// were prepared.
//
// # Concurrency
//
// Prepare and Write may be called from many goroutines. Prepare takes the
// store's mu briefly (the caller holds its own lock around it: the lock
// order is caller, then mu) and queues the save; Write takes wmu (never
// with mu held while it writes) and writes every queued save up to the one
// it was given, strictly in the order Prepare made them, so a save is
// never left waiting for a goroutine that prepared an earlier one.
package store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/client/keystore"
)

// Magic starts a state file: its format and version.
const Magic = "parley/state/v1\n"

// histAD is the start of a history record's associated data.
const histAD = "parley/history/v1"

// ErrNotState: the file is not a state file.
var ErrNotState = errors.New("store: not a parley state file")

// ErrDamaged: the state or its history does not open under this
// identity's keys, or is cut short: damaged, or another identity's.
var ErrDamaged = errors.New("store: damaged, or another identity's")

// errEarlier: a save was prepared on top of one whose write failed.
var errEarlier = errors.New("store: an earlier save did not reach the disk; the next one writes everything")

// Keys are what the files are sealed under: the identity's local keys
// "state" and "history" (keystore.Identity.LocalKey).
type Keys struct {
	State, History [32]byte
}

// Store is a home's state file (Path) and its history log
// (Path.history.GEN).
//
// The log holds records of u32 len ‖ nonce[24] ‖ XChaCha20-Poly1305(Keys
// .History, JSON, ad = "parley/history/v1" ‖ u64 GEN ‖ u64 record
// number). A record is either a checkpoint, the whole history ({"all":
// [...]}, always record 0), or what one save changed ({"add": [...],
// "set": {"i": message}}). The state file names the generation and how
// many records it commits: the log is appended to (and synced) before the
// state is written, so records past that count are from a save that did
// not finish, and are dropped. After the history is replaced (messages
// expire, a contact is removed), when the log has grown to twice its
// checkpoint, and after a failed write, the next save writes a new
// generation with one checkpoint; the old file goes once the state names
// the new one.
type Store struct {
	path string
	keys Keys

	// WriteFile, if not nil, writes the state file in place of
	// keystore.WriteFileAtomic (a test's disk that hangs or fails). Set it
	// before the first save; Write calls it with no lock of the caller's
	// held.
	WriteFile func(path string, data []byte) error

	mu     sync.Mutex // guards the fields below it, which Prepare uses
	ticket uint64     // the next save's place in the order of writes
	queue  []*Save    // saves prepared, not yet written, in order
	hasLog bool       // a generation was prepared
	size   int64      // bytes of the generation's records as prepared
	base   int64      // bytes of its checkpoint
	broken bool       // a write failed: the next save is a checkpoint

	wmu     sync.Mutex // one writer at a time; guards the fields below it
	written uint64     // saves written (or failed), in ticket order
	failed  bool       // the last write failed: only a checkpoint may follow
	lastErr error      // what the last write gave, when it failed
	gen     uint64     // the log's generation on disk (0: none)
	records uint64     // records the state commits
	wsize   int64      // bytes of the committed records
}

// Changes is what changed in a history since its last save. The caller's
// lock guards it, as it guards the history.
type Changes struct {
	saved   int          // history[:saved] is in the log
	dirty   map[int]bool // indices below saved changed since
	rewrite bool         // the history was replaced: the next save starts a generation
}

// Touch notes that the message at index i changed.
func (c *Changes) Touch(i int) {
	if i < c.saved {
		if c.dirty == nil {
			c.dirty = map[int]bool{}
		}
		c.dirty[i] = true
	}
}

// Replace notes that the history was replaced (filtered): the next save
// writes it whole.
func (c *Changes) Replace() { c.rewrite = true }

type histRecord struct {
	All []Message           `json:"all,omitempty"`
	Add []Message           `json:"add,omitempty"`
	Set map[string]*Message `json:"set,omitempty"`
}

// New returns the store at path with nothing in it yet (a new home, or a
// restore that writes it from a backup).
func New(path string, keys Keys) *Store {
	return &Store{path: path, keys: keys}
}

// Open opens the store at path: the state (nil if there is no state file
// yet, with no error) and the history, with the Changes that follow it.
// A state that holds its history itself (from before the log) gives that
// history, and the next save moves it into a log. Log files of other
// generations than the state's (a save that did not finish began one) are
// removed.
func Open(path string, keys Keys) (*Store, *State, []Message, *Changes, error) {
	s := New(path, keys)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil, nil, &Changes{}, nil
	}
	if err != nil {
		return nil, nil, nil, nil, err
	}
	plain, err := s.open(b)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	st, err := Parse(plain)
	clear(plain)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	var history []Message
	switch {
	case st.HistoryGen > 0:
		if history, err = s.loadHistory(st.HistoryGen, st.HistoryRecords); err != nil {
			return nil, nil, nil, nil, err
		}
		s.hasLog, s.size = true, s.wsize
	default:
		history = st.History
	}
	st.History, st.HistoryGen, st.HistoryRecords = nil, 0, 0
	s.dropOld()
	return s, st, history, &Changes{saved: len(history)}, nil
}

func (s *Store) open(b []byte) ([]byte, error) {
	if !bytes.HasPrefix(b, []byte(Magic)) || len(b) < len(Magic)+chacha20poly1305.NonceSizeX {
		return nil, ErrNotState
	}
	aead, _ := chacha20poly1305.NewX(s.keys.State[:])
	body := b[len(Magic):]
	plain, err := aead.Open(nil, body[:chacha20poly1305.NonceSizeX], body[chacha20poly1305.NonceSizeX:], []byte(Magic))
	if err != nil {
		return nil, fmt.Errorf("state does not open: %w", ErrDamaged)
	}
	return plain, nil
}

// A Save is one save prepared, to be written.
type Save struct {
	ticket     uint64
	err        error  // what writing it gave (guarded by wmu)
	state      []byte // the state's JSON, without the log's place
	record     []byte // the history record's JSON (nil: none)
	checkpoint bool   // record is a checkpoint: a new generation
}

// Prepare readies the next save: state is the state's JSON (State
// .Marshal, without HistoryGen and HistoryRecords: Write puts in where
// the log stands), and the history has n messages, message i given by
// msg(i); ch says what changed since the last save, and is reset. The
// caller holds the lock that guards the history and ch, and must Write
// the save (after letting go of that lock) before it relies on it being
// on disk; saves are written in the order they were prepared.
func (s *Store) Prepare(state []byte, n int, msg func(i int) Message, ch *Changes) (*Save, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := &Save{state: state}
	queue := func() (*Save, error) {
		sv.ticket = s.ticket
		s.ticket++
		s.queue = append(s.queue, sv)
		return sv, nil
	}
	if !s.hasLog || ch.rewrite || s.broken || s.size > 2*s.base+1<<20 {
		all := make([]Message, n)
		for i := range n {
			all[i] = msg(i)
		}
		rec, err := json.Marshal(histRecord{All: all})
		if err != nil {
			return nil, err
		}
		sv.record, sv.checkpoint = rec, true
		s.hasLog, s.broken = true, false
		s.size = sealedSize(rec)
		s.base = s.size
		ch.saved, ch.dirty, ch.rewrite = n, nil, false
		return queue()
	}
	if ch.saved == n && len(ch.dirty) == 0 {
		return queue()
	}
	var r histRecord
	for i := ch.saved; i < n; i++ {
		r.Add = append(r.Add, msg(i))
	}
	if len(ch.dirty) > 0 {
		r.Set = map[string]*Message{}
		for i := range ch.dirty {
			m := msg(i)
			r.Set[strconv.Itoa(i)] = &m
		}
	}
	rec, err := json.Marshal(&r)
	if err != nil {
		return nil, err
	}
	sv.record = rec
	s.size += sealedSize(rec)
	ch.saved, ch.dirty = n, nil
	return queue()
}

func sealedSize(rec []byte) int64 {
	return int64(4 + chacha20poly1305.NonceSizeX + len(rec) + chacha20poly1305.Overhead)
}

// Write writes a prepared save, and every save prepared before it not
// written yet: each one's history record, synced, then the state naming
// it, in the order they were prepared. A save prepared on top of one
// whose write failed fails too, and the next save prepared writes
// everything again. It returns what writing sv gave. It must not be
// called with the lock the caller held around Prepare (it writes to
// disk, and may write other goroutines' saves).
func (s *Store) Write(sv *Save) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.writeUpTo(sv.ticket + 1)
	return sv.err
}

// WriteAll writes every save prepared so far: once it returns nil,
// whatever the caller saw under the lock it held around those Prepares is
// on disk. It returns an error if the last of those saves was not written
// (its own write failed, or one before it did and it was no checkpoint).
// It must not be called with that lock held.
func (s *Store) WriteAll() error {
	s.mu.Lock()
	t := s.ticket
	s.mu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.writeUpTo(t)
	if s.failed {
		return s.lastErr
	}
	return nil
}

// writeUpTo writes the queued saves with tickets below t; the caller
// holds wmu.
func (s *Store) writeUpTo(t uint64) {
	for s.written < t {
		s.mu.Lock()
		sv := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		if s.failed && !sv.checkpoint {
			sv.err = errEarlier
		} else if sv.err = s.write(sv); sv.err != nil {
			s.failed, s.lastErr = true, sv.err
			s.mu.Lock()
			s.broken = true
			s.mu.Unlock()
		} else {
			s.failed = false
		}
		s.written++
	}
}

func (s *Store) write(sv *Save) error {
	gen := s.gen
	switch {
	case sv.checkpoint:
		next := s.gen + 1
		rec, err := s.seal(next, 0, sv.record)
		if err != nil {
			return err
		}
		if err := keystore.WriteFileAtomic(s.histPath(next), rec); err != nil {
			return err
		}
		s.gen, s.records, s.wsize = next, 1, int64(len(rec))
	case sv.record != nil:
		rec, err := s.seal(s.gen, s.records, sv.record)
		if err != nil {
			return err
		}
		if err := s.append(rec); err != nil {
			return err
		}
		s.records++
		s.wsize += int64(len(rec))
	}
	placed := s.place(sv.state)
	err := s.writeState(placed)
	clear(placed)
	clear(sv.state)
	if err != nil {
		return err
	}
	if s.gen != gen {
		s.dropOld()
	}
	return nil
}

// place puts where the log stands into the state's JSON.
func (s *Store) place(state []byte) []byte {
	if s.gen == 0 || len(state) < 2 || state[0] != '{' {
		return state
	}
	head := fmt.Sprintf(`{"history_gen":%d,"history_records":%d`, s.gen, s.records)
	if len(state) > 2 { // not "{}"
		head += ","
	}
	return append([]byte(head), state[1:]...)
}

// append writes rec after the committed records of the current
// generation, dropping what a save that did not finish left, and syncs.
func (s *Store) append(rec []byte) error {
	f, err := os.OpenFile(s.histPath(s.gen), os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(s.wsize); err != nil {
		return err
	}
	if _, err := f.WriteAt(rec, s.wsize); err != nil {
		return err
	}
	return f.Sync()
}

func (s *Store) histPath(gen uint64) string {
	return s.path + ".history." + strconv.FormatUint(gen, 10)
}

func recordAD(gen, i uint64) []byte {
	ad := []byte(histAD)
	ad = binary.BigEndian.AppendUint64(ad, gen)
	return binary.BigEndian.AppendUint64(ad, i)
}

func (s *Store) seal(gen, i uint64, plain []byte) ([]byte, error) {
	aead, _ := chacha20poly1305.NewX(s.keys.History[:])
	out := make([]byte, 4+chacha20poly1305.NonceSizeX, sealedSize(plain))
	if _, err := io.ReadFull(rand.Reader, out[4:]); err != nil {
		return nil, err
	}
	out = aead.Seal(out, out[4:4+chacha20poly1305.NonceSizeX], plain, recordAD(gen, i))
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out, nil
}

// WriteState writes a state file at path holding plain, a state's JSON
// with its history in it and no log, as clients wrote it before the log
// (to test that such a home opens). Any log beside it is removed.
func WriteState(path string, keys Keys, plain []byte) error {
	s := New(path, keys)
	if err := s.writeState(plain); err != nil {
		return err
	}
	s.dropOld()
	return nil
}

// writeState seals plain, the state's JSON, into the state file.
func (s *Store) writeState(plain []byte) error {
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return err
	}
	aead, _ := chacha20poly1305.NewX(s.keys.State[:])
	out := append([]byte(Magic), nonce...)
	out = aead.Seal(out, nonce, plain, []byte(Magic))
	if s.WriteFile != nil {
		return s.WriteFile(s.path, out)
	}
	return keystore.WriteFileAtomic(s.path, out)
}

// dropOld removes the log files of other generations than the current
// one.
func (s *Store) dropOld() {
	files, _ := filepath.Glob(s.path + ".history.*")
	for _, f := range files {
		if f != s.histPath(s.gen) && strings.HasPrefix(f, s.path+".history.") {
			os.Remove(f)
		}
	}
}

// loadHistory reads the committed records of generation gen.
func (s *Store) loadHistory(gen, records uint64) ([]Message, error) {
	b, err := os.ReadFile(s.histPath(gen))
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	aead, _ := chacha20poly1305.NewX(s.keys.History[:])
	var (
		history []Message
		off     int64
	)
	r := bytes.NewReader(b)
	for i := range records {
		var n uint32
		if err := binary.Read(r, binary.BigEndian, &n); err != nil {
			return nil, fmt.Errorf("history: record %d of %d is missing: the file was cut short: %w", i, records, ErrDamaged)
		}
		rec := make([]byte, n)
		if _, err := io.ReadFull(r, rec); err != nil || n < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
			return nil, fmt.Errorf("history: record %d of %d is cut short: %w", i, records, ErrDamaged)
		}
		plain, err := aead.Open(nil, rec[:chacha20poly1305.NonceSizeX], rec[chacha20poly1305.NonceSizeX:], recordAD(gen, i))
		if err != nil {
			return nil, fmt.Errorf("history: record %d does not open: %w", i, ErrDamaged)
		}
		var hr histRecord
		if err := json.Unmarshal(plain, &hr); err != nil {
			return nil, fmt.Errorf("history: record %d: %w", i, err)
		}
		if i == 0 {
			history = hr.All
		}
		for k, m := range hr.Set {
			j, err := strconv.Atoi(k)
			if err != nil || j < 0 || j >= len(history) || m == nil {
				return nil, fmt.Errorf("history: record %d changes message %q of %d: %w", i, k, len(history), ErrDamaged)
			}
			history[j] = *m
		}
		history = append(history, hr.Add...)
		off += 4 + int64(n)
	}
	s.gen, s.records, s.wsize = gen, records, off
	if records > 0 {
		s.base = 4 + int64(binary.BigEndian.Uint32(b)) // the checkpoint
	}
	return slices.Clip(history), nil
}
