// Package agent is Parley's client as a process: it holds one home's
// keys, state and connections, and serves everything the CLI, the chat
// and scripts do as a local JSON API (package api). A command that finds
// no agent serves itself: it takes the home's lock and runs the same
// handler in memory for as long as it runs (Mode "command"); a daemon
// (parley daemon, and the chat or watch when none runs) serves it on a
// Unix socket in the home and does continuously what commands did only
// when run (duties.go): it follows the hubs, flushes the outbox, runs
// disappearing-message timers, refreshes records and keeps the backup.
//
// The agent never sends a secret out: the passphrase and backup
// passphrase come in (unlock, init, restore, backup on, passphrase),
// and no answer type has a field that could carry a key (api's types are
// the agent's own, never the client's). Everything anyone else wrote is
// passed on as data; rendering it safely is the front-end's part (the CLI
// through internal/screen).
//
// The agent does not print; it logs through slog (a daemon to stderr).
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/cli"
)

// Modes of an agent.
const (
	// ModeCommand: in-process for one command, no socket, no duties; the
	// client is opened on the first call that needs it (asking for the
	// passphrase then), flushed and expired then, backed up at Close.
	ModeCommand = api.ModeCommand
	// ModeDaemon: the home's socket and the duties.
	ModeDaemon = api.ModeDaemon
)

// Options configure an Agent.
type Options struct {
	// Home is the home directory.
	Home string
	// Mode is ModeCommand or ModeDaemon.
	Mode string
	// Lock is the home's lock, held by the caller and handed over (nil: a
	// command that works without it, such as whois while another process
	// holds the home: it writes nothing of the home's).
	Lock *Lock
	// Ask asks the person for a secret (the terminal); nil: the keys are
	// unlocked only by Unlock or POST /v1/unlock.
	Ask func(prompt string) ([]byte, error)
	// Now is the clock messages are stamped with (nil: time.Now).
	Now func() time.Time
	// Logger logs the daemon's work (nil: nothing).
	Logger *slog.Logger
	// ClientOptions are passed to the client when it opens (tests: the
	// watch's timings, an HTTP client).
	ClientOptions []client.Option
	// KeystoreKDF is the Argon2id cost keystores are sealed at (nil:
	// keystore.DefaultKDF; tests make it cheap). It is not in the API:
	// no caller may weaken it.
	KeystoreKDF *keystore.KDF
	// KeyMaxAge is how long a verified chain header is used before a newer
	// one is verified: a contact's record a send is checked against is
	// never older than this (0: 10 s for a daemon, 1 s for a command).
	KeyMaxAge time.Duration
	// Notifier shows desktop notifications (nil: none).
	Notifier Notifier
	// EventBuffer is how many events the stream keeps for resuming (0:
	// 1024).
	EventBuffer int
	// AllowUID, if not nil, is the user whose processes may use the
	// socket (nil: the agent's own user; tests inject another).
	AllowUID *int
	// Limits bound what a caller of the socket can hold (zero fields:
	// the defaults).
	Limits Limits
}

// Limits bound the socket's callers: a caller that sends slowly or stops
// reading holds a connection (one of MaxConns) for at most these.
type Limits struct {
	// Header bounds the reading of a request's header (0: 5 s).
	Header time.Duration
	// Body bounds the reading of a request's header and body together
	// (0: 30 s); the call itself may then run for as long as it needs
	// (a registration waits for blocks, a file goes out).
	Body time.Duration
	// Write bounds each write of an answer or event (0: 10 s): a caller
	// that stops reading is dropped then.
	Write time.Duration
	// Conns bounds the connections served at once (0: 128); one more is
	// closed at once.
	Conns int
	// Streams bounds the event streams served at once (0: 64).
	Streams int
}

// withDefaults fills l's zero fields.
func (l Limits) withDefaults() Limits {
	if l.Header <= 0 {
		l.Header = 5 * time.Second
	}
	if l.Body <= 0 {
		l.Body = 30 * time.Second
	}
	if l.Write <= 0 {
		l.Write = 10 * time.Second
	}
	if l.Conns <= 0 {
		l.Conns = 128
	}
	if l.Streams <= 0 {
		l.Streams = 64
	}
	return l
}

