package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/homedir"
)

// config is home/config.json: where the chain is and whom to trust.
type config struct {
	Node        string   `json:"node"`
	Witnesses   []string `json:"witnesses,omitempty"`
	ChainID     string   `json:"chain_id"`
	TrustHeight int64    `json:"trust_height"`
	TrustHash   string   `json:"trust_hash"`
	// TrustPeriod is how old the newest header the light client verified
	// may be (a Go duration, default 168h); older, the trust root must be
	// pinned again ('parley settings trust').
	TrustPeriod string `json:"trust_period,omitempty"`
	Name        string `json:"name,omitempty"`
	Hub         string `json:"hub,omitempty"`
	// Notifications: desktop notifications of new messages (opt-in).
	Notifications bool `json:"notifications,omitempty"`
	// Linking is the link code this device offered itself with (POST
	// /v1/link) until a name takes it in (link/accept): a front-end that
	// starts again (a page reloaded) goes on waiting for it.
	Linking string `json:"linking,omitempty"`
	// LinkingAt is the height of the block that holds that offer.
	LinkingAt int64 `json:"linking_at,omitempty"`
	// SeenDevices are the signing keys of the name's devices this device
	// has shown as added ('parley devices'); any other added by another
	// device since this one joined is new (public keys, as the chain
	// lists them).
	SeenDevices []string `json:"seen_devices,omitempty"`
	// SeenHubsAt is the height of the latest move of the name's hubs by
	// another device that a front-end has shown (status's hubs_moved).
	SeenHubsAt int64 `json:"seen_hubs_at,omitempty"`
}

// Files of a home.
const (
	lightDir  = "light"          // verified headers (lookup's store)
	keystoreF = homedir.Keystore // the identity, sealed under the passphrase
	configF   = homedir.Config   // config
	stateF    = homedir.State    // the client's state (and state.history)
	registerF = "register.json"
	// SocketName is the agent's socket in the home.
	SocketName = homedir.SocketName
)

// pendingRegistration is home/register.json: a preorder made but not yet
// revealed, so an interrupted register resumes.
type pendingRegistration struct {
	Name           string `json:"name"`
	Hub            string `json:"hub"`
	Salt           string `json:"salt"`
	PreorderHeight int64  `json:"preorder_height"`
}

// The home's lock and privacy check are package homedir's (the
// command line's front-end uses them without this package); these are
// their names here.
type (
	// Lock is homedir.Lock.
	Lock = homedir.Lock
	// BusyError is homedir.BusyError.
	BusyError = homedir.BusyError
	// NotPrivateError is homedir.NotPrivateError.
	NotPrivateError = homedir.NotPrivateError
)

// ErrNotPrivate is homedir.ErrNotPrivate.
var ErrNotPrivate = homedir.ErrNotPrivate

// TryLock is homedir.TryLock.
func TryLock(dir, what string) (*Lock, error) { return homedir.TryLock(dir, what) }

// CheckPrivate is homedir.CheckPrivate.
func CheckPrivate(dir string) error { return homedir.CheckPrivate(dir) }

// home is a home directory's files.
type home struct {
	dir string
	// locked: this process holds the home's lock (the header store, the
	// config and the state are its to write).
	locked bool

	mu  sync.Mutex
	cfg config
}

func (h *home) path(name string) string { return filepath.Join(h.dir, name) }

// hasIdentity reports whether the home holds a keystore.
func (h *home) hasIdentity() bool {
	_, err := os.Stat(h.path(keystoreF))
	return err == nil
}

// errNoIdentity: the home holds no identity yet.
func (h *home) errNoIdentity() error {
	return &codedError{code: api.CodeNoIdentity, err: fmt.Errorf("no identity in %s: run 'parley --home %s init --node URL' first", h.dir, h.dir)}
}

// loadConfig reads config.json.
func (h *home) loadConfig() error {
	b, err := os.ReadFile(h.path(configF))
	if errors.Is(err, os.ErrNotExist) {
		return h.errNoIdentity()
	}
	if err != nil {
		return err
	}
	var cfg config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w", h.path(configF), err)
	}
	h.mu.Lock()
	h.cfg = cfg
	h.mu.Unlock()
	return nil
}

// config returns a copy of the configuration as loaded.
func (h *home) config() config {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.cfg
	c.Witnesses = slices.Clone(c.Witnesses)
	return c
}

// update changes the configuration with f and saves it.
func (h *home) update(f func(*config)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(&h.cfg)
	b, _ := json.MarshalIndent(h.cfg, "", "  ")
	return keystore.WriteFileAtomic(h.path(configF), append(b, '\n'))
}

// lookupConfig is the light client's configuration from cfg. A process
// that holds the home's lock keeps the verified headers in the home
// (lightDir), and so verifies forward from the newest of them however
// long the device was off; one that does not (whois while another command
// runs) verifies from the trust root, in memory.
func (h *home) lookupConfig(cfg config) (lookup.Config, error) {
	hash, err := lookup.ParseHash(cfg.TrustHash)
	if err != nil {
		return lookup.Config{}, err
	}
	lc := lookup.Config{ChainID: cfg.ChainID, Primary: cfg.Node, Witnesses: cfg.Witnesses,
		TrustHeight: cfg.TrustHeight, TrustHash: hash}
	if cfg.TrustPeriod != "" {
		if lc.TrustPeriod, err = time.ParseDuration(cfg.TrustPeriod); err != nil || lc.TrustPeriod <= 0 {
			return lookup.Config{}, fmt.Errorf("%s: trust_period %q is not a duration such as 168h", h.path(configF), cfg.TrustPeriod)
		}
	}
	if h.locked {
		lc.StoreDir = h.path(lightDir)
	}
	return lc, nil
}

