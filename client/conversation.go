package client

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/parley-im/parley/client/group"
	"github.com/parley-im/parley/client/outbox"
	"github.com/parley-im/parley/client/store"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
)

// A conversation is two directions. Each sender writes event i of its
// direction, sealed by the ratchet and padded, to every one of its own
// hubs at wire.MessagePath(send key, i), and after each batch rewrites its
// sealed index there (wire.Index: how many it holds, which it deleted).
// The reader fetches events in order from whichever of the sender's hubs
// has them; when one is missing it reads the index to tell "nothing new"
// from "deleted by the sender" from "withheld by the hub", and never
// shows a later event before a missing one.

// Kinds of Message beyond wire's: an authentic event this client cannot
// read (a newer version), kept in place of the message.
const KindUnsupported = "unsupported"

// Message is an entry of the history (History, Conversation): a message
// as the events about it left it (edited, reacted to, deleted), or a
// timer's change, or a group's notice. What arrives is an Event (Receive,
// a Watch Notice): a reaction, an edit or a deletion arrives as itself,
// and the history shows the message it changed.
type Message struct {
	From string `json:"from"`
	// Conv is the conversation it belongs to: with the contact who wrote
	// it or whom the user wrote it to, or a group's.
	Conv      Conv              `json:"conv"`
	Seq       uint64            `json:"seq"`
	Time      time.Time         `json:"time"` // the sender's clock
	Kind      string            `json:"kind"`
	Text      string            `json:"text,omitempty"`
	Ref       *wire.Ref         `json:"ref,omitempty"` // what it replies to, reacts to, edits or deletes
	Emoji     string            `json:"emoji,omitempty"`
	File      *wire.FileRef     `json:"file,omitempty"`
	TTL       time.Duration     `json:"ttl,omitempty"`
	Expires   time.Time         `json:"expires,omitzero"`
	Edited    bool              `json:"edited,omitempty"`
	Deleted   bool              `json:"deleted,omitempty"`
	Reactions map[string]string `json:"reactions,omitempty"` // by name
	// Earlier: from a conversation with the contact that has since started
	// over (a reset): kept and shown, but no reference reaches it.
	Earlier bool `json:"earlier,omitempty"`
	// N is a text message's number in references (see Label): its
	// author's count of text messages in the conversation, from 1; 0 for a
	// message from an older client, referred to by Seq.
	N uint64 `json:"n,omitempty"`
	// Device is the author's device when it is not the author's first:
	// the 64 hex digits of its signing key (docs/protocol.md, Device-pair
	// sessions).
	Device string `json:"device,omitempty"`
	// RefLabel is the label of the message Ref points at: History,
	// Receive and Watch fill it when the user holds that message.
	RefLabel *wire.Ref `json:"-"`
}

// ID is the message's place in its author's stream: its author and
// sequence number, what events on the wire refer to. People refer to a
// message by its Label.
func (m Message) ID() wire.Ref { return wire.Ref{By: m.From, Seq: m.Seq, Dev: m.Device} }

// Label is how people refer to a message: its author and number,
// "alice/3". Numbers count only the author's text messages, so they have
// no gaps where reactions, edits and other events went; a message from an
// older client keeps its sequence number. Only a text message (or one
// this client cannot read that carries a number) has a label; ok is
// false for others.
func (m Message) Label() (ref wire.Ref, ok bool) { return labelOf(m.Kind, m.From, m.Seq, m.N) }

// ErrNoMessage: a reference names no message of the conversation.
var ErrNoMessage = errors.New("client: no such message")

// FindLabel returns the message of conversation conv among ms (as History
// returns them) whose label is label, and whether there is one. Messages
// from before a conversation started over are not found.
func FindLabel(ms []Message, me string, conv Conv, label wire.Ref) (Message, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		if l, ok := m.Label(); ok && l == label && !m.Earlier && m.Conv == conv {
			return m, true
		}
	}
	return Message{}, false
}

// Resolve returns the message of conversation conv that people refer to
// as label (author/N, as Label shows it), as events refer to it (ID). A
// label no message has gives ErrNoMessage.
func (c *Client) Resolve(conv Conv, label wire.Ref) (wire.Ref, error) {
	m, ok := FindLabel(c.History(), c.Name, conv, label)
	if !ok {
		return wire.Ref{}, fmt.Errorf("%w: %s in the conversation with %s", ErrNoMessage, label, conv)
	}
	return m.ID(), nil
}

// WithheldError reports that a hub of the sender is missing a message its
// index says it holds: the hub withholds it or lost it. Nothing after it
// is shown until it can be read.
type WithheldError struct {
	Name  string
	Seq   uint64
	Count uint64 // what the index lists
	// Device is the device of Name's whose device-pair session it is in,
	// as Message.Device names it ("" and Seq in the name session: their
	// first device's); Seq is then the session's message number.
	Device string
}

