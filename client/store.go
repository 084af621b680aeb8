package client

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/group"
	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/ratchet"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
)

// Local state: contacts, ratchets, counters, the outbox and history, kept
// in one file sealed with XChaCha20-Poly1305 under a key derived from the
// identity (keystore.Identity.LocalKey("state")), replaced atomically after
// every change. A message is sealed and put in the outbox, and the state
// saved, before it is uploaded; an upload is retried until the hub has
// exactly that blob. So a client killed mid-send neither loses nor
// duplicates a message, and one killed mid-receive reads the message again
// with the ratchet it had.

const stateMagic = "parley/state/v1\n"

type savedContact struct {
	Name       string               `json:"name"`
	Record     []byte               `json:"record"`
	MutualKey  []byte               `json:"mutual_key"`
	Ratchet    []byte               `json:"ratchet"`
	NextSend   uint64               `json:"next_send"`
	NextRecv   uint64               `json:"next_recv"`
	ReadUpTo   uint64               `json:"read_up_to"`
	Outbox     []outboxEntry        `json:"outbox,omitempty"`
	Deleted    []uint64             `json:"deleted,omitempty"`
	Indexed    map[string]indexMark `json:"indexed,omitempty"`
	TimerSecs  int64                `json:"timer,omitempty"`
	ProfileKey []byte               `json:"profile_key,omitempty"`
	SentKey    []byte               `json:"sent_profile_key,omitempty"`
	DropBelow  uint64               `json:"drop_below,omitempty"`
	Skipped    []wire.Span          `json:"skipped,omitempty"`
	Verified   string               `json:"verified,omitempty"`
	ReceiptKey []byte               `json:"receipt_key,omitempty"`
	SentRcpt   []byte               `json:"sent_receipt_key,omitempty"`
	TheirRcpt  []byte               `json:"their_receipt_key,omitempty"`
	Started    time.Time            `json:"started"`
	Stale      bool                 `json:"stale,omitempty"`
	Changed    []byte               `json:"changed,omitempty"`      // the record that closed the conversation
	Profile    *wire.Profile        `json:"profile,omitempty"`      // theirs, as last read (shown while their hubs are down)
	Receipt    *wire.Receipt        `json:"receipt,omitempty"`      // theirs, as last read
	Owed       bool                 `json:"receipt_owed,omitempty"` // the user's receipt reached no hub yet
	NextNumber uint64               `json:"next_number,omitempty"`  // of the user's next text message (absent: the state is older than numbers)
	Asked      asking               `json:"asked,omitempty"`        // the user asked them; no answer yet
	Request    []byte               `json:"request,omitempty"`      // the introduction, while no hub took it
	IntroPath  string               `json:"intro_path,omitempty"`   // where it goes on the user's hubs; "": their inbox
	Expiring   []wire.Expiry        `json:"expiring,omitempty"`     // the stream's (see stream)
	Awaiting   []uint64             `json:"awaiting,omitempty"`
}

type outboxEntry struct {
	Seq     uint64    `json:"seq"`
	Path    string    `json:"path"`
	Blob    []byte    `json:"blob"`
	Done    []string  `json:"done,omitempty"`   // hubs that acknowledged it
	Expires time.Time `json:"expires,omitzero"` // when its hubs delete it (disappearing messages)
}

type savedState struct {
	device                          // this device: its ID, generation and start (restored.go)
	BackupETag     string           `json:"backup_etag,omitempty"`
	BackupDue      bool             `json:"backup_due,omitempty"` // the state changed since the last backup
	Superseded     *device          `json:"superseded,omitempty"` // the device the identity was restored on
	Contacts       []savedContact   `json:"contacts"`
	Links          []savedContact   `json:"links,omitempty"` // group links
	History        []Message        `json:"history"`
	Blocked        []string         `json:"blocked,omitempty"`
	NoReadReceipts bool             `json:"no_read_receipts,omitempty"`
	Profile        Profile          `json:"profile"`
	Uploads        []*pendingUpload `json:"uploads,omitempty"`
	DoomedPaths    []string         `json:"doomed_paths,omitempty"`
	Backup         *backupConfig    `json:"backup,omitempty"`
	Groups         []*savedGroup    `json:"groups,omitempty"`
	HeldKeys       []savedHeld      `json:"held_keys,omitempty"`
	Hubs           []string         `json:"hubs,omitempty"`     // the user's, as the chain last said
	HubsSeq        uint64           `json:"hubs_seq,omitempty"` // the record's sequence number then
	// The history's log (history.go): its generation and committed records.
	// A state with History (an older state file, or a backup) has none.
	HistoryGen     uint64 `json:"history_gen,omitempty"`
	HistoryRecords uint64 `json:"history_records,omitempty"`
}

