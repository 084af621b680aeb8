// Package client is the Parley messenger library: it composes verified
// name lookups (a Directory), storage hubs (hubclient) and the formats of
// package wire into contacts and conversations.
//
// A user's bucket on every hub is the one of their signing key
// (auth.NativeAddress of the key their chain record publishes), so anyone
// can compute where a name writes from its verified record alone.
//
// This is the first layer: in-memory state, one hub per user, reading by
// polling. Persistence, watching, several hubs and the CLI build on it.
package client

import (
	"cmp"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/ratchet"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
)

// Directory returns name records whose proofs have been verified
// (lookup.Client is the real one).
type Directory interface {
	Lookup(ctx context.Context, name string) (*bns.Record, error)
}

// Errors.
var (
	ErrNotContact = errors.New("client: not a contact")
	ErrNoKeys     = errors.New("client: the name publishes no usable keys")
	// ErrQueued: the message is sealed and saved, but the hub did not take
	// it yet; Flush (run by every later Send, and at start by the CLI)
	// delivers it.
	ErrQueued = errors.New("client: message queued")
)

// Client is one user.
type Client struct {
	Name string
	id   *keystore.Identity
	dir  Directory
	home *hubclient.Client // the user's first hub: inbox, receipts, introductions
	own  []string          // every hub the user writes messages to (home first)
	http *http.Client      // nil: hubclient's default

	mu        sync.Mutex
	hubs      map[string]*hubclient.Client // other hubs, by URL
	contacts  map[string]*Contact
	history   []Message
	statePath string // empty: state is not persisted
}

// Contact is a conversation with one name.
type Contact struct {
	Name     string
	Record   *bns.Record // as verified when the contact was made
	mutual   [32]byte
	keys     wire.Keys
	ratchet  *ratchet.State
	nextSend uint64
	nextRecv uint64
	outbox   []outboxEntry // sealed, not yet acknowledged by the hub
	recvMu   sync.Mutex    // one Receive at a time per contact
}

// Option adjusts a Client.
type Option func(*Client)

// WithHTTPClient makes the client reach hubs through hc.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// New makes a client for name, whose identity id is registered on the chain
// with homeHub as its hub.
func New(ctx context.Context, name string, id *keystore.Identity, dir Directory, homeHub string, opts ...Option) (*Client, error) {
	c := &Client{Name: name, id: id, dir: dir, hubs: map[string]*hubclient.Client{}, contacts: map[string]*Contact{}}
	for _, o := range opts {
		o(c)
	}
	h, err := hubclient.Dial(ctx, homeHub, id.SigningKey(), c.http)
	if err != nil {
		return nil, err
	}
	c.home, c.hubs[homeHub], c.own = h, h, []string{homeHub}
	// The chain says which hubs the user publishes; messages go to all.
	if rec, err := dir.Lookup(ctx, name); err == nil {
		for _, u := range rec.Profile.Hubs {
			if u != homeHub {
				c.own = append(c.own, u)
			}
		}
	}
	return c, nil
}

// dial returns a connection to the hub at url.
func (c *Client) dial(ctx context.Context, url string) (*hubclient.Client, error) {
	c.mu.Lock()
	h := c.hubs[url]
	c.mu.Unlock()
	if h != nil {
		return h, nil
	}
	h, err := hubclient.Dial(ctx, url, c.id.SigningKey(), c.http)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.hubs[url] = h
	c.mu.Unlock()
	return h, nil
}

// hubOf returns a connection to the first hub a record lists.
func (c *Client) hubOf(ctx context.Context, rec *bns.Record) (*hubclient.Client, string, error) {
	if len(rec.Profile.Hubs) == 0 || rec.Profile.SigningKey.IsZero() {
		return nil, "", fmt.Errorf("%w: %s", ErrNoKeys, rec.Name)
	}
	h, err := c.dial(ctx, rec.Profile.Hubs[0])
	if err != nil {
		return nil, "", err
	}
	return h, auth.NativeAddress(rec.Profile.SigningKey[:]), nil
}