func (e *WithheldError) Error() string {
	if e.Device != "" {
		return fmt.Sprintf("client: %s's hubs withhold message %d from their device %.8s… (its index lists %d): later messages from that device wait for it", e.Name, e.Seq, e.Device, e.Count)
	}
	return fmt.Sprintf("client: %s's hubs withhold message %d (their index lists %d): later messages wait for it", e.Name, e.Seq, e.Count)
}

// errCannotSendYet: the side that accepted (or read an introduction)
// sends once the other side's first message has arrived.
var errCannotSendYet = errors.New("client: waiting for their first message before writing")

// Send sends a text message to the contact name (SendEvent writes to a
// group too).
func (c *Client) Send(ctx context.Context, name, text string) error {
	_, err := c.SendEvent(ctx, ContactConv(name), &wire.Event{Kind: wire.KindText, Text: text})
	return err
}

// React puts emoji on ref ("" takes the reaction back).
func (c *Client) React(ctx context.Context, conv Conv, ref wire.Ref, emoji string) error {
	_, err := c.SendEvent(ctx, conv, &wire.Event{Kind: wire.KindReact, Ref: &ref, Emoji: emoji})
	return err
}

// Edit replaces the text of one of the user's messages.
func (c *Client) Edit(ctx context.Context, conv Conv, seq uint64, text string) error {
	_, err := c.SendEvent(ctx, conv, &wire.Event{Kind: wire.KindEdit, Ref: c.ownRef(seq), Text: text})
	return err
}

// Delete deletes one of the user's messages for both sides: the contact is
// told, and its blob is removed from the user's hubs.
func (c *Client) Delete(ctx context.Context, conv Conv, seq uint64) error {
	_, err := c.SendEvent(ctx, conv, &wire.Event{Kind: wire.KindDelete, Ref: c.ownRef(seq)})
	return err
}

// SetTimer turns disappearing messages on (ttl > 0) or off for the
// conversation: from now on, messages either side sends disappear ttl
// after they were sent.
func (c *Client) SetTimer(ctx context.Context, conv Conv, ttl time.Duration) error {
	if ttl != 0 && ttl < time.Second {
		return fmt.Errorf("client: a timer of %v is under a second", ttl)
	}
	_, err := c.SendEvent(ctx, conv, &wire.Event{Kind: wire.KindTimer, TTL: int64(ttl / time.Second)})
	return err
}

// SendEvent writes the next event to name into the user's own hubs and
// applies it to the local history. The side that accepted a request can
// send once it has the requester's first message: SendEvent fetches it
// first if needed.
//
// A text (or an edit) must pass CheckText. If the contact's keys changed
// on the chain since they were confirmed, it refuses with a *KeyChange
// until ConfirmKeys. If no hub took the event yet, or the contact request
// has not reached the contact yet, it is kept and the error is a
// *QueuedError.
func (c *Client) SendEvent(ctx context.Context, conv Conv, e *wire.Event) (Message, error) {
	if e.Kind == wire.KindText && (e.File == nil || e.Text != "") || e.Kind == wire.KindEdit {
		if err := CheckText(e.Text); err != nil {
			return Message{}, err
		}
	}
	if id, ok := conv.Group(); ok {
		return c.sendGroup(ctx, id, e)
	}
	name, _ := conv.Contact()
	ct, err := c.contact(name)
	if err != nil {
		return Message{}, err
	}
	if c.isBlocked(name) {
		return Message{}, fmt.Errorf("client: %s is blocked: unblock them first", name)
	}
	if err := c.writable(ctx, false); err != nil {
		return Message{}, err
	}
	c.mu.Lock()
	stale := ct.stale
	c.mu.Unlock()
	if stale {
		return Message{}, fmt.Errorf("%w with %s: start it over (reset the conversation)", ErrStale, name)
	}
	if err := c.CheckKeys(ctx, name); err != nil && !IsOffline(err) {
		return Message{}, err
	} // with the chain down, the message is sealed and waits (Flush) until the keys are checked
	if err := c.refreshMine(ctx); err != nil {
		return Message{}, err
	}
	c.mu.Lock()
	canSend := ct.ratchet == nil || ct.ratchet.CanSend() // without a name session, device-pair sessions start as needed
	c.mu.Unlock()
	if !canSend {
		if _, err := c.receive(ctx, conv); err != nil {
			return Message{}, err
		}
		c.mu.Lock()
		canSend = ct.ratchet.CanSend()
		c.mu.Unlock()
		if !canSend {
			return Message{}, fmt.Errorf("%w: %s", errCannotSendYet, name)
		}
	}
	c.mu.Lock()
	if e.Ref != nil && e.Kind != wire.KindText {
		i := c.find(*e.Ref, conv)
		if i < 0 {
			c.mu.Unlock()
			return Message{}, fmt.Errorf("%w: %s in the conversation with %s", ErrNoMessage, e.Ref, name)
		}
		if e.Kind != wire.KindReact && c.history[i].From != c.Name {
			c.mu.Unlock()
			return Message{}, fmt.Errorf("client: %s is %s's message: only its author can change it", e.Ref, e.Ref.By)
		}
		if e.Kind != wire.KindReact && c.history[i].Device != c.myDevHex() {
			c.mu.Unlock()
			return Message{}, fmt.Errorf("client: %s was written on another of your devices: only that device can change it", e.Ref)
		}
	}
	if key := c.profile.Key; key != nil && e.Kind != wire.KindProfile && !bytes.Equal(ct.sentProfileKey, key) {
		// The contact has not been given the current profile key yet.
		if _, err := c.seal(ct, &wire.Event{Kind: wire.KindProfile, Key: key}); err != nil {
			c.mu.Unlock()
			return Message{}, err
		}
	}
	if key := ct.receiptKey; key != nil && e.Kind != wire.KindReceipts && !bytes.Equal(ct.sentReceiptKey, key) {
		// Unblocked, but the new receipt key has not gone out yet.
		if _, err := c.seal(ct, &wire.Event{Kind: wire.KindReceipts, Key: key}); err != nil {
			c.mu.Unlock()
			return Message{}, err
		}
	}
	m, err := c.seal(ct, e)
	if err != nil {
		c.mu.Unlock()
		return Message{}, err
	}
	err = c.saveUnlock() // sealed and recorded before it leaves
	if err != nil {
		return m, err
	}
	err = c.flushQueued(ctx, name, &ct.out, m.Seq)
	if q := c.requestQueued(ct); q != nil { // on the user's hubs, perhaps, but they cannot read it yet
		return m, q
	}
	return m, err
}