// Open makes a client whose state lives in statePath (created on first
// save). Pending uploads are retried by Flush.
func Open(ctx context.Context, name string, id *keystore.Identity, dir Directory, homeHub, statePath string, opts ...Option) (*Client, error) {
	c, err := New(ctx, name, id, dir, homeHub, opts...)
	if err != nil {
		return nil, err
	}
	c.statePath = statePath
	b, err := os.ReadFile(statePath)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	newID := c.device.ID
	if err := c.load(b); err != nil {
		return nil, fmt.Errorf("client: state %s: %w", statePath, err)
	}
	if c.device.ID == newID { // the state named no device: it names this one from now on
		c.mu.Lock()
		err := c.save()
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	c.dropOldHistory() // a generation a save that did not finish began
	return c, nil
}

func (c *Client) stateKey() []byte {
	k := c.id.LocalKey("state")
	return k[:]
}

func (c *Client) load(b []byte) error {
	if !bytes.HasPrefix(b, []byte(stateMagic)) || len(b) < len(stateMagic)+chacha20poly1305.NonceSizeX {
		return errors.New("not a parley state file")
	}
	aead, _ := chacha20poly1305.NewX(c.stateKey())
	body := b[len(stateMagic):]
	plain, err := aead.Open(nil, body[:chacha20poly1305.NonceSizeX], body[chacha20poly1305.NonceSizeX:], []byte(stateMagic))
	if err != nil {
		return errors.New("state does not open: damaged, or another identity's")
	}
	return c.loadPlain(plain)
}

// loadPlain takes the state from its JSON.
func (c *Client) loadPlain(plain []byte) error {
	var s savedState
	if err := json.Unmarshal(plain, &s); err != nil {
		return err
	}
	for i, sc := range append(s.Contacts, s.Links...) {
		link := i >= len(s.Contacts)
		rec, err := bns.UnmarshalRecord(sc.Record)
		if err != nil {
			return err
		}
		r, err := ratchet.UnmarshalState(sc.Ratchet)
		if err != nil {
			return err
		}
		var changed *bns.Record
		if sc.Changed != nil {
			if changed, err = bns.UnmarshalRecord(sc.Changed); err != nil {
				return err
			}
		}
		var k [32]byte
		copy(k[:], sc.MutualKey)
		ck := k
		if link {
			ck = wire.LinkKey(k)
		}
		ct := &Contact{Name: sc.Name, Record: rec, mutual: k, keys: wire.ConversationKeys(ck, c.Name, sc.Name), link: link,
			ratchet: r, out: stream{next: sc.NextSend, outbox: sc.Outbox, deleted: sc.Deleted, indexed: sc.Indexed, expiring: sc.Expiring, awaiting: sc.Awaiting},
			nextRecv: sc.NextRecv, readUpTo: sc.ReadUpTo, timer: time.Duration(sc.TimerSecs) * time.Second,
			theirProfileKey: sc.ProfileKey, sentProfileKey: sc.SentKey, dropBelow: sc.DropBelow, skipped: sc.Skipped, verified: sc.Verified, started: sc.Started, stale: sc.Stale, changed: changed,
			theirProfile: sc.Profile, theirReceipt: sc.Receipt, receiptOwed: sc.Owed, receiptKey: sc.ReceiptKey, sentReceiptKey: sc.SentRcpt, theirReceiptKey: sc.TheirRcpt,
			asked: sc.Asked, request: sc.Request, introPath: sc.IntroPath, nextN: sc.NextNumber}
		if ct.nextN == 0 { // from before numbers: they go on from the sequence numbers shown so far
			ct.nextN = max(sc.NextSend, 1)
		}
		if link {
			c.links[sc.Name] = ct
		} else {
			c.contacts[sc.Name] = ct
		}
	}
	switch {
	case len(s.History) > 0:
		c.setHistory(s.History) // into a log at the next save
	case s.HistoryGen > 0:
		if err := c.loadHistory(s.HistoryGen, s.HistoryRecords); err != nil {
			return err
		}
	}
	for _, n := range s.Blocked {
		c.blocked[n] = true
	}
	c.readReceipts = !s.NoReadReceipts
	c.profile = s.Profile
	for _, u := range s.Uploads {
		c.uploads[u.To+"\x00"+u.Path] = u
	}
	c.doomedPaths = s.DoomedPaths
	c.backup = s.Backup
	if s.device.ID != "" { // else a state from before devices had IDs: this one's, from New, is saved next
		c.device = s.device
	}
	c.backupETag, c.superseded, c.backupDue = s.BackupETag, s.Superseded, s.BackupDue
	if len(s.Hubs) > 0 && (!c.ownKnown || s.HubsSeq > c.ownSeq) {
		// The chain did not answer, or answered from before the user's
		// latest change of hubs: write to every hub it last listed.
		c.setOwn(s.Hubs)
		c.ownSeq = s.HubsSeq
	}
	c.book.Held = heldOf(s.HeldKeys)
	for _, sg := range s.Groups {
		g := sg.group()
		if g.NextN == 0 { // from before numbers: they go on from the sequence numbers shown so far
			g.NextN = max(sg.Out.Next, 1)
		}
		c.book.Groups[g.ID] = g
		c.groupOut[g.ID] = &stream{next: sg.Out.Next, outbox: sg.Out.Outbox, deleted: sg.Out.Deleted, indexed: sg.Out.Indexed, expiring: sg.Out.Expiring}
	}
	return nil
}

// save writes the state; the caller holds c.mu.
func (c *Client) save() error {
	c.saves++
	c.backupDue = true
	return c.persist()
}

// persist writes the state as it is (save, without counting a change
// the backup must follow); the caller holds c.mu.
func (c *Client) persist() error {
	if c.statePath == "" {
		return nil
	}
	gen := c.hist.gen
	if err := c.persistHistory(); err != nil {
		return err
	}
	plain, err := c.snapshot(time.Time{}, false)
	if err != nil {
		return err
	}
	if err := c.writeState(plain); err != nil {
		return err
	}
	if c.hist.gen != gen {
		c.dropOldHistory()
	}
	return nil
}

// writeState seals plain, the state's JSON, into the state file.
func (c *Client) writeState(plain []byte) error {
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(nonce)
	aead, _ := chacha20poly1305.NewX(c.stateKey())
	out := append([]byte(stateMagic), nonce...)
	out = aead.Seal(out, nonce, plain, []byte(stateMagic))
	clear(plain)
	return keystore.WriteFileAtomic(c.statePath, out)
}

// snapshot is the state as JSON: with the history in it (without the
// messages expired at expiredAt, if not zero), or naming the history's
// log; the caller holds c.mu.
func (c *Client) snapshot(expiredAt time.Time, withHistory bool) ([]byte, error) {
	s := savedState{NoReadReceipts: !c.readReceipts, Profile: c.profile, Backup: c.backup, device: c.device,
		BackupETag: c.backupETag, Superseded: c.superseded, BackupDue: c.backupDue}
	switch {
	case !withHistory:
		s.HistoryGen, s.HistoryRecords = c.hist.gen, c.hist.records
	case !expiredAt.IsZero():
		s.History = slices.DeleteFunc(slices.Clone(c.history), func(m Message) bool { return !m.Expires.IsZero() && !m.Expires.After(expiredAt) })
	default:
		s.History = c.history
	}
	for _, ct := range c.conversations() {
		var changed []byte
		if ct.changed != nil {
			changed = ct.changed.Marshal()
		}
		saved := &s.Contacts
		if ct.link {
			saved = &s.Links
		}
		*saved = append(*saved, savedContact{Changed: changed, Name: ct.Name, Record: ct.Record.Marshal(), MutualKey: ct.mutual[:],
			Ratchet: ct.ratchet.Marshal(), NextSend: ct.out.next, NextRecv: ct.nextRecv, ReadUpTo: ct.readUpTo, Outbox: ct.out.outbox,
			Deleted: ct.out.deleted, Indexed: ct.out.indexed, TimerSecs: int64(ct.timer / time.Second),
			ProfileKey: ct.theirProfileKey, SentKey: ct.sentProfileKey, DropBelow: ct.dropBelow, Skipped: ct.skipped, Verified: ct.verified, Started: ct.started, Stale: ct.stale,
			Profile: ct.theirProfile, Receipt: ct.theirReceipt, Owed: ct.receiptOwed, ReceiptKey: ct.receiptKey, SentRcpt: ct.sentReceiptKey, TheirRcpt: ct.theirReceiptKey,
			Asked: ct.asked, Request: ct.request, IntroPath: ct.introPath, NextNumber: max(ct.nextN, 1),
			Expiring: ct.out.expiring, Awaiting: ct.out.awaiting})
	}
	for n := range c.blocked {
		s.Blocked = append(s.Blocked, n)
	}
	slices.Sort(s.Blocked)
	for _, u := range c.uploads {
		s.Uploads = append(s.Uploads, u)
	}
	s.DoomedPaths = c.doomedPaths
	s.Hubs, s.HubsSeq = c.own, c.ownSeq
	for _, g := range c.book.Groups {
		out := c.gstream(g.ID)
		sg := savedGroupOf(g, savedStream{Next: out.next, Outbox: out.outbox, Deleted: out.deleted, Indexed: out.indexed, Expiring: out.expiring})
		sg.NextN = max(sg.NextN, 1)
		s.Groups = append(s.Groups, sg)
	}
	s.HeldKeys = savedHeldOf(c.book.Held)
	return json.Marshal(s)
}

// A stream is one direction the user writes: a conversation's, or the
// user's in a group. Messages are numbered from 0; each is sealed into the
// outbox before it is uploaded; the index on each hub says how many the
// hub holds and which the user deleted.
type stream struct {
	next    uint64
	outbox  []outboxEntry        // sealed, not yet acknowledged by every hub
	deleted []uint64             // deleted by the user (sorted): the index lists them
	indexed map[string]indexMark // per hub: what its index says
	// expiring are the messages written with a hub expiry and not deleted
	// (sorted): the index lists them, so a reader tells one the hubs
	// deleted on time from one they withhold.
	expiring []wire.Expiry
	// awaiting are expiring messages the user's device no longer shows
	// (their timer ran out): deleted once the contact's receipt says it
	// has them, else at their hub expiry (sorted; 1:1 conversations).
	awaiting []uint64
}

// indexMark is what an index written to a hub said.
type indexMark struct {
	Count   uint64 `json:"count"`
	Deleted int    `json:"deleted"`
}

// add puts message seq (the next one) in the outbox; if expires is not
// zero, its hubs delete it then.
func (st *stream) add(seq uint64, path string, blob []byte, expires time.Time) {
	st.next = seq + 1
	st.outbox = append(st.outbox, outboxEntry{Seq: seq, Path: path, Blob: blob, Expires: expires})
	if !expires.IsZero() {
		st.expiring = append(st.expiring, wire.Expiry{Seq: seq, At: expires})
	}
}

// forget lists seq as deleted; it reports whether it was new.
func (st *stream) forget(seq uint64) bool {
	st.expiring = slices.DeleteFunc(st.expiring, func(x wire.Expiry) bool { return x.Seq == seq })
	st.awaiting = slices.DeleteFunc(st.awaiting, func(s uint64) bool { return s == seq })
	i, found := slices.BinarySearch(st.deleted, seq)
	if !found {
		st.deleted = slices.Insert(st.deleted, i, seq)
	}
	return !found
}

// hubExpiry returns when the hubs delete message seq (zero if never).
func (st *stream) hubExpiry(seq uint64) time.Time {
	for _, x := range st.expiring {
		if x.Seq == seq {
			return x.At
		}
	}
	return time.Time{}
}

// await marks the expiring message seq as no longer shown.
func (st *stream) await(seq uint64) {
	if i, found := slices.BinarySearch(st.awaiting, seq); !found {
		st.awaiting = slices.Insert(st.awaiting, i, seq)
	}
}

// Flush brings the user's hubs up to date with every stream: it uploads
// each message still in an outbox to each hub that does not have it yet,
// strictly in order per hub (a hub that fails is skipped until the next
// Flush), then rewrites the stream's index on each hub whose count or
// deletions changed, and only once every index is written removes deleted
// messages' blobs and files' chunks (so a reader never takes a deletion
// for a withheld message). An upload that finds the same blob already
// there (a retry after a crash) counts as done. A message leaves the
// outbox once every hub has it. Flush reports the first failure, after
// trying every hub. One Flush runs at a time, and it holds the client's
// lock only between network calls, so reading and watching go on while a
// slow hub is written to.
func (c *Client) Flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	// A hub is dialed only when something is to go to it: with nothing
	// queued, Flush asks no hub anything and writes nothing.
	hubs, tried, dialErr := map[string]*hubclient.Client{}, map[string]bool{}, map[string]error{}
	hub := func(url string) (*hubclient.Client, error) {
		if !tried[url] {
			tried[url] = true
			if dialErr[url] = c.writable(ctx, false); dialErr[url] == nil {
				hubs[url], dialErr[url] = c.dial(ctx, url)
			}
		}
		return hubs[url], dialErr[url]
	}
	type job struct {
		label     string
		st        *stream
		indexPath string
		indexKey  [32]byte
		contact   string // whose keys must be checked before anything goes out ("": a group's)
	}
	var (
		jobs     []job
		requests []*Contact
	)
	c.mu.Lock()
	for _, ct := range c.conversations() {
		label := "to " + ct.Name
		if ct.link {
			label = "to group member " + ct.Name
		}
		jobs = append(jobs, job{label, &ct.out, wire.IndexPath(ct.keys.SendKey), ct.keys.Header, ct.Name})
		if ct.request != nil {
			requests = append(requests, ct)
		}
	}
	for _, g := range c.book.Groups {
		if k := g.Mine(); k != nil {
			jobs = append(jobs, job{"to group " + g.Name, c.gstream(g.ID), wire.GroupIndexPath(k.Seed), wire.GroupIndexKey(k.Seed), ""})
		}
	}
	c.mu.Unlock()
	var (
		firstErr error
		changed  bool
	)
	for _, ct := range requests { // contact requests (and introductions) that did not go out
		if c.deliverRequest(ctx, ct) {
			changed = true
		} else if q := c.requestQueued(ct); q != nil {
			firstErr = cmp.Or(firstErr, error(q))
		}
	}
	for _, j := range jobs {
		if j.contact != "" {
			if err := c.keysChecked(ctx, j.contact, j.st); err != nil {
				firstErr = cmp.Or(firstErr, fmt.Errorf("client: send %s: %w", j.label, err))
				continue
			}
		}
		ch, err := c.flushStream(ctx, hub, c.own, j.label, j.st, j.indexPath, j.indexKey)
		changed, firstErr = changed || ch, cmp.Or(firstErr, err)
	}
	if firstErr == nil {
		c.mu.Lock()
		doomed := slices.Clone(c.doomedPaths)
		c.mu.Unlock()
		var gone []string
		for _, p := range doomed {
			if c.removeEverywhere(ctx, p) == nil {
				gone = append(gone, p)
			}
		}
		c.mu.Lock()
		c.doomedPaths = slices.DeleteFunc(c.doomedPaths, func(p string) bool { return slices.Contains(gone, p) })
		c.mu.Unlock()
		changed = changed || len(gone) > 0
	}
	if !changed {
		return firstErr
	}
	c.mu.Lock()
	err := c.save()
	c.mu.Unlock()
	return cmp.Or(err, firstErr)
}