func x25519Of(rec *bns.Record) (*ecdh.PublicKey, error) {
	for _, k := range rec.Profile.EncKeys {
		if k.KEM == bns.KEMX25519 {
			return ecdh.X25519().NewPublicKey(k.Key)
		}
	}
	return nil, fmt.Errorf("%w: %s has no X25519 key", ErrNoKeys, rec.Name)
}

func (c *Client) myX25519() (*ecdh.PrivateKey, error) {
	k, err := c.id.X25519Key()
	if err != nil {
		return nil, err
	}
	b, err := k.Bytes()
	if err != nil {
		return nil, err
	}
	return ecdh.X25519().NewPrivateKey(b)
}

// Request asks name to become a contact (the thesis's case 2): a fresh
// mutual key, sealed to name's verified key and signed by ours, goes into
// name's hub inbox, and a first message ("greeting") follows on our hub.
func (c *Client) Request(ctx context.Context, name, greeting string) error {
	rec, err := c.dir.Lookup(ctx, name)
	if err != nil {
		return err
	}
	their, err := x25519Of(rec)
	if err != nil {
		return err
	}
	h, addr, err := c.hubOf(ctx, rec)
	if err != nil {
		return err
	}
	env, err := c.begin(rec, their)
	if err != nil {
		return err
	}
	if _, err := h.InboxPost(ctx, addr, env); err != nil {
		return fmt.Errorf("client: request to %s: %w", name, err)
	}
	return c.Send(ctx, name, greeting)
}

// begin starts a conversation as its first sender: a fresh mutual key,
// the introduction carrying it (sealed to rec's key, signed by ours) and
// the contact, saved. The caller delivers the introduction.
func (c *Client) begin(rec *bns.Record, their *ecdh.PublicKey) ([]byte, error) {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return nil, err
	}
	env, err := wire.SealIntro(c.id.SigningKey(), wire.Intro{From: c.Name, To: rec.Name, MutualKey: k, Time: time.Now()}, rec)
	if err != nil {
		return nil, err
	}
	r, err := ratchet.InitAlice(k, their, nil)
	if err != nil {
		return nil, err
	}
	return env, c.addContact(&Contact{Name: rec.Name, Record: rec, mutual: k, keys: wire.ConversationKeys(k, c.Name, rec.Name), ratchet: r})
}

// Pending is a contact request waiting in the user's inbox.
type Pending struct {
	ID    string
	From  string
	Intro *wire.Intro
}

// Requests opens the envelopes in the user's inbox. Envelopes that do not
// open or whose signature the chain does not vouch for are reported in
// bad (by id) and left for the user to delete.
func (c *Client) Requests(ctx context.Context) (ok []Pending, bad map[string]error, err error) {
	entries, err := c.home.InboxList(ctx)
	if err != nil {
		return nil, nil, err
	}
	xk, err := c.id.X25519Key()
	if err != nil {
		return nil, nil, err
	}
	hk, err := c.id.HybridKey()
	if err != nil {
		return nil, nil, err
	}
	bad = map[string]error{}
	for _, e := range entries {
		env, err := c.home.InboxGet(ctx, e.ID)
		if err != nil {
			bad[e.ID] = err
			continue
		}
		in, err := wire.OpenIntro(env, c.Name, []hpkeKey{xk, hk}, func(from string) (*bns.Record, error) { return c.dir.Lookup(ctx, from) })
		if err != nil {
			bad[e.ID] = err
			continue
		}
		ok = append(ok, Pending{ID: e.ID, From: in.From, Intro: in})
	}
	return ok, bad, nil
}