// flushQueued runs Flush and says ErrQueued, wrapping why (hub sentinels,
// network errors), if no hub took message seq of
// st yet (Flush keeps trying the others).
func (c *Client) flushQueued(ctx context.Context, to string, st *outbox.Stream, seq uint64) error {
	err := c.Flush(ctx)
	c.mu.Lock()
	queued := st.Queued(seq)
	c.mu.Unlock()
	if queued {
		return &QueuedError{To: to, Hubs: c.ownHubs(), Err: err}
	}
	return nil
}

// seal stamps e with the time (and expiry), seals it as ct's next event,
// applies it and puts it in the outbox; the caller holds c.mu and saves.
func (c *Client) seal(ct *Contact, e *wire.Event) (Message, error) {
	now := c.now()
	e.Time = now.UnixMilli()
	if ct.timer > 0 && e.Kind == wire.KindText {
		e.Expires = now.Add(ct.timer).UnixMilli()
	}
	if e.Kind == wire.KindText {
		e.N = max(ct.nextN, 1)
	}
	var hubExp time.Time
	if ct.timer > 0 && expiresOnHubs(e.Kind) {
		hubExp = c.hubExpiry(now, ct.timer)
	}
	var (
		seq  uint64
		path string
		blob []byte
	)
	if ct.ratchet != nil { // the name session
		plain, err := wire.MarshalEvent(e)
		if err != nil {
			return Message{}, err
		}
		seq = ct.out.Next()
		path = wire.MessagePath(ct.keys.SendKey, seq)
		if blob, err = wire.SealMessage(ct.ratchet, ct.keys.Header, plain, []byte(path), nil); err != nil {
			return Message{}, err
		}
	} else {
		seq = ct.nextS
		ct.nextS++
	}
	if !ct.link {
		if err := c.fanOut(ct, e, seq, hubExp); err != nil {
			return Message{}, err
		}
	}
	if e.N != 0 {
		ct.nextN = e.N + 1
	}
	sent := messageOf(c.Name, ContactConv(ct.Name), seq, e)
	sent.Device = c.myDevHex()
	m := c.apply(ct, sent)
	switch e.Kind {
	case wire.KindProfile:
		ct.sentProfileKey = e.Key
	case wire.KindReceipts:
		ct.sentReceiptKey = e.Key
	}
	if blob != nil {
		ct.out.Add(seq, path, blob, hubExp)
	}
	return m, nil
}

// eventMessage reads the plaintext of an authentic blob. An event this
// client cannot read (malformed, a newer version or kind) becomes an
// "unsupported" message in its place, and e is nil.
func eventMessage(from string, conv Conv, seq uint64, plain []byte) (m Message, e *wire.Event) {
	e, err := wire.ParseEvent(plain)
	if err != nil {
		m = Message{From: from, Conv: conv, Seq: seq, Kind: KindUnsupported, Text: err.Error()}
		if e != nil {
			m.Time, m.N = e.When(), e.N
		}
		return m, nil
	}
	return messageOf(from, conv, seq, e), e
}