// keysChecked says whether what waits in st may go out to name (nil),
// or why not: it may if no message waits that no hub holds yet (copying
// one to another of the user's hubs tells nobody anything new), or if
// name's keys were found as confirmed in this run (checking them now if
// not). With the chain down, the error wraps ErrOffline.
func (c *Client) keysChecked(ctx context.Context, name string, st *stream) error {
	c.mu.Lock()
	ok := c.checked[name] || !slices.ContainsFunc(st.outbox, func(e outboxEntry) bool { return len(e.Done) == 0 })
	c.mu.Unlock()
	if ok {
		return nil
	}
	return c.CheckKeys(ctx, name)
}

// flushStream is Flush for one stream, on the hubs urls, and says
// whether it changed the stream. It takes c.mu only to read and update
// the stream.
func (c *Client) flushStream(ctx context.Context, hub func(url string) (*hubclient.Client, error), urls []string, label string, st *stream, indexPath string, indexKey [32]byte) (changed bool, _ error) {
	var firstErr error
	fail := func(url string, err error) {
		firstErr = cmp.Or(firstErr, fmt.Errorf("client: send %s: %w", label, &HubError{URL: url, Err: err}))
	}
	for _, url := range urls {
		c.mu.Lock()
		count := st.next // what this hub holds, once the uploads below succeed
		var todo []outboxEntry
		for _, e := range st.outbox {
			if !slices.Contains(e.Done, url) {
				todo = append(todo, e)
			}
		}
		deleted := slices.Clone(st.deleted)
		expiring := slices.Clone(st.expiring)
		old, indexed := st.indexed[url]
		c.mu.Unlock()
		if len(todo) == 0 && indexed && old == (indexMark{Count: count, Deleted: len(deleted)}) {
			continue // this hub is up to date
		}
		h, err := hub(url)
		if err != nil {
			if len(todo) > 0 || !indexed {
				fail(url, err)
			}
			continue
		}
		for _, e := range todo {
			if err := c.upload(ctx, h, e); err != nil {
				fail(url, err)
				count = e.Seq
				break
			}
			c.mu.Lock()
			for i := range st.outbox {
				if st.outbox[i].Seq == e.Seq {
					st.outbox[i].Done = append(st.outbox[i].Done, url)
				}
			}
			c.mu.Unlock()
			changed = true
		}
		mark := indexMark{Count: count, Deleted: len(deleted)}
		if indexed && old == mark {
			continue
		}
		if err := putIndex(ctx, h, indexPath, indexKey, deleted, expiring, count); err != nil {
			fail(url, err)
			continue
		}
		c.mu.Lock()
		if st.indexed == nil {
			st.indexed = map[string]indexMark{}
		}
		st.indexed[url] = mark
		c.mu.Unlock()
		changed = true
	}
	c.mu.Lock()
	n := len(st.outbox)
	st.outbox = slices.DeleteFunc(st.outbox, func(e outboxEntry) bool {
		return !slices.ContainsFunc(c.own, func(u string) bool { return !slices.Contains(e.Done, u) }) // on every hub
	})
	changed = changed || len(st.outbox) != n
	c.mu.Unlock()
	return changed, firstErr
}