// Accept makes the requester a contact and removes the request.
func (c *Client) Accept(ctx context.Context, p Pending) error {
	rec, err := c.dir.Lookup(ctx, p.From)
	if err != nil {
		return err
	}
	mine, err := c.myX25519()
	if err != nil {
		return err
	}
	if err := c.addContact(&Contact{Name: p.From, Record: rec, mutual: p.Intro.MutualKey, keys: wire.ConversationKeys(p.Intro.MutualKey, c.Name, p.From),
		ratchet: ratchet.InitBob(p.Intro.MutualKey, mine, nil)}); err != nil {
		return err
	}
	return c.home.InboxDelete(ctx, p.ID)
}

// Decline removes a request without answering: the requester learns nothing.
func (c *Client) Decline(ctx context.Context, p Pending) error { return c.home.InboxDelete(ctx, p.ID) }

func (c *Client) contact(name string) (*Contact, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct := c.contacts[name]
	if ct == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotContact, name)
	}
	return ct, nil
}

// Send writes the next message to name into the user's own hub. The side
// that accepted a request can send once it has the requester's first
// message: Send fetches it first if needed (it joins the history).
//
// If the contact's keys changed on the chain since they were confirmed,
// Send refuses with a *KeyChange until ConfirmKeys.
func (c *Client) Send(ctx context.Context, name, text string) error {
	ct, err := c.contact(name)
	if err != nil {
		return err
	}
	if err := c.CheckKeys(ctx, name); err != nil {
		return err
	}
	c.mu.Lock()
	canSend := ct.ratchet.CanSend()
	c.mu.Unlock()
	if !canSend {
		if _, err := c.Receive(ctx, name); err != nil {
			return err
		}
	}
	c.mu.Lock()
	path := wire.MessagePath(ct.keys.SendKey, ct.nextSend)
	blob, err := wire.SealMessage(ct.ratchet, ct.keys.Header, []byte(text), []byte(path), nil)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	c.history = append(c.history, Message{From: c.Name, To: name, Seq: ct.nextSend, Text: text})
	ct.nextSend++
	ct.outbox = append(ct.outbox, outboxEntry{Path: path, Blob: blob})
	err = c.save() // sealed and recorded before it leaves
	c.mu.Unlock()
	if err != nil {
		return err
	}
	err = c.Flush(ctx)
	c.mu.Lock()
	ok := c.delivered(ct, path)
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w (no hub took it yet: %v)", ErrQueued, err)
	}
	return nil // on at least one hub; Flush keeps trying the others
}

// Message is a received message.
type Message struct {
	From string `json:"from"`
	To   string `json:"to"`
	Seq  uint64 `json:"seq"`
	Text string `json:"text"`
}

// Receive reads every new message from name on name's hub, in order. A
// blob that fails to open is reported as an error, never shown; the
// messages before it are returned.
func (c *Client) Receive(ctx context.Context, name string) ([]Message, error) {
	ct, err := c.contact(name)
	if err != nil {
		return nil, err
	}
	ct.recvMu.Lock() // a concurrent Receive would fetch the same message
	defer ct.recvMu.Unlock()
	if len(ct.Record.Profile.Hubs) == 0 || ct.Record.Profile.SigningKey.IsZero() {
		return nil, fmt.Errorf("%w: %s", ErrNoKeys, name)
	}
	addr := auth.NativeAddress(ct.Record.Profile.SigningKey[:])
	var out []Message
	for {
		c.mu.Lock()
		seq := ct.nextRecv
		c.mu.Unlock()
		path := wire.MessagePath(ct.keys.RecvKey, seq)
		m, err := c.receiveOne(ctx, ct, addr, path, seq)
		if errors.Is(err, hub.ErrNotFound) {
			if len(out) > 0 {
				return out, c.writeReceipt(ctx, ct, seq)
			}
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, *m)
	}
}