// Agent serves one home's API. Its methods are safe for concurrent use.
type Agent struct {
	opts    Options
	home    *home
	log     *slog.Logger
	started time.Time
	mux     *http.ServeMux
	// patterns are the calls served ("GET /v1/agent"), for the test that
	// docs/api.md documents each.
	patterns []string
	events   *eventLog
	chain    *chainDir

	openMu sync.Mutex // one opening of the client at a time
	// keystoreMu: one call that writes the keystore at a time (init,
	// restore, recover, link, passphrase), each checking what it relies on
	// under it: the home still empty, the current passphrase still
	// opening it. Two at once each wrote over the other's keystore while
	// both answered success.
	keystoreMu sync.Mutex
	mu         sync.Mutex
	id         *keystore.Identity
	c          *client.Client
	closed     bool

	receiptsMu sync.Mutex
	receipts   map[client.Conv]receiptCache // what each contact last said it has, for states without a network call
	health     *health
	records    *recordCache
	duties     context.CancelFunc // stops the duties (daemon)
	dutiesDone chan struct{}
	allowUID   int // the user whose processes may call (peer.go)

	streamsMu sync.Mutex
	streams   int // event streams served now
}

// New makes an agent for opts.Home; it opens nothing yet.
func New(opts Options) *Agent {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Mode == "" {
		opts.Mode = ModeCommand
	}
	if opts.KeyMaxAge == 0 {
		opts.KeyMaxAge = time.Second
		if opts.Mode == ModeDaemon {
			opts.KeyMaxAge = 10 * time.Second
		}
	}
	opts.Limits = opts.Limits.withDefaults()
	log := opts.Logger
	if log == nil {
		log = slog.New(discard{})
	}
	a := &Agent{opts: opts, home: &home{dir: opts.Home, locked: opts.Lock != nil}, log: log, started: time.Now(),
		events: newEventLog(opts.EventBuffer), receipts: map[client.Conv]receiptCache{}, health: newHealth(), records: newRecordCache(maxRecords)}
	a.chain = &chainDir{h: a.home, maxAge: opts.KeyMaxAge, onChange: a.chainChanged}
	a.health.changed = a.hubChanged
	a.allowUID = os.Getuid()
	if opts.AllowUID != nil {
		a.allowUID = *opts.AllowUID
	}
	a.home.loadConfig() // none yet: init makes it
	a.routes()
	a.publish(api.Event{Type: api.EventStarted})
	return a
}

// Handler is the API.
func (a *Agent) Handler() http.Handler { return a }

// Mode is the agent's mode.
func (a *Agent) Mode() string { return a.opts.Mode }

// Home is the home directory.
func (a *Agent) Home() string { return a.home.dir }

// Unlock opens the keystore with passphrase, and in a daemon opens the
// client and starts the duties.
func (a *Agent) Unlock(ctx context.Context, passphrase []byte) error {
	if !a.home.hasIdentity() {
		return a.home.errNoIdentity()
	}
	id, err := keystore.Load(a.home.path(keystoreF), passphrase)
	if err != nil {
		return err
	}
	a.mu.Lock()
	wasLocked := a.id == nil
	a.id = id
	a.mu.Unlock()
	if wasLocked {
		a.publish(api.Event{Type: api.EventUnlocked})
	}
	return a.Start(ctx)
}

// Start opens a daemon's client and starts its duties, once its keys are
// unlocked and its name registered (else it does nothing: unlock and
// register start them).
func (a *Agent) Start(ctx context.Context) error {
	if a.opts.Mode != ModeDaemon || a.Locked() || a.home.config().Name == "" {
		return nil
	}
	if _, err := a.client(ctx, nil); err != nil {
		return err
	}
	a.startDuties()
	return nil
}

// Explain is err as the API carries it (an *api.Error; nil for nil).
func (a *Agent) Explain(err error) error {
	if e := a.apiError(err); e != nil {
		return e
	}
	return nil
}

// Locked reports whether the keys are not unlocked yet.
func (a *Agent) Locked() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id == nil
}

// identity returns the user's keys, asking for the passphrase with
// prompt (Options.Ask) if they are not unlocked yet; a daemon without
// them answers CodeLocked.
func (a *Agent) identity(prompt string) (*keystore.Identity, error) {
	a.mu.Lock()
	id := a.id
	a.mu.Unlock()
	if id != nil {
		return id, nil
	}
	if !a.home.hasIdentity() {
		return nil, a.home.errNoIdentity()
	}
	if a.opts.Ask == nil {
		return nil, coded(api.CodeLocked, errors.New("the agent's keys are locked"), "unlock them: POST /v1/unlock with the passphrase, or start the agent with PARLEY_PASSPHRASE or on a terminal")
	}
	pass, err := a.opts.Ask(prompt)
	if err != nil {
		return nil, err
	}
	id, err = keystore.Load(a.home.path(keystoreF), pass)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.id = id
	a.mu.Unlock()
	return id, nil
}

