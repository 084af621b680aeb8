package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/cli"
	"github.com/parley-im/parley/internal/homedir"
	"github.com/parley-im/parley/internal/screen"
)

// Every command is a call (or a few) on the home's agent API (package
// api). With an agent running (parley daemon, or a chat or watch), the
// command talks to it over the home's socket and opens nothing itself:
// not the keystore, not the chain, not the state. With none, it serves
// itself: it takes the home's lock and runs the agent's handler in memory
// for as long as it runs. Either way the same handler answers.

// home is what a command knows of its home and of the agent that serves
// it.
type home struct {
	dir      string
	stderr   *screen.Writer
	root     *cobra.Command  // for --verbose
	debugEnv bool            // PARLEY_DEBUG is set
	said     map[string]bool // notes printed (each once)
	// ask asks the person for a secret (nil: on the terminal, askTerminal).
	ask   func(prompt string) ([]byte, error)
	stdin io.Reader
	cmd   string // the command, for a process waiting for the lock
	clock clock  // when now is, and the zone times are shown in
	// webNow is the clock of parley web's sessions (nil: the system's).
	webNow func() time.Time

	conn   *api.Client   // the agent's API, once connected
	lock   *homedir.Lock // the home's lock, when this process holds it
	stop   func()        // stops a daemon this process runs
	after  []*api.Note   // notes shown once the command succeeded
	attach bool          // this command was served by another process's agent
	// core is what only the full build has: the agent this process runs,
	// and the options it runs it with (home_core.go; the front-end,
	// home_front.go, runs none).
	core coreHome
	// progress, if set, hears every progress report of the calls (a
	// command that prints its stages).
	progress func(*api.Progress)
	barAt    int // the percentage the progress bar shows (-1: none yet)
	// lockWait is how long a command waits for another process on the home.
	lockWait time.Duration
}

// defaultLockWait is how long a command waits for another parley process
// that uses the same home, serves no API, and holds its lock (another
// command serving itself).
const defaultLockWait = 10 * time.Second

// socketWait bounds how long a command waits for an agent's socket to
// answer (it answers within a few milliseconds on any machine).
const socketWait = 3 * time.Second

// dial returns a client of the home's agent if one answers on its socket
// (never in a home others can change: private).
func (h *home) dial(ctx context.Context) *api.Client {
	if homedir.CheckPrivate(h.dir) != nil {
		return nil
	}
	path := homedir.SocketPath(h.dir)
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	c := api.NewUnix(path)
	cctx, cancel := context.WithTimeout(ctx, socketWait)
	defer cancel()
	if _, err := c.Agent(cctx); err != nil {
		c.Close()
		return nil
	}
	c.OnNote, c.OnProgress = h.onNote, h.onProgress
	return c
}

// api connects for an ordinary command.
func (h *home) api(ctx context.Context) (*api.Client, error) {
	return h.connect(ctx, api.ModeCommand, false)
}

// release ends what this process runs: its agent (the backup follows the
// command's changes; notes of that are shown), the lock.
func (h *home) release(ctx context.Context) {
	if h.stop != nil {
		h.stop()
		h.stop = nil
	}
	h.closeLocal(ctx)
	if h.conn != nil {
		h.conn.Close()
	}
	h.lock.Release()
	h.lock = nil
}

// onNote shows a note of the agent: at once, or (After) once the command
// succeeded.
func (h *home) onNote(n *api.Note) {
	if n.After {
		h.after = append(h.after, n)
		return
	}
	h.sayNote(n)
}

// sayNote prints a note as errors are presented: "parley: CONTEXT: what",
// then its hint; each once.
func (h *home) sayNote(n *api.Note) {
	what := n.Message
	if n.Context != "" {
		what = n.Context + ": " + what
	}
	if h.said[what+n.Hint] {
		return // said once is enough (a queued message, and the send that queued another)
	}
	if h.said == nil {
		h.said = map[string]bool{}
	}
	h.said[what+n.Hint] = true
	screen.Printf(h.stderr, "parley: %s\n", what)
	if n.Hint != "" {
		screen.Printf(h.stderr, "parley: hint: %s\n", n.Hint)
	}
	if h.verbose() && n.Detail != "" {
		screen.Printf(h.stderr, "parley: detail: %s\n", n.Detail)
	}
}

