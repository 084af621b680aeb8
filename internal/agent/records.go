package agent

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/internal/api"
)

// The records whois verified, kept for when the chain does not answer:
// in memory (at most maxRecords names), and the newest maxSavedRecords of
// them sealed in the home's records file under the identity's local key
// "records", so that an agent started while the chain is down, or a
// one-shot command, answers from them too (docs/protocol.md, "Verified
// records").

const (
	// recordsF is the sealed file of the records whois verified.
	recordsF = "records"
	// recordsMagic starts the records file: its format and version.
	recordsMagic = "parley/records/v1\n"
	// maxRecords bounds the record cache in memory (and the hubs health
	// follows).
	maxRecords = 4096
	// maxSavedRecords bounds the records file: the newest verified.
	maxSavedRecords = 256
	// maxRecordsFile bounds what is read of the records file.
	maxRecordsFile = 16 << 20
)

// recordCache keeps the records whois verified, by name; at most max.
// Its methods are safe for concurrent use; load and save hold saveMu, not
// mu, across the disk.
type recordCache struct {
	mu     sync.Mutex
	max    int
	m      map[string]api.Whois
	saveMu sync.Mutex
	loaded bool // the file was read into m (under saveMu)
}

func newRecordCache(max int) *recordCache { return &recordCache{max: max, m: map[string]api.Whois{}} }

// put keeps w as name's record, unless the cache holds one verified later;
// full, it drops the one verified first.
func (r *recordCache) put(name string, w api.Whois) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, ok := r.m[name]
	if ok && old.VerifiedAt.After(w.VerifiedAt) {
		return
	}
	if !ok && len(r.m) >= r.max {
		first := ""
		for n, o := range r.m {
			if first == "" || o.VerifiedAt.Before(r.m[first].VerifiedAt) {
				first = n
			}
		}
		delete(r.m, first)
	}
	r.m[strings.Clone(name)] = w
}

func (r *recordCache) get(name string) (api.Whois, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.m[name]
	return w, ok
}

// recordsFile is the records file's content, sealed.
type recordsFile struct {
	Records []api.Whois `json:"records"`
}

// load reads the records file at path, sealed under key, into the cache,
// once: later calls do nothing. No file is an empty one; one that does
// not open is an error (and is read again on the next call).
func (r *recordCache) load(path string, key [32]byte) error {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	return r.loadLocked(path, key)
}

func (r *recordCache) loadLocked(path string, key [32]byte) error {
	if r.loaded {
		return nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		r.loaded = true
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRecordsFile+1))
	if err != nil {
		return err
	}
	plain, err := openRecords(b, key)
	if err != nil {
		return fmt.Errorf("the records this device verified (%s): %w", path, err)
	}
	var rf recordsFile
	if err := json.Unmarshal(plain, &rf); err != nil {
		return fmt.Errorf("the records this device verified (%s): %w", path, err)
	}
	for _, w := range rf.Records {
		r.put(w.Record.Name, w)
	}
	r.loaded = true
	return nil
}

// save writes the newest maxSavedRecords records of the cache, and those
// of the file it has not read yet, to path, sealed under key.
func (r *recordCache) save(path string, key [32]byte) error {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	if err := r.loadLocked(path, key); err != nil {
		return err
	}
	r.mu.Lock()
	var rf recordsFile
	for _, w := range r.m {
		rf.Records = append(rf.Records, w)
	}
	r.mu.Unlock()
	slices.SortFunc(rf.Records, func(a, b api.Whois) int { return b.VerifiedAt.Compare(a.VerifiedAt) })
	rf.Records = rf.Records[:min(len(rf.Records), maxSavedRecords)]
	plain, err := json.Marshal(rf)
	if err != nil {
		return err
	}
	sealed, err := sealRecords(plain, key)
	if err != nil {
		return err
	}
	return keystore.WriteFileAtomic(path, sealed)
}

// sealRecords is recordsMagic ‖ nonce[24] ‖ XChaCha20-Poly1305(key, nonce,
// plain, ad = recordsMagic).
func sealRecords(plain []byte, key [32]byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte(recordsMagic), nonce...)
	return aead.Seal(out, nonce, plain, []byte(recordsMagic)), nil
}

// errRecords: the records file is not one, or does not open under this
// identity's key.
var errRecords = errors.New("not a records file of this identity")

func openRecords(b []byte, key [32]byte) ([]byte, error) {
	if len(b) > maxRecordsFile || !bytes.HasPrefix(b, []byte(recordsMagic)) || len(b) < len(recordsMagic)+chacha20poly1305.NonceSizeX {
		return nil, errRecords
	}
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, err
	}
	b = b[len(recordsMagic):]
	plain, err := aead.Open(nil, b[:chacha20poly1305.NonceSizeX], b[chacha20poly1305.NonceSizeX:], []byte(recordsMagic))
	if err != nil {
		return nil, errRecords
	}
	return plain, nil
}

// recordsKey is the key the records file is sealed under.
func recordsKey(id *keystore.Identity) [32]byte { return id.LocalKey("records") }

// cachedRecord is name's record as this device last verified it, from
// memory or the records file (read once; it asks for the passphrase if
// the keys are locked and the agent may ask). ok is false when neither
// holds it, or the file cannot be read (then said on k).
func (a *Agent) cachedRecord(k *call, name string) (w api.Whois, ok bool, err error) {
	if w, ok := a.records.get(name); ok {
		return w, true, nil
	}
	if !a.home.hasIdentity() {
		return w, false, nil
	}
	id, err := a.identity("passphrase (for the records this device verified): ")
	if errors.Is(err, keystore.ErrBadPassphrase) {
		return w, false, err
	}
	if err != nil {
		return w, false, nil // locked, and nobody to ask: the chain's error stands
	}
	if err := a.records.load(a.home.path(recordsF), recordsKey(id)); err != nil {
		k.warn("", err)
		return w, false, nil
	}
	w, ok = a.records.get(name)
	return w, ok, nil
}

// saveRecords writes the records file, if this process holds the home's
// lock (one writer) and the keys are unlocked (it never asks for them);
// a failure is said on k.
func (a *Agent) saveRecords(k *call) {
	a.mu.Lock()
	id := a.id
	a.mu.Unlock()
	if id == nil || !a.home.locked {
		return
	}
	if err := a.records.save(a.home.path(recordsF), recordsKey(id)); err != nil {
		k.warn("the records this device verified were not saved", err)
	}
}
