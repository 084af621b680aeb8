package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/internal/screen"
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
}

// lightDir is the home's directory of verified headers (lookup's store).
const lightDir = "light"

// pendingRegistration is home/register.json: a preorder made but not yet
// revealed, so an interrupted register resumes.
type pendingRegistration struct {
	Name           string `json:"name"`
	Hub            string `json:"hub"`
	Salt           string `json:"salt"`
	PreorderHeight int64  `json:"preorder_height"`
}

type home struct {
	dir      string
	stderr   *screen.Writer
	root     *cobra.Command  // for --verbose
	debugEnv bool            // PARLEY_DEBUG is set
	said     map[string]bool // warnings printed (each once)
	// ask asks the person for a secret (nil: on the terminal, askTerminal).
	ask        func(prompt string) ([]byte, error)
	stdin      io.Reader
	cfg        config
	id         *keystore.Identity
	dir2       *lookup.Client  // the verified directory, once opened
	lazy       *chainDir       // opens it on first use (h.chain)
	c          *client.Client  // the client a command opened
	lock       *os.File        // the home's lock, once taken
	cmd        string          // the command, for a process waiting for the lock
	clock      clock           // when now is, and the zone times are shown in
	lockWait   time.Duration   // how long a command waits for another process on the home
	clientOpts []client.Option // for every client opened or restored
}

// defaultLockWait is how long a command waits for another parley process
// that uses the same home.
const defaultLockWait = 10 * time.Second

// lockHome takes the home's lock for the rest of the command: two parley
// processes working on one home would each move ratchets on from the
// same state, and one's messages would be lost. A command waits up to
// h.lockWait for another to finish, saying so, then gives up saying which.
func (h *home) lockHome(ctx context.Context) error {
	return h.takeLock(ctx, h.lockWait)
}

// tryLock takes the home's lock if no other process holds it, without
// waiting, and reports whether this process holds it now.
func (h *home) tryLock(ctx context.Context) bool {
	if _, err := os.Stat(h.path("keystore")); err != nil {
		return false // no home here: make none
	}
	return h.takeLock(ctx, 0) == nil
}