// putIndex writes an index on the hub h.
func putIndex(ctx context.Context, h *hubclient.Client, path string, key [32]byte, deleted []uint64, expiring []wire.Expiry, count uint64) error {
	x := wire.Index{Count: count}
	for _, d := range deleted {
		if d < count {
			x.Deleted = append(x.Deleted, d)
		}
	}
	for _, e := range expiring {
		if e.Seq < count {
			x.Expiring = append(x.Expiring, e)
		}
	}
	_, err := h.Put(ctx, path, wire.SealIndex(key, path, x), "application/octet-stream", hubclient.Cond{})
	return err
}

// removeEverywhere deletes path from every hub of the user; a hub that
// does not have it counts as done. The caller must not hold c.mu.
func (c *Client) removeEverywhere(ctx context.Context, path string) error {
	if err := c.writable(ctx, false); err != nil {
		return err
	}
	var firstErr error
	for _, url := range c.own {
		h, err := c.dial(ctx, url)
		if err == nil {
			err = h.Delete(ctx, path, "")
		}
		if err != nil && !errors.Is(err, hub.ErrNotFound) {
			firstErr = cmp.Or(firstErr, err)
		}
	}
	return firstErr
}

// putOwn writes blob at path on every hub of the user. One hub that took
// it is enough (readers try each of the user's hubs, and the next write
// reaches a hub that was down); if none did, their errors are returned.
// The caller must not hold c.mu.
func (c *Client) putOwn(ctx context.Context, path string, blob []byte) error {
	if err := c.writable(ctx, false); err != nil {
		return err
	}
	var errs []error
	for _, url := range c.own {
		h, err := c.dial(ctx, url)
		if err == nil {
			_, err = h.Put(ctx, path, blob, "application/octet-stream", hubclient.Cond{})
		}
		if err != nil {
			errs = append(errs, &HubError{URL: url, Err: err})
		}
	}
	if len(errs) == len(c.own) {
		return errors.Join(errs...)
	}
	return nil
}