// directory opens the verified directory (from the newest header it
// verified before, or the trust root) and moves the trust root in
// config.json forward to the newest verified header; maxAge, if not 0,
// is how long a verified header is used before a newer one is verified.
func (h *home) directory(ctx context.Context, maxAge time.Duration) (*lookup.Client, error) {
	lc, err := h.lookupConfig(h.config())
	if err != nil {
		return nil, err
	}
	lc.MaxAge = maxAge
	d, err := lookup.New(ctx, lc)
	if err != nil {
		return nil, err
	}
	if lb, err := d.Latest(ctx); err == nil && h.locked {
		h.update(func(c *config) { c.TrustHeight, c.TrustHash = lb.Height, lookup.HashString(lb.Hash()) })
	}
	return d, nil
}

// offline makes a chain that does not answer a *client.OfflineError
// naming the node this device asks.
func (h *home) offline(err error) error {
	if !errors.Is(err, lookup.ErrUnreachable) || client.IsOffline(err) {
		return err
	}
	cfg := h.config()
	what := "chain node " + cfg.Node
	if len(cfg.Witnesses) > 0 {
		what += " (and its witnesses)"
	}
	// A node this device does not use (settings node URL) is named itself.
	if ue := (*url.Error)(nil); errors.As(err, &ue) && !slices.ContainsFunc(append([]string{cfg.Node}, cfg.Witnesses...),
		func(n string) bool { return origin(n) == origin(ue.URL) }) {
		what = "chain node " + origin(ue.URL)
	}
	return &client.OfflineError{What: what, Err: err}
}

// chainDir is the client's Directory: chain/lookup's verified lookups,
// connected on first use, so that a call that needs no record never
// waits for the chain. A chain that does not answer is a
// *client.OfflineError (the client then uses the records it holds), and
// is not asked again for chainRetry.
type chainDir struct {
	h      *home
	maxAge time.Duration

	mu     sync.Mutex
	d      *lookup.Client
	err    error     // why it did not open
	failed time.Time // when
	// onChange, if set, hears whether the chain answers, when it changes.
	onChange func(up bool, err error)
	up       *bool
}

// chainRetry is how long a chain that did not answer is not asked again.
const chainRetry = 30 * time.Second

// open returns the verified directory, connecting on first use.
func (c *chainDir) open(ctx context.Context) (*lookup.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.d != nil {
		return c.d, nil
	}
	if c.err != nil && time.Since(c.failed) < chainRetry {
		return nil, c.err
	}
	d, err := c.h.directory(ctx, c.maxAge)
	if err != nil {
		c.err, c.failed = c.h.offline(err), time.Now()
		c.seen(c.err)
		return nil, c.err
	}
	c.d, c.err = d, nil
	return d, nil
}

// seen reports err (nil: an answer) to onChange when the chain's state
// changes; the caller holds c.mu.
func (c *chainDir) seen(err error) {
	if err != nil && !client.IsOffline(err) {
		return
	}
	up := err == nil
	if c.up != nil && *c.up == up {
		return
	}
	c.up = &up
	if c.onChange != nil {
		c.onChange(up, err)
	}
}

// note records how a call to the chain went.
func (c *chainDir) note(err error) error {
	err = c.h.offline(err)
	c.mu.Lock()
	c.seen(err)
	c.mu.Unlock()
	return err
}

// Lookup implements client.Directory.
func (c *chainDir) Lookup(ctx context.Context, name string) (*bns.Record, error) {
	d, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := d.Lookup(ctx, name)
	return rec, c.note(err)
}

// History gives the client the reason of a key change.
func (c *chainDir) History(ctx context.Context, name string) (*bns.Record, []*bns.HistoryEntry, error) {
	d, err := c.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	rec, hist, err := d.History(ctx, name)
	return rec, hist, c.note(err)
}

// Height tells the client which verified height its answers are for.
func (c *chainDir) Height(ctx context.Context) (int64, error) {
	d, err := c.open(ctx)
	if err != nil {
		return 0, err
	}
	h, err := d.Height(ctx)
	return h, c.note(err)
}

// Params gives the client the chain's grace period: a contact's name that
// expired and whose grace period is over is free, and nothing is sent to
// it.
func (c *chainDir) Params(ctx context.Context) (bns.Params, error) {
	d, err := c.open(ctx)
	if err != nil {
		return bns.Params{}, err
	}
	p, err := d.Params(ctx)
	return p, c.note(err)
}

// close closes the header store.
func (c *chainDir) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.d != nil {
		c.d.Close()
		c.d = nil
	}
}

// swap closes the directory and runs change, which may open the header
// store itself (to check a new node or trust root) and change the
// configuration; no lookup opens the store meanwhile (it would hold the
// store's lock, and change could not open it). The directory opens again
// from the configuration on its next use.
func (c *chainDir) swap(change func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.d != nil {
		c.d.Close()
	}
	c.d, c.err = nil, nil
	return change()
}

// origin is a URL's scheme and host: what a person recognises of it.
func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return strings.TrimSpace(u)
	}
	return p.Scheme + "://" + p.Host
}