// takeLock is lockHome waiting up to wait.
func (h *home) takeLock(ctx context.Context, wait time.Duration) error {
	if h.lock != nil {
		return nil
	}
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(h.path("lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(wait)
	for said := false; ; said = true {
		busy, err := flock(f)
		if err != nil {
			f.Close()
			return fmt.Errorf("locking %s: %w", h.dir, err)
		}
		if !busy {
			break
		}
		holder, _ := os.ReadFile(h.path("lock"))
		if wait == 0 {
			f.Close()
			return errHomeBusy
		}
		if time.Now().After(deadline) {
			f.Close()
			return fmt.Errorf("another parley process is using %s (%s): stop it first (a running chat can send, too)", h.dir, strings.TrimSpace(string(holder)))
		}
		if !said {
			screen.Printf(h.stderr, "parley: waiting for another parley process using %s (%s)\n", h.dir, strings.TrimSpace(string(holder)))
		}
		select {
		case <-ctx.Done():
			f.Close()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	f.Truncate(0)
	f.WriteAt([]byte(fmt.Sprintf("pid %d, %s\n", os.Getpid(), h.cmd)), 0) // the command, never its arguments
	h.lock = f
	return nil
}

// errHomeBusy: another process holds the home's lock (tryLock).
var errHomeBusy = errors.New("another parley process is using the home")

// release closes the chain's header store and lets another parley
// process have the home.
func (h *home) release() {
	if h.dir2 != nil {
		h.dir2.Close()
		h.dir2 = nil
	}
	if h.lock != nil {
		h.lock.Truncate(0) // at rest the lock says nothing of what ran last
		h.lock.Close()
		h.lock = nil
	}
}

func (h *home) path(name string) string { return filepath.Join(h.dir, name) }

func (h *home) loadConfig() error {
	b, err := os.ReadFile(h.path("config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no identity in %s: run 'parley --home %s init --node URL' first", h.dir, h.dir)
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(b, &h.cfg)
}

func (h *home) saveConfig() error {
	b, _ := json.MarshalIndent(h.cfg, "", "  ")
	return keystore.WriteFileAtomic(h.path("config.json"), append(b, '\n'))
}

// passphrase comes from PARLEY_PASSPHRASE or the terminal, never a flag.
func (h *home) passphrase(prompt string) ([]byte, error) {
	return h.readSecret("PARLEY_PASSPHRASE", prompt)
}

// newPassphrase reads a new passphrase from the environment variable env
// or else the terminal, where it is asked twice, and refuses a weak one
// (keystore.CheckPassphrase: the same rule for the keystore and the
// backup).
func (h *home) newPassphrase(env, prompt string) ([]byte, error) {
	p, err := h.readSecret(env, prompt)
	if err != nil {
		return nil, err
	}
	if os.Getenv(env) == "" {
		again, err := h.readSecret(env, "again: ")
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare(p, again) != 1 {
			return nil, errPassphrasesDiffer
		}
	}
	if err := keystore.CheckPassphrase(p); err != nil {
		return nil, err
	}
	return p, nil
}

// errPassphrasesDiffer: the two typings of a new passphrase differ.
var errPassphrasesDiffer = errors.New("the two passphrases you typed differ; nothing was changed")

// readSecret reads a secret from the environment variable env, or else
// asks for it (h.ask: the terminal).
func (h *home) readSecret(env, prompt string) ([]byte, error) {
	if p := os.Getenv(env); p != "" {
		return []byte(p), nil
	}
	ask := h.ask
	if ask == nil {
		ask = askTerminal
	}
	p, err := ask(prompt)
	if err != nil {
		return nil, fmt.Errorf("%w (or set %s)", err, env)
	}
	if len(p) == 0 {
		return nil, errors.New("empty passphrase")
	}
	return p, nil
}

// askTerminal asks for a secret on the terminal, without echo.
func askTerminal(prompt string) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, errors.New("no terminal to ask for it")
	}
	defer tty.Close()
	screen.Printf(tty, "%s", prompt)
	p, err := term.ReadPassword(int(tty.Fd()))
	screen.Println(tty)
	return p, err
}

// saveKeystore seals id under pass into the home's keystore; kdfMemory,
// if not 0, lowers Argon2id's cost (tests only).
func (h *home) saveKeystore(id *keystore.Identity, pass []byte, kdfMemory uint32) error {
	kdf := keystore.DefaultKDF
	if kdfMemory != 0 {
		kdf.Memory, kdf.Time = kdfMemory, 1
	}
	return keystore.Save(h.path("keystore"), id, pass, kdf)
}

func (h *home) unlock() error {
	if err := h.loadConfig(); err != nil {
		return err
	}
	pass, err := h.passphrase("passphrase: ")
	if err != nil {
		return err
	}
	h.id, err = keystore.Load(h.path("keystore"), pass)
	return err
}

// safetyNumber is the safety number of the home's user and rec (from
// this device's keys, so it asks for the passphrase), or "" when the home
// has no registered name or no passphrase can be had (said on stderr).
func (h *home) safetyNumber(rec *bns.Record) (string, error) {
	if h.cfg.Name == "" {
		return "", nil
	}
	if h.id == nil {
		pass, err := h.passphrase("passphrase (for the safety number): ")
		if err != nil {
			h.warn("the safety number needs your keys", err)
			return "", nil
		}
		if h.id, err = keystore.Load(h.path("keystore"), pass); err != nil {
			return "", err
		}
	}
	own, err := h.id.Profile(nil)
	if err != nil {
		return "", err
	}
	return wire.SafetyNumber(h.cfg.Name, own, rec.Name, rec.Profile), nil
}

// lookupConfig is the light client's configuration from config.json. A
// process that holds the home's lock keeps the verified headers in the
// home (lightDir), and so verifies forward from the newest of them
// however long the device was off; one that does not (whois while a
// watch runs) verifies from the trust root, in memory.
func (h *home) lookupConfig() (lookup.Config, error) {
	hash, err := lookup.ParseHash(h.cfg.TrustHash)
	if err != nil {
		return lookup.Config{}, err
	}
	lc := lookup.Config{ChainID: h.cfg.ChainID, Primary: h.cfg.Node, Witnesses: h.cfg.Witnesses,
		TrustHeight: h.cfg.TrustHeight, TrustHash: hash}
	if h.cfg.TrustPeriod != "" {
		if lc.TrustPeriod, err = time.ParseDuration(h.cfg.TrustPeriod); err != nil || lc.TrustPeriod <= 0 {
			return lookup.Config{}, fmt.Errorf("%s: trust_period %q is not a duration such as 168h", h.path("config.json"), h.cfg.TrustPeriod)
		}
	}
	if h.lock != nil {
		lc.StoreDir = h.path(lightDir)
	}
	return lc, nil
}

// directory opens the verified directory (from the newest header it
// verified before, or the trust root) and moves the trust root in
// config.json forward to the newest verified header.
func (h *home) directory(ctx context.Context) (*lookup.Client, error) {
	lc, err := h.lookupConfig()
	if err != nil {
		return nil, err
	}
	d, err := lookup.New(ctx, lc)
	if err != nil {
		return nil, err
	}
	if lb, err := d.Latest(ctx); err == nil && h.lock != nil {
		h.cfg.TrustHeight, h.cfg.TrustHash = lb.Height, lookup.HashString(lb.Hash())
		h.saveConfig()
	}
	h.dir2 = d
	return d, nil
}

// client opens the messenger state of a registered user.
func (h *home) client(ctx context.Context) (*client.Client, error) {
	if h.c != nil {
		return h.c, nil
	}
	if err := h.unlock(); err != nil {
		return nil, err
	}
	if h.cfg.Name == "" {
		return nil, errors.New("no name registered yet: run 'parley register NAME --hub URL'")
	}
	if h.lazy == nil {
		h.lazy = &chainDir{h: h}
	}
	// The chain is asked when something needs it; down, the client goes
	// on with what the device holds.
	c, err := client.Open(ctx, h.cfg.Name, h.id, h.lazy, h.cfg.Hub, h.path("state"), append([]client.Option{client.WithClock(h.clock.Now)}, h.clientOpts...)...)
	if err != nil {
		return nil, err
	}
	h.c = c
	if err := quiet(c.Flush(ctx)); err != nil {
		h.warn("", fmt.Errorf("%w (no hub took it yet: %w)", client.ErrQueued, err))
	}
	if err := quiet(c.Expire(ctx)); err != nil {
		h.warn("expiring messages", err)
	}
	return c, nil
}

func randomSalt() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// run makes a command's RunE that first opens the user's client.
func (h *home) run(f func(cmd *cobra.Command, c *client.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := h.client(cmd.Context())
		if err != nil {
			return err
		}
		return f(cmd, c, args)
	}
}

// runOnOff is run for a setting whose one argument is on or off, checked
// before the client opens (and asks for the passphrase).
func (h *home) runOnOff(f func(cmd *cobra.Command, c *client.Client, on bool) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		on, err := parseOnOff(args[0])
		if err != nil {
			return err
		}
		return h.run(func(cmd *cobra.Command, c *client.Client, _ []string) error { return f(cmd, c, on) })(cmd, args)
	}
}