func messageOf(from string, conv Conv, seq uint64, e *wire.Event) Message {
	m := Message{From: from, Conv: conv, Seq: seq, Time: e.When(), Kind: e.Kind, Text: e.Text, Ref: e.Ref, Emoji: e.Emoji,
		File: e.File, TTL: time.Duration(e.TTL) * time.Second}
	if e.Kind == wire.KindText {
		m.N = e.N
	}
	if e.Expires != 0 {
		m.Expires = time.UnixMilli(e.Expires)
	}
	return m
}

// startOver forgets the conversation with name (its keys and numbers) and
// marks what it said as earlier, for a new one to take its place; the
// caller holds c.mu and saves.
func (c *Client) startOver(name string) {
	delete(c.contacts, name)
	for i := range c.history {
		if m := &c.history[i]; !m.Earlier && m.Conv == ContactConv(name) {
			m.Earlier = true
			c.touchHistory(i)
		}
	}
}

// find returns the index in the history of the message ref of
// conversation conv, or -1; the caller holds c.mu.
func (c *Client) find(ref wire.Ref, conv Conv) int {
	for i := len(c.history) - 1; i >= 0; i-- {
		m := &c.history[i]
		if m.From == ref.By && m.Seq == ref.Seq && m.Device == ref.Dev && m.Kind != wire.KindTimer && m.Kind != KindNotice && !m.Earlier && m.Conv == conv {
			return i
		}
	}
	return -1
}

// A conversation's state that events change: a contact's or a group's.
type conversation interface {
	setTimer(time.Duration)
	// outStream is the stream the user writes in it.
	outStream() *outbox.Stream
	// forget lists the user's message m as deleted and returns the blob's
	// path, or "" if it was listed already.
	forget(m *Message) string
}

func (ct *Contact) setTimer(d time.Duration)  { ct.timer = d }
func (ct *Contact) outStream() *outbox.Stream { return &ct.out }

func (ct *Contact) forget(m *Message) string {
	if !ct.out.Forget(m.Seq) {
		return ""
	}
	return wire.MessagePath(ct.keys.SendKey, m.Seq)
}

// apply takes an event (sent or received) into the conversation with ct;
// the caller holds c.mu. Edits and deletes of a message by anyone but its
// author (the device that wrote it) are ignored, as are events about
// messages the user never had.
func (c *Client) apply(ct conversation, m Message) Message {
	switch m.Kind {
	case wire.KindText, KindUnsupported:
		if m.N != 0 {
			// Numbers only go up: one that does not (a faulty or hostile
			// sender) gets the next, so no two messages share a label.
			if last := c.lastNumber(m.Conv, m.From); m.N <= last {
				m.N = last + 1
			}
		}
		if m.Ref != nil {
			if i := c.find(*m.Ref, m.Conv); i >= 0 {
				m.RefLabel = c.history[i].label()
			}
		}
		c.history = append(c.history, m)
	case wire.KindTimer:
		ct.setTimer(m.TTL)
		c.history = append(c.history, m)
	case wire.KindReact, wire.KindEdit, wire.KindDelete:
		i := c.find(*m.Ref, m.Conv)
		if i < 0 {
			return m
		}
		t := &c.history[i]
		m.RefLabel = t.label()
		c.touchHistory(i)
		switch {
		case m.Kind == wire.KindReact:
			if t.Reactions == nil {
				t.Reactions = map[string]string{}
			}
			if m.Emoji == "" {
				delete(t.Reactions, m.From)
			} else {
				t.Reactions[m.From] = m.Emoji
			}
		case t.From != m.From || t.Device != m.Device || t.Deleted: // only the author, from the device that wrote it, edits or deletes
		case m.Kind == wire.KindEdit:
			t.Text, t.Edited = m.Text, true
		case m.Kind == wire.KindDelete:
			if t.From == c.Name && t.Device == c.myDevHex() { // this device's own: its blob goes
				c.forget(ct, t)
			}
			c.tombstone(t)
		}
	}
	return m
}

// label is m's label, or nil.
func (m Message) label() *wire.Ref {
	if l, ok := m.Label(); ok {
		return &l
	}
	return nil
}

// lastNumber is the greatest number of author's messages in conversation
// conv (their latest, as they arrive in order); the caller holds c.mu.
func (c *Client) lastNumber(conv Conv, author string) uint64 {
	for i := len(c.history) - 1; i >= 0; i-- {
		if m := &c.history[i]; m.From == author && !m.Earlier && m.Conv == conv {
			if l, ok := m.Label(); ok {
				return l.Seq
			}
		}
	}
	return 0
}

// tombstone keeps a deleted message's place and nothing of its content.
func (c *Client) tombstone(m *Message) {
	*m = Message{From: m.From, Conv: m.Conv, Seq: m.Seq, Time: m.Time, Kind: m.Kind, N: m.N, Deleted: true}
}