// client returns the user's client, opening it on first use: the keys
// (asking for the passphrase if need be), the state, then, as every
// command did, what waits goes out and what expired goes (notes on k, if
// not nil).
func (a *Agent) client(ctx context.Context, k *call) (*client.Client, error) {
	a.openMu.Lock()
	defer a.openMu.Unlock()
	a.mu.Lock()
	c, closed := a.c, a.closed
	a.mu.Unlock()
	if closed {
		return nil, coded(api.CodeCanceled, errors.New("the agent is stopping"), "")
	}
	if c != nil {
		return c, nil
	}
	if err := a.home.loadConfig(); err != nil {
		return nil, err
	}
	id, err := a.identity("passphrase: ")
	if err != nil {
		return nil, err
	}
	cfg := a.home.config()
	if cfg.Name == "" {
		return nil, coded(api.CodeNoName, errors.New("no name registered yet: run 'parley register NAME --hub URL'"), "")
	}
	// The chain is asked when something needs it; down, the client goes
	// on with what the device holds.
	opts := append([]client.Option{client.WithClock(a.opts.Now), client.WithHTTPClient(a.httpClient())}, a.opts.ClientOptions...)
	c, err = client.Open(ctx, cfg.Name, id, a.chain, cfg.Hub, a.home.path(stateF), opts...)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.c = c
	a.mu.Unlock()
	if err := quiet(c.Flush(ctx)); err != nil && k != nil {
		k.warn("", fmt.Errorf("%w (no hub took it yet: %w)", client.ErrQueued, err))
	}
	if err := quiet(c.Expire(ctx)); err != nil && k != nil {
		k.warn("expiring messages", err)
	}
	if err := quiet(c.TakeOnContacts(ctx)); err != nil && k != nil { // contacts the user's other devices made meanwhile
		k.warn("reading your other devices", err)
	}
	return c, nil
}

// opened returns the client if it is open (nil otherwise), opening
// nothing.
func (a *Agent) opened() *client.Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.c
}

// Close ends the agent: the duties stop, the event streams end, the
// backup follows the last change (a command's; the daemon's duties kept
// it current) and the chain's header store closes. The lock stays the
// caller's to release. It returns the notes a command shows after its
// output.
func (a *Agent) Close(ctx context.Context) []*api.Note {
	a.stopDuties()
	a.events.close()
	a.mu.Lock()
	c := a.c
	a.closed = true
	a.mu.Unlock()
	var notes []*api.Note
	if c != nil {
		if err := quiet(c.Backup(ctx)); err != nil {
			notes = append(notes, a.note("backup not updated", err))
		}
	}
	a.chain.close()
	return notes
}

// AfterNotes are the notes a command shows once it succeeded: what did
// not answer while it ran, and that the identity was restored elsewhere.
func (a *Agent) afterNotes() []*api.Note {
	c := a.opened()
	if c == nil {
		return nil
	}
	var notes []*api.Note
	var what []string
	for _, oe := range c.Offline() {
		what = append(what, oe.Error())
	}
	if len(what) > 0 {
		later := "a later parley command"
		if a.opts.Mode == ModeDaemon {
			later = "the agent once it answers"
		}
		notes = append(notes, &api.Note{Code: api.CodeOffline, After: true,
			Message: fmt.Sprintf("offline: %s; shown as this device has it, and what you send waits and goes out with %s", joinSemi(what), later)})
	}
	if err := c.Superseded(); err != nil {
		notes = append(notes, &api.Note{Code: api.CodeRestoredElsewhere, After: true, Message: cli.Plain(err), Hint: a.restoredHint()})
	}
	return notes
}

// note is err as a note, with its context.
func (a *Agent) note(context string, err error) *api.Note {
	e := a.apiError(err)
	return &api.Note{Code: e.Code, Message: e.Message, Hint: e.Hint, Detail: e.Detail, Context: context}
}

func joinSemi(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}

// discard is a slog.Handler that drops everything.
type discard struct{}

func (discard) Enabled(context.Context, slog.Level) bool  { return false }
func (discard) Handle(context.Context, slog.Record) error { return nil }
func (d discard) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discard) WithGroup(string) slog.Handler           { return d }