// receiveOne fetches and opens message seq, trying the contact's hubs in
// order until one serves a blob that opens. Otherwise it reports, in this
// order: a blob that failed to open (altered or forged: never shown),
// hub.ErrNotFound if any hub answered that it has no such message, or the
// error of an unreachable hub.
func (c *Client) receiveOne(ctx context.Context, ct *Contact, addr, path string, seq uint64) (*Message, error) {
	var forged, unreachable error
	answered := false
	for _, url := range ct.Record.Profile.Hubs {
		h, err := c.dial(ctx, url)
		if err != nil {
			unreachable = cmp.Or(unreachable, err)
			continue
		}
		blob, _, err := h.Get(ctx, addr, path)
		if errors.Is(err, hub.ErrNotFound) {
			answered = true
			continue
		}
		if err != nil {
			unreachable = cmp.Or(unreachable, err)
			continue
		}
		c.mu.Lock()
		text, err := wire.OpenMessage(ct.ratchet, ct.keys.Header, blob, []byte(path))
		if err != nil {
			c.mu.Unlock()
			forged = cmp.Or(forged, fmt.Errorf("client: message %d from %s on %s was altered or forged: %w", seq, ct.Name, url, err))
			continue
		}
		m := Message{From: ct.Name, To: c.Name, Seq: seq, Text: string(text)}
		ct.nextRecv++
		c.history = append(c.history, m)
		err = c.save()
		c.mu.Unlock()
		return &m, err
	}
	switch {
	case forged != nil:
		return nil, forged
	case answered || unreachable == nil:
		return nil, hub.ErrNotFound
	}
	return nil, unreachable
}

// Address is the user's bucket address on every hub.
func (c *Client) Address() string { return c.home.Address() }

// Peek returns the hub path of the next message expected from name.
func (c *Client) Peek(_ context.Context, name string) (string, error) {
	ct, err := c.contact(name)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return wire.MessagePath(ct.keys.RecvKey, ct.nextRecv), nil
}

// SafetyNumber renders a record's published keys as 60 digits in 12
// groups, for people to compare out of band: SHA-256 over
// "parley/safety/v1", the name, the signing key and each encryption key,
// iterated 5200 times; each 5-byte chunk of the result, big-endian, mod
// 100000, is a group.
func SafetyNumber(rec *bns.Record) string {
	h := sha256.New()
	h.Write([]byte("parley/safety/v1"))
	h.Write([]byte(rec.Name))
	h.Write(rec.Profile.SigningKey[:])
	for _, k := range rec.Profile.EncKeys {
		h.Write(k.Key)
	}
	sum := h.Sum(nil)
	for i := 0; i < 5200; i++ {
		s := sha256.Sum256(append(sum, rec.Profile.SigningKey[:]...))
		sum = s[:]
	}
	sum = append(sum, sha256.New().Sum(sum)...) // 64 bytes: enough for 12 chunks of 5
	var groups []string
	for i := 0; i < 12; i++ {
		var v uint64
		for _, b := range sum[i*5 : i*5+5] {
			v = v<<8 | uint64(b)
		}
		groups = append(groups, fmt.Sprintf("%05d", v%100000))
	}
	return strings.Join(groups, " ")
}

// Contacts returns the names of the user's contacts, sorted.
func (c *Client) Contacts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for n := range c.contacts {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// writeReceipt records on the user's own hub that n messages from ct were
// read, so the sender can see it.
func (c *Client) writeReceipt(ctx context.Context, ct *Contact, n uint64) error {
	path := wire.ReceiptPath(ct.keys.RecvKey)
	_, err := c.home.Put(ctx, path, wire.SealReceipt(ct.keys.Header, path, n), "application/octet-stream", hubclient.Cond{})
	return err
}

// ReadBy returns how many of the user's messages name has read (0 if name
// has written no receipt), from name's own hub.
func (c *Client) ReadBy(ctx context.Context, name string) (uint64, error) {
	ct, err := c.contact(name)
	if err != nil {
		return 0, err
	}
	h, addr, err := c.hubOf(ctx, ct.Record)
	if err != nil {
		return 0, err
	}
	path := wire.ReceiptPath(ct.keys.SendKey)
	b, _, err := h.Get(ctx, addr, path)
	if errors.Is(err, hub.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return wire.OpenReceipt(ct.keys.Header, path, b)
}