// forget marks the user's message m in ct as deleted: the index lists
// it, and Flush removes its blob, and its file's chunks, from every hub;
// the caller holds c.mu.
func (c *Client) forget(ct conversation, m *Message) {
	if p := ct.forget(m); p != "" {
		c.doomedPaths = append(c.doomedPaths, p)
	}
	if m.File != nil {
		for i := range m.File.Chunks {
			c.doomedPaths = append(c.doomedPaths, wire.ChunkPath(m.File.Key, i))
		}
	}
}

// Receive reads every new event of the conversation conv from the hubs of
// the contact (or of the group's members: SyncGroups), in order, and
// returns them. A blob that fails to open is reported, never shown; so is
// a message the hubs withhold (*WithheldError); the events before it are
// returned. A blocked contact's hubs are not read; nor are those of a
// contact whose key change the client has seen (the *KeyChange is
// returned).
func (c *Client) Receive(ctx context.Context, conv Conv) ([]Event, error) {
	ms, err := c.receive(ctx, conv)
	return events(ms), err
}

// receive is Receive, returning what the events made of the history.
func (c *Client) receive(ctx context.Context, conv Conv) ([]Message, error) {
	if id, ok := conv.Group(); ok {
		return c.receiveGroup(ctx, id)
	}
	name, _ := conv.Contact()
	ct, err := c.contact(name)
	if err != nil {
		return nil, err
	}
	// The self sessions first: a setting from another of the user's
	// devices (blocking name) holds before name's hubs are read.
	self, selfErr := c.receiveSelf(ctx)
	c.mu.Lock()
	c.keepCopies(self) // copies of other conversations wait for theirs (or a watch) to be read
	c.mu.Unlock()
	if c.isBlocked(name) {
		return nil, selfErr
	}
	if err := c.closed(ct); err != nil {
		return nil, err // their keys changed: nothing more is read from the old conversation
	}
	// Looked up at the latest verified height (once per height), so that a
	// long-running watch never shows what a replaced device writes after
	// the change; with the chain down, what the hubs hold is read on the
	// keys as confirmed.
	if _, err := c.checkName(ctx, name); err != nil && !IsOffline(err) {
		return nil, err
	}
	var out []Message
	if c.hasNameSession(ct) {
		ms, err := c.receiveConv(ctx, ct)
		if err != nil {
			return ms, err
		}
		out = ms
	}
	ms, err := c.receiveDevices(ctx, ct)
	out = append(out, ms...)
	if err != nil {
		return out, err
	}
	c.mu.Lock()
	c.copies = slices.DeleteFunc(c.copies, func(m Message) bool {
		if m.Conv != conv {
			return false
		}
		out = append(out, m)
		return true
	})
	c.mu.Unlock()
	return out, selfErr
}

// receiveCopies reads the copies the user's other devices wrote, of
// every conversation, and returns them with those read before but not
// returned yet (a watch reports them all).
func (c *Client) receiveCopies(ctx context.Context) ([]Message, error) {
	ms, err := c.receiveSelf(ctx)
	c.mu.Lock()
	ms = append(c.copies, ms...)
	c.copies = nil
	c.mu.Unlock()
	return ms, err
}

// hasNameSession reports whether this device runs the name session with
// ct (only the user's first device does).
func (c *Client) hasNameSession(ct *Contact) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ct.ratchet != nil
}

// receiveConv is Receive on the conversation ct: a contact's, or a group
// link (whose events other than group ones are consumed, not returned, and
// for which no receipt is written).
func (c *Client) receiveConv(ctx context.Context, ct *Contact) ([]Message, error) {
	name := ct.Name
	ct.recvMu.Lock() // a concurrent Receive would fetch the same message
	defer ct.recvMu.Unlock()
	c.mu.Lock()
	noKeys := len(ct.Record.Profile.Hubs) == 0 || ct.Record.Profile.SigningKey.IsZero()
	c.mu.Unlock()
	if noKeys {
		return nil, fmt.Errorf("%w: %s", ErrNoKeys, name)
	}
	_, addr := c.whereIs(ct)
	var (
		out   []Message
		index *wire.Index
	)
	for {
		c.mu.Lock()
		seq := ct.nextRecv
		c.mu.Unlock()
		path := wire.MessagePath(ct.keys.RecvKey, seq)
		m, err := c.receiveOne(ctx, ct, addr, path, seq)
		if errors.Is(err, hub.ErrNotFound) {
			if index == nil {
				index = c.readIndex(ctx, ct, addr)
			}
			switch {
			case index.IsDeleted(seq), index.IsExpired(seq, c.now()): // deleted by the sender, or by its hubs on time, before we read it
				c.mu.Lock()
				ct.nextRecv++
				err = c.saveUnlock()
				if err != nil {
					return out, err
				}
				continue
			case seq < index.Count:
				err = &WithheldError{Name: name, Seq: seq, Count: index.Count}
			default:
				err = nil
			}
			if len(out) > 0 && !ct.link {
				err = cmp.Or(err, c.writeReceipt(ctx, ct))
			}
			return out, err
		}
		if err != nil {
			return out, err
		}
		if m != nil {
			out = append(out, *m)
		}
	}
}