// warn prints a problem that does not stop the command, as errors are
// presented.
func (h *home) warn(context string, err error) {
	what, hint := h.explain(err)
	if what == "" {
		what = cli.Plain(err)
	}
	n := &api.Note{Message: what, Hint: hint, Context: context}
	if d := err.Error(); d != what {
		n.Detail = d
	}
	h.sayNote(n)
}

// onProgress draws a transfer's progress on stderr (a terminal only) and
// says the stages of a registration.
func (h *home) onProgress(p *api.Progress) {
	switch p.Stage {
	case "chain_wait":
		screen.Printf(h.stderr, "parley: chain %s has no block yet: waiting for its first one\n", p.Name)
	case "send", "receive":
		h.bar(p.Stage, p.Done, p.Total)
	}
	if h.progress != nil {
		h.progress(p)
	}
}

// passphrase comes from PARLEY_PASSPHRASE or the terminal, never a flag.
func (h *home) passphrase(prompt string) ([]byte, error) {
	return h.readSecret("PARLEY_PASSPHRASE", prompt)
}

// newPassphrase reads a new passphrase from the environment variable env
// or else the terminal, where it is asked twice (the agent refuses a weak
// one: keystore.CheckPassphrase, the same rule for the keystore and the
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
	return p, nil
}

// errPassphrasesDiffer: the two typings of a new passphrase differ.
var errPassphrasesDiffer = errors.New("the two passphrases you typed differ; nothing was changed")

// secretEnv reports whether the environment variable name carries one of
// Parley's secrets (a passphrase or the recovery phrase, as scripts give
// them): childEnv keeps it from every program parley runs.
func secretEnv(name string) bool {
	switch name {
	case "PARLEY_PASSPHRASE", "PARLEY_NEW_PASSPHRASE", "PARLEY_BACKUP_PASSPHRASE", phraseEnv:
		return true
	}
	return false
}

// childEnv is the environment of a program parley runs (a watch --exec
// command, the browser xdg-open starts): this process's, without its
// secrets (secretEnv), then extra. A program so started, and all it
// starts in turn (a browser's every process), would otherwise hold the
// passphrase.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); !secretEnv(name) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

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

// abs is path made absolute against this process's directory: the
// agent may run elsewhere.
func abs(path string) (string, error) {
	p, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// keystoreExists reports whether the home holds an identity.
func (h *home) keystoreExists() bool {
	_, err := os.Stat(filepath.Join(h.dir, "keystore"))
	return err == nil
}

// bar draws a transfer's progress on stderr, one redraw per percent, if
// stderr is a terminal (else nothing: a log gets no bar).
func (h *home) bar(stage string, done, total int64) {
	if !h.stderr.Terminal() {
		return
	}
	label := map[string]string{"send": "sending", "receive": "receiving"}[stage]
	pct := 100
	if total > 0 {
		pct = int(done * 100 / total)
	}
	if pct == h.barAt {
		return
	}
	h.barAt = pct
	bar := strings.Repeat("=", pct/4) + strings.Repeat(" ", 25-pct/4)
	h.stderr.Control("\r")
	screen.Printf(h.stderr, "%s [%s] %3d%% %s / %s", label, bar, pct, size(done), size(total))
	if done == total {
		screen.Println(h.stderr)
	}
}

// errExists: the home holds an identity already.
func errExists(h *home) error { return fmt.Errorf("%s already holds an identity", h.dir) }

// errNoIdentity: the home holds no identity yet.
func errNoIdentity(h *home) error {
	return fmt.Errorf("no identity in %s: run 'parley --home %s init --node URL' first", h.dir, h.dir)
}

// verbose reports whether errors are shown in full (--verbose, or
// PARLEY_DEBUG set).
func (h *home) verbose() bool {
	if h.root != nil {
		if f := h.root.PersistentFlags().Lookup("verbose"); f != nil && f.Value.String() == "true" {
			return true
		}
	}
	return h.debugEnv
}
