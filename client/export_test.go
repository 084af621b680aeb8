package client

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"github.com/parley-im/parley/chain/bns"
	"slices"
	"testing"
	"time"

	"github.com/parley-im/parley/client/group"
	"github.com/parley-im/parley/client/store"
	"github.com/parley-im/parley/client/wire"
)

// WithWriteFile has Open's client write its state file with fn (a disk
// that hangs or fails).
func WithWriteFile(fn func(path string, data []byte) error) Option {
	return func(c *Client) { c.writeFile = fn }
}

// BackupOn reports whether c's backup is on.
func BackupOn(c *Client) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.backup != nil
}

// Configure applies opts to c, a client made by a test's world helper:
// before c is used by anything else (no Watch of c's runs yet).
func Configure(c *Client, opts ...Option) { c.with(opts) }

// GroupVerifier returns the public key c checks member's newest messages
// in group id with (c's own signing key for the epoch if member is c).
func GroupVerifier(c *Client, id, member string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.book.Groups[id]
	if g == nil {
		return nil
	}
	k := g.Latest(member)
	if k == nil {
		return nil
	}
	return k.Verifier(nil)
}

// Followed reports whether a watch of c's would follow name on some hub.
func Followed(c *Client, name string) bool {
	for _, names := range c.watchPlan() {
		if slices.Contains(names, name) {
			return true
		}
	}
	return false
}

// UseBackupV1 turns c's backup on as a client from before backup v2 did
// (a keystore file under passphrase, comments and all, at the v1 path),
// and returns that path.
func UseBackupV1(t testing.TB, c *Client, passphrase []byte) string {
	ks, err := c.id.Seal(passphrase, c.backupKDF, c.now())
	if err != nil {
		t.Fatal(err)
	}
	path := backupPathV1(c.Name, passphrase, c.backupKDF)
	c.mu.Lock()
	c.backup = &backupConfig{Path: path, Keystore: ks}
	err = c.saveUnlock()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// PostQuantum reports whether the newest ratchet step of c's conversation
// with name mixed in an ML-KEM secret (nil error only for a contact).
func PostQuantum(c *Client, name string) (bool, error) {
	ct, err := c.contact(name)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return ct.ratchet.PostQuantum(), nil
}

// RestartLink has c start its group link with name over, as a device
// restored from a backup older than the link does.
func RestartLink(t testing.TB, c *Client, name string) {
	c.mu.Lock()
	l := c.links[name]
	c.mu.Unlock()
	if l == nil {
		t.Fatalf("%s has no link with %s", c.Name, name)
	}
	if _, err := c.writeLink(context.Background(), l.Record, l); err != nil {
		t.Fatal(err)
	}
}

// LinkKey returns the mutual key of c's group link with name (zero if none).
func LinkKey(c *Client, name string) [32]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.links[name]; l != nil {
		return l.mutual
	}
	return [32]byte{}
}

// ReopenAsBeforeNumbers saves c's state as a client from before message
// numbers wrote it (no numbers in the history, no next numbers), and
// opens it again from there. c must have a state file.
func ReopenAsBeforeNumbers(ctx context.Context, c *Client) (*Client, error) {
	c.mu.Lock()
	for i := range c.history {
		c.history[i].N = 0
	}
	plain, err := c.snapshot(time.Time{}, true)
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var s map[string]any
	if err := json.Unmarshal(plain, &s); err != nil {
		return nil, err
	}
	for _, key := range []string{"contacts", "groups"} {
		list, _ := s[key].([]any)
		for _, x := range list {
			delete(x.(map[string]any), "next_number")
			delete(x.(map[string]any), "next_n")
		}
	}
	if plain, err = json.Marshal(s); err != nil {
		return nil, err
	}
	if err := store.WriteState(c.statePath, storeKeys(c.id), plain); err != nil {
		return nil, err
	}
	return Open(ctx, c.Name, c.id, c.dir, c.ownHubs()[0], c.statePath)
}

// SetNextNumber makes n the number of c's next text message to name, as
// a faulty client might.
func SetNextNumber(c *Client, name string, n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.contacts[name].nextN = n
}

// PathOf, Peek and HasGroupKeys are for tests: where a message of the
// conversation with name lives, the path of the next message expected
// from name, whether the user holds every key of group id.
func PathOf(c *Client, name string, ref wire.Ref) (string, error) { return c.pathOf(name, ref) }
func Peek(c *Client, ctx context.Context, name string) (string, error) {
	return c.peek(ctx, name)
}
func HasGroupKeys(c *Client, id string) bool { return c.hasGroupKeys(id) }

// PeekDevice is Peek for the device-pair session with name's device
// (the first session with it), and whether there is one.
func PeekDevice(c *Client, name string, device bns.PublicKey) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct := c.contacts[name]
	if ct == nil {
		return "", false
	}
	for _, s := range ct.devs {
		if s.peer.Device == device {
			return wire.MessagePath(s.keys.RecvKey, s.nextRecv), true
		}
	}
	return "", false
}

// SessionPaths returns where c's message seq to each device of name's
// that c runs a device-pair session with lives on c's hubs.
func SessionPaths(c *Client, name string, seq uint64) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct := c.contacts[name]
	if ct == nil {
		return nil
	}
	var out []string
	for _, s := range ct.devs {
		if s.mine || s.ratchet.CanSend() {
			out = append(out, wire.MessagePath(s.keys.SendKey, seq))
		}
	}
	return out
}

// SendingKey returns the mutual key of the device-pair session c sends on
// to name's device number dev (in the record's order, 0 the first), and
// how many sessions c holds with that device.
func SendingKey(c *Client, name string, dev int) ([32]byte, int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct := c.contacts[name]
	if ct == nil {
		return [32]byte{}, 0, ErrNotContact
	}
	d := devicesOf(ct.Record)[dev]
	n := 0
	for _, s := range ct.devs {
		if s.peer.Device == d.Key {
			n++
		}
	}
	s, err := c.sessionFor(&ct.devs, name, d)
	if err != nil {
		return [32]byte{}, n, err
	}
	return s.mutual, n, nil
}

// SendUnchecked seals e in the conversation with name and sends it
// without SendEvent's checks: what a modified client can send.
func SendUnchecked(ctx context.Context, c *Client, name string, e *wire.Event) error {
	ct, err := c.contact(name)
	if err != nil {
		return err
	}
	c.refreshMine(ctx)
	c.mu.Lock()
	if _, err := c.seal(ct, e); err != nil {
		c.mu.Unlock()
		return err
	}
	if err := c.saveUnlock(); err != nil {
		return err
	}
	return c.Flush(ctx)
}

// GroupSender is how c's groups name c as a sender (group.Sender) if it is
// a device of name's other than the first.
func GroupSender(name string, c *Client) string {
	me := c.myDevice().Device
	return group.Sender(name, hex.EncodeToString(me[:]))
}

// GroupNextPath is where c expects sender's next message in group id.
func GroupNextPath(c *Client, id, sender string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.book.Groups[id]
	if g == nil {
		return "", false
	}
	seq, k := g.NextToRead(sender)
	if k == nil {
		return "", false
	}
	return wire.GroupPath(k.Seed, seq), true
}