// readIndex returns the greatest index that name's hubs serve for the
// direction the user reads.
func (c *Client) readIndex(ctx context.Context, ct *Contact, addr string) *wire.Index {
	hubs, _ := c.whereIs(ct)
	return c.bestIndex(ctx, hubs, addr, wire.IndexPath(ct.keys.RecvKey), ct.keys.Header)
}

// bestIndex returns the greatest index the hubs serve at addr/path (an
// empty one if none does): a hub can withhold an index or serve an old
// one, never forge one.
func (c *Client) bestIndex(ctx context.Context, hubs []string, addr, path string, header [32]byte) *wire.Index {
	best := &wire.Index{}
	for _, url := range hubs {
		h, err := c.dial(ctx, url)
		if err != nil {
			continue
		}
		b, _, err := h.Get(ctx, addr, path)
		if err != nil {
			continue
		}
		x, err := wire.OpenIndex(header, path, b)
		if err != nil {
			continue
		}
		best.Count = max(best.Count, x.Count)
		for _, d := range x.Deleted {
			if i, found := slices.BinarySearch(best.Deleted, d); !found {
				best.Deleted = slices.Insert(best.Deleted, i, d)
			}
		}
		for _, e := range x.Expiring {
			i, found := slices.BinarySearchFunc(best.Expiring, e.Seq, func(a wire.Expiry, s uint64) int { return cmp.Compare(a.Seq, s) })
			if !found {
				best.Expiring = slices.Insert(best.Expiring, i, e)
			}
		}
	}
	return best
}

// receiveOne fetches and opens message seq, trying the contact's hubs in
// order until one serves a blob that opens. Otherwise it reports, in this
// order: a blob that failed to open (altered or forged: never shown),
// hub.ErrNotFound if any hub answered that it has no such message, or the
// error of an unreachable hub. A message sent while the contact was
// blocked is consumed and not returned (nil message).
func (c *Client) receiveOne(ctx context.Context, ct *Contact, addr, path string, seq uint64) (*Message, error) {
	var (
		out     *Message
		sv      *store.Save
		saveErr error
	)
	hubs, _ := c.whereIs(ct)
	_, err := c.getVerified(ctx, hubs, addr, path, func(blob []byte) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		plain, err := wire.OpenMessage(ct.ratchet, ct.keys.Header, blob, []byte(path)) // the ratchet moves only if it opens
		if err != nil {
			return fmt.Errorf("client: message %d from %s was altered or forged: %w", seq, ct.Name, err)
		}
		m, e := eventMessage(ct.Name, ContactConv(ct.Name), seq, plain)
		if ct.link && (e == nil || e.Kind != wire.KindGroup) {
			e = nil // a link carries group events only
			m.Kind = ""
		}
		switch {
		case e == nil:
		case e.Kind == wire.KindProfile:
			ct.theirProfileKey = e.Key
		case e.Kind == wire.KindReceipts:
			ct.theirReceiptKey = e.Key
		case e.Kind == wire.KindGroup:
			c.notice(c.book.Take(ct.Name, e.Group, c.genv()))
		}
		ct.nextRecv++
		ct.asked = askedNot // they answered
		// Kinds of the self sessions only: a contact's has no effect and
		// is not shown.
		selfOnly := e != nil && (e.Kind == wire.KindRead || e.Kind == wire.KindSetting || e.Kind == wire.KindContact)
		if m.Kind != "" && !selfOnly && seq >= ct.dropBelow && !ct.quietAt(m.Time) {
			untilRead(&m) // a disappearing message's timer starts when it is read
			m = c.apply(ct, m)
			out = &m
		}
		sv, saveErr = c.prepare()
		return nil
	})
	return out, cmp.Or(err, saveErr, c.write(sv))
}

// peek returns the hub path of the next message expected from name.
func (c *Client) peek(_ context.Context, name string) (string, error) {
	ct, err := c.contact(name)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return wire.MessagePath(ct.keys.RecvKey, ct.nextRecv), nil
}

// pathOf returns where message ref of the conversation with name lives on
// its author's hubs.
func (c *Client) pathOf(name string, ref wire.Ref) (string, error) {
	ct, err := c.contact(name)
	if err != nil {
		return "", err
	}
	switch ref.By {
	case c.Name:
		return wire.MessagePath(ct.keys.SendKey, ref.Seq), nil
	case name:
		return wire.MessagePath(ct.keys.RecvKey, ref.Seq), nil
	}
	return "", fmt.Errorf("client: %s is not in the conversation with %s", ref.By, name)
}