// hasQueued reports whether Flush has work: messages not yet on every hub
// of the user's, or blobs still to delete.
func (c *Client) hasQueued() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ct := range c.contacts {
		if ct.request != nil {
			return true
		}
	}
	return len(c.doomedPaths) > 0 || slices.ContainsFunc(c.streams(), func(st *stream) bool { return len(st.outbox) > 0 })
}

// streams returns every stream the user writes: to each contact, on each
// group link, and to each group; the caller holds c.mu.
func (c *Client) streams() []*stream {
	var out []*stream
	for _, ct := range c.conversations() {
		out = append(out, &ct.out)
	}
	for _, g := range c.book.Groups {
		out = append(out, c.gstream(g.ID))
	}
	return out
}

// queued reports whether message seq is still in the outbox with no hub
// holding it.
func (st *stream) queued(seq uint64) bool {
	for _, e := range st.outbox {
		if e.Seq == seq {
			return len(e.Done) == 0
		}
	}
	return false
}

// upload puts e on the hub h. A disappearing message whose hub expiry
// has passed (or is a minute away) is not uploaded: its hubs would delete
// it at once, and the index tells readers it expired.
func (c *Client) upload(ctx context.Context, h *hubclient.Client, e outboxEntry) error {
	if !e.Expires.IsZero() && !e.Expires.After(c.now().Add(time.Minute)) {
		return nil
	}
	_, err := h.Put(ctx, e.Path, e.Blob, "application/octet-stream", hubclient.Cond{IfNoneMatch: true, Expires: e.Expires})
	if errors.Is(err, hub.ErrPrecondition) {
		sum := md5.Sum(e.Blob)
		_, etag, gerr := h.Get(ctx, c.Address(), e.Path)
		if gerr == nil && etag == hex.EncodeToString(sum[:]) {
			return nil // uploaded before a crash
		}
		if err := c.writable(ctx, true); err != nil {
			return err // the other device wrote it
		}
		return fmt.Errorf("another blob occupies %s", e.Path)
	}
	return err
}

