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

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-im/parley/chain/bns"
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
	Name      string        `json:"name"`
	Record    []byte        `json:"record"`
	MutualKey []byte        `json:"mutual_key"`
	Ratchet   []byte        `json:"ratchet"`
	NextSend  uint64        `json:"next_send"`
	NextRecv  uint64        `json:"next_recv"`
	Outbox    []outboxEntry `json:"outbox,omitempty"`
}

type outboxEntry struct {
	Path string   `json:"path"`
	Blob []byte   `json:"blob"`
	Done []string `json:"done,omitempty"` // hubs that acknowledged it
}

type savedState struct {
	Contacts []savedContact `json:"contacts"`
	History  []Message      `json:"history"`
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
	if err := c.load(b); err != nil {
		return nil, fmt.Errorf("client: state %s: %w", statePath, err)
	}
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
	var s savedState
	if err := json.Unmarshal(plain, &s); err != nil {
		return err
	}
	for _, sc := range s.Contacts {
		rec, err := bns.UnmarshalRecord(sc.Record)
		if err != nil {
			return err
		}
		r, err := ratchet.UnmarshalState(sc.Ratchet)
		if err != nil {
			return err
		}
		var k [32]byte
		copy(k[:], sc.MutualKey)
		c.contacts[sc.Name] = &Contact{Name: sc.Name, Record: rec, mutual: k, keys: wire.ConversationKeys(k, c.Name, sc.Name),
			ratchet: r, nextSend: sc.NextSend, nextRecv: sc.NextRecv, outbox: sc.Outbox}
	}
	c.history = s.History
	return nil
}

// save writes the state; the caller holds c.mu.
func (c *Client) save() error {
	if c.statePath == "" {
		return nil
	}
	var s savedState
	for _, ct := range c.contacts {
		s.Contacts = append(s.Contacts, savedContact{Name: ct.Name, Record: ct.Record.Marshal(), MutualKey: ct.mutual[:],
			Ratchet: ct.ratchet.Marshal(), NextSend: ct.nextSend, NextRecv: ct.nextRecv, Outbox: ct.outbox})
	}
	s.History = c.history
	plain, err := json.Marshal(s)
	if err != nil {
		return err
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(nonce)
	aead, _ := chacha20poly1305.NewX(c.stateKey())
	out := append([]byte(stateMagic), nonce...)
	out = aead.Seal(out, nonce, plain, []byte(stateMagic))
	clear(plain)
	return keystore.WriteFileAtomic(c.statePath, out)
}

// Flush uploads every message still in an outbox to each of the user's
// hubs that does not have it yet, in order. An upload that finds the same
// blob already on a hub (a retry after a crash) counts as done. A message
// leaves the outbox once every hub has it. Flush reports the first hub
// that failed, after trying them all.
func (c *Client) Flush(ctx context.Context) error {
	for _, url := range c.own {
		c.dial(ctx, url) // connect outside the lock; failures show below
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var firstErr error
	for _, ct := range c.contacts {
		kept := ct.outbox[:0]
		for _, e := range ct.outbox {
			for _, url := range c.own {
				if slices.Contains(e.Done, url) {
					continue
				}
				if err := c.upload(ctx, url, e); err != nil {
					firstErr = cmp.Or(firstErr, fmt.Errorf("client: send to %s via %s: %w", ct.Name, url, err))
					continue
				}
				e.Done = append(e.Done, url)
			}
			if len(e.Done) < len(c.own) {
				kept = append(kept, e)
			}
		}
		ct.outbox = kept
	}
	if err := c.save(); err != nil {
		return err
	}
	return firstErr
}

// delivered reports whether a hub has acknowledged the message at path.
func (c *Client) delivered(ct *Contact, path string) bool {
	for _, e := range ct.outbox {
		if e.Path == path {
			return len(e.Done) > 0
		}
	}
	return true // not in the outbox: every hub has it
}

// upload puts e on the hub at url; the caller holds c.mu.
func (c *Client) upload(ctx context.Context, url string, e outboxEntry) error {
	h := c.hubs[url]
	if h == nil {
		return fmt.Errorf("hub %s is unreachable", url)
	}
	_, err := h.Put(ctx, e.Path, e.Blob, "application/octet-stream", hubclient.Cond{IfNoneMatch: true})
	if errors.Is(err, hub.ErrPrecondition) {
		sum := md5.Sum(e.Blob)
		_, etag, gerr := h.Get(ctx, c.Address(), e.Path)
		if gerr == nil && etag == hex.EncodeToString(sum[:]) {
			return nil // uploaded before a crash
		}
		return fmt.Errorf("another blob occupies %s", e.Path)
	}
	return err
}

// History returns the messages received and sent, oldest first.
func (c *Client) History() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Message(nil), c.history...)
}