// MarkRead records that the user has seen everything received from name,
// and tells name so (unless read receipts are off). The timers of the
// disappearing messages just read start now.
func (c *Client) MarkRead(ctx context.Context, conv Conv) error {
	if id, ok := conv.Group(); ok {
		return c.markGroupRead(ctx, id)
	}
	name, _ := conv.Contact()
	ct, err := c.contact(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	changed := ct.readUpTo != ct.nextRecv || ct.receiptOwed // a receipt no hub took yet goes now
	if ct.ratchet != nil {
		ct.readUpTo = ct.nextRecv
	}
	synced := c.markAllRead(ct) // what came from the contact's other devices, and, on a linked device, from every device
	changed = changed || synced
	started := c.startTimers(conv, func(string) uint64 { return ct.readUpTo })
	var sv *store.Save
	if changed || started {
		sv, err = c.prepare()
	}
	c.mu.Unlock()
	if err = cmp.Or(err, c.write(sv)); err != nil || !changed {
		return err
	}
	if err := c.syncRead(ctx, ct); err != nil {
		return err
	}
	return cmp.Or(c.writeReceipt(ctx, ct), c.writeDeviceReceipts(ctx, ct))
}

// Unread counts the messages from name the user has not seen.
func (c *Client) Unread(conv Conv) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var readUpTo func(Message) uint64
	switch x := c.conversationOf(conv).(type) {
	case *Contact:
		readUpTo = func(m Message) uint64 { return x.readBelow(m.Device) }
	case groupConv:
		readUpTo = func(m Message) uint64 { return x.g.Read[group.Sender(m.From, m.Device)] }
	default:
		return 0
	}
	n := 0
	for _, m := range c.history {
		if m.From != c.Name && m.Conv == conv && m.Seq >= readUpTo(m) && !m.Deleted && m.Kind != wire.KindTimer && m.Kind != KindNotice {
			n++
		}
	}
	return n
}

// SetReadReceipts turns read receipts on or off, on this device and on
// the user's other devices (a setting event in the self sessions). Off,
// contacts still learn what was delivered, and what they were told was
// read is withdrawn.
func (c *Client) SetReadReceipts(ctx context.Context, on bool) error {
	err := c.setReadReceipts(ctx, on)
	return cmp.Or(err, c.syncSetting(ctx, &wire.Event{Set: wire.SetReceipts, On: on}))
}

// setReadReceipts is SetReadReceipts on this device only.
func (c *Client) setReadReceipts(ctx context.Context, on bool) error {
	c.mu.Lock()
	c.readReceipts = on
	err := c.saveUnlock()
	if err != nil {
		return err
	}
	for _, n := range c.unblocked() {
		ct, _ := c.contact(n)
		err = cmp.Or(err, c.writeReceipt(ctx, ct))
	}
	for _, g := range c.Groups() {
		if gg, gerr := c.group(g.ID); gerr == nil && !g.Gone {
			err = cmp.Or(err, c.writeGroupReceipt(ctx, gg))
		}
	}
	return err
}

// ReadReceipts reports whether read receipts are on.
func (c *Client) ReadReceipts() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readReceipts
}

// writeReceipt records on the user's own hub how many of ct's messages
// were delivered and read, so the sender can see it.
func (c *Client) writeReceipt(ctx context.Context, ct *Contact) error {
	c.mu.Lock()
	path, blob := c.receiptBlob(ct)
	c.mu.Unlock()
	if blob == nil {
		return nil
	}
	err := c.putOwn(ctx, path, blob)
	c.mu.Lock()
	if owed := err != nil; owed != ct.receiptOwed { // MarkRead writes it again
		ct.receiptOwed = owed
		return cmp.Or(err, c.saveUnlock())
	}
	c.mu.Unlock()
	return err
}

// receiptBlob is the user's receipt for ct's messages and where it goes
// (nil once a key change closed the conversation); the caller holds c.mu.
func (c *Client) receiptBlob(ct *Contact) (string, []byte) {
	if ct.changed != nil || ct.ratchet == nil { // the old conversation's keys tell nobody anything more; no name session, no receipt
		return "", nil
	}
	r := wire.Receipt{Delivered: ct.nextRecv, Read: ct.readUpTo}
	for _, s := range ct.skipped { // as far as fetched
		if s.From >= ct.nextRecv {
			break
		}
		r.Skipped = append(r.Skipped, wire.Span{From: s.From, To: min(s.To, ct.nextRecv)})
	}
	if !c.readReceipts {
		r.Read = 0
	}
	path := ct.receiptPath()
	return path, wire.SealReceipt(ct.keys.Header, path, r)
}