// conversations returns every pairwise conversation: the contacts' and the
// group links; the caller holds c.mu.
func (c *Client) conversations() []*Contact {
	out := make([]*Contact, 0, len(c.contacts)+len(c.links))
	for _, ct := range c.contacts {
		out = append(out, ct)
	}
	for _, l := range c.links {
		out = append(out, l)
	}
	return out
}

// savedGroup is a group in the state file (group.Group, and the user's
// stream in it).
type savedGroup struct {
	ID       string                 `json:"id"`
	Name     string                 `json:"name"`
	Creator  string                 `json:"creator"`
	Members  []string               `json:"members"`
	Epoch    uint64                 `json:"epoch"`
	Gone     bool                   `json:"gone,omitempty"`
	Left     bool                   `json:"left,omitempty"`
	Self     string                 `json:"self"`
	Keys     map[string][]*savedKey `json:"keys"`
	Next     map[string]uint64      `json:"next"`
	Read     map[string]uint64      `json:"read"`
	SentKey  map[string]uint64      `json:"sent_key"`
	Leaving  []string               `json:"leaving,omitempty"`
	LeftSent map[string]uint64      `json:"left_sent,omitempty"`
	Departed map[string]uint64      `json:"departed,omitempty"`
	Final    map[string]uint64      `json:"final,omitempty"`
	Held     []savedHeld            `json:"held,omitempty"`
	TimerS   int64                  `json:"timer,omitempty"`
	Out      savedStream            `json:"out"`
	NextN    uint64                 `json:"next_n,omitempty"`
}