// ReceiptFrom returns what name says it has of the user's messages (zero
// if name has written no receipt), from the first of name's hubs that has
// one that opens (GroupReceipts reads a group's).
//
// What name's other devices (and, without a name session, all of them)
// wrote in their device-pair sessions with this device adds to it: the
// greatest delivered and read of any device, so a message read on any
// device of theirs is read.
func (c *Client) ReceiptFrom(ctx context.Context, name string) (wire.Receipt, error) {
	return c.receiptFrom(ctx, name, true)
}

// receiptFrom is ReceiptFrom, with the device-pair sessions' receipts
// only if devices: what name fetched of the name session alone is the
// name-session receipt's (expire deletes by it).
func (c *Client) receiptFrom(ctx context.Context, name string, devices bool) (wire.Receipt, error) {
	ct, err := c.contact(name)
	if err != nil {
		return wire.Receipt{}, err
	}
	if c.closed(ct) != nil {
		return wire.Receipt{}, nil
	}
	var r wire.Receipt
	if c.hasNameSession(ct) {
		if r, err = c.nameReceipt(ctx, ct); err != nil {
			return r, err
		}
	}
	if devices {
		c.deviceReceipts(ctx, ct, &r)
	}
	return r, nil
}

// nameReceipt is the receipt name wrote in the name session.
func (c *Client) nameReceipt(ctx context.Context, ct *Contact) (wire.Receipt, error) {
	c.mu.Lock()
	path := ct.theirReceiptPath()
	c.mu.Unlock()
	var r wire.Receipt
	hubs, addr := c.whereIs(ct)
	_, err := c.getVerified(ctx, hubs, addr, path, func(b []byte) (err error) {
		r, err = wire.OpenReceipt(ct.keys.Header, path, b)
		return err
	})
	c.mu.Lock()
	switch {
	case errors.Is(err, hub.ErrNotFound):
		c.mu.Unlock()
		return wire.Receipt{}, nil
	case IsOffline(err) && ct.theirReceipt != nil: // their hubs down: as last read
		last := *ct.theirReceipt
		c.mu.Unlock()
		return last, nil
	case err != nil:
		c.mu.Unlock()
		return r, err
	}
	if ct.theirReceipt == nil || !reflect.DeepEqual(*ct.theirReceipt, r) {
		ct.theirReceipt = &r
		return r, c.saveUnlock()
	}
	c.mu.Unlock()
	return r, nil
}

// Delivery states of a sent message.
const (
	StateQueued    = "queued"    // sealed, no hub has it yet
	StateNotSent   = "not sent"  // sealed, then held back for good (a group member's keys changed before it left)
	StateSent      = "sent"      // on the user's hub
	StateDelivered = "delivered" // the contact fetched it
	StateRead      = "read"      // the contact saw it
)

// StateOf says where the user's message seq to name is, given name's receipt.
func (c *Client) StateOf(conv Conv, seq uint64, r wire.Receipt) string {
	_, isGroup := conv.Group()
	c.mu.Lock()
	var st *outbox.Stream
	x := c.conversationOf(conv)
	if x != nil {
		st = x.outStream()
	}
	queued := st != nil && st.Queued(seq)
	if ct, ok := x.(*Contact); ok && ct.request != nil {
		queued = true // they cannot read it before the request reaches them
	}
	unsent := st != nil && st.Withheld(seq)
	c.mu.Unlock()
	if unsent {
		return StateNotSent
	}
	if st == nil {
		return ""
	}
	switch {
	case queued:
		return StateQueued
	case isGroup, r.Skips(seq):
		return StateSent
	case seq < r.Read:
		return StateRead
	case seq < r.Delivered:
		return StateDelivered
	}
	return StateSent
}

// Conversation returns the conversation with name in the order this
// device took its messages (History).
func (c *Client) Conversation(conv Conv) []Message {
	var out []Message
	for _, m := range c.History() {
		if m.Conv == conv {
			out = append(out, m)
		}
	}
	return out
}

// History returns every conversation's messages in the order this device
// took them: the user's own as it sent them, each contact's (and group
// member's) as it read them, which is always that sender's sequence order
// (Receive never takes message i+1 before i). The senders' clocks order
// nothing: Time is what the sender says, shown, never trusted, so a
// message dated in the past cannot move above what came before it.
func (c *Client) History() []Message {
	c.mu.Lock()
	out := append([]Message(nil), c.history...)
	c.mu.Unlock()
	type key struct {
		conv    Conv
		id      wire.Ref
		earlier bool
	}
	labels := map[key]*wire.Ref{}
	for i := range out {
		out[i].Reactions = maps.Clone(out[i].Reactions)
		if l := out[i].label(); l != nil {
			labels[key{out[i].Conv, out[i].ID(), out[i].Earlier}] = l
		}
	}
	for i := range out {
		if r := out[i].Ref; r != nil {
			out[i].RefLabel = labels[key{out[i].Conv, *r, out[i].Earlier}]
		}
	}
	return out
}