// savedStream is a stream in the state file.
type savedStream struct {
	Next     uint64               `json:"next"`
	Outbox   []outboxEntry        `json:"outbox,omitempty"`
	Deleted  []uint64             `json:"deleted,omitempty"`
	Indexed  map[string]indexMark `json:"indexed,omitempty"`
	Expiring []wire.Expiry        `json:"expiring,omitempty"`
}

// savedKey is a group.Key in the state file.
type savedKey struct {
	Epoch    uint64   `json:"epoch"`
	Seed     []byte   `json:"seed"`
	From     uint64   `json:"from"`
	CK       [32]byte `json:"ck"`
	At       uint64   `json:"at"`
	SignPub  []byte   `json:"sign_pub,omitempty"`
	SignSeed []byte   `json:"sign_seed,omitempty"`
}

// savedHeld is a group.Held in the state file.
type savedHeld struct {
	From string          `json:"from"`
	Info *wire.GroupInfo `json:"info"`
}

func (sg *savedGroup) group() *group.Group {
	g := &group.Group{ID: sg.ID, Name: sg.Name, Creator: sg.Creator, Members: sg.Members, Epoch: sg.Epoch, Gone: sg.Gone, Left: sg.Left,
		Self: sg.Self, Next: sg.Next, Read: sg.Read, SentKey: sg.SentKey, Leaving: sg.Leaving, LeftSent: sg.LeftSent,
		Departed: sg.Departed, Final: sg.Final, Held: heldOf(sg.Held), TimerS: sg.TimerS, NextN: sg.NextN}
	if sg.Keys != nil {
		g.Keys = map[string][]*group.Key{}
		for m, ks := range sg.Keys {
			for _, k := range ks {
				g.Keys[m] = append(g.Keys[m], &group.Key{Epoch: k.Epoch, Seed: k.Seed, From: k.From, CK: k.CK, At: k.At, SignPub: k.SignPub, SignSeed: k.SignSeed})
			}
		}
	}
	return g
}

func savedGroupOf(g *group.Group, out savedStream) *savedGroup {
	sg := &savedGroup{ID: g.ID, Name: g.Name, Creator: g.Creator, Members: g.Members, Epoch: g.Epoch, Gone: g.Gone, Left: g.Left,
		Self: g.Self, Next: g.Next, Read: g.Read, SentKey: g.SentKey, Leaving: g.Leaving, LeftSent: g.LeftSent,
		Departed: g.Departed, Final: g.Final, Held: savedHeldOf(g.Held), TimerS: g.TimerS, Out: out, NextN: g.NextN}
	if g.Keys != nil {
		sg.Keys = map[string][]*savedKey{}
		for m, ks := range g.Keys {
			for _, k := range ks {
				sg.Keys[m] = append(sg.Keys[m], &savedKey{Epoch: k.Epoch, Seed: k.Seed, From: k.From, CK: k.CK, At: k.At, SignPub: k.SignPub, SignSeed: k.SignSeed})
			}
		}
	}
	return sg
}

func heldOf(hs []savedHeld) []group.Held {
	var out []group.Held
	for _, h := range hs {
		out = append(out, group.Held{From: h.From, Info: h.Info})
	}
	return out
}

func savedHeldOf(hs []group.Held) []savedHeld {
	var out []savedHeld
	for _, h := range hs {
		out = append(out, savedHeld{From: h.From, Info: h.Info})
	}
	return out
}
