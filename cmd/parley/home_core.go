//go:build !front

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/internal/agent"
	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/homedir"
	"github.com/parley-im/parley/internal/screen"
)

// This file is the full build's: a command with no agent running serves
// itself, running the home's agent in this process. The front-end build
// (home_front.go) links none of it.

// coreHome is what a command of the full build knows beyond home: the
// agent this process runs, and the options it runs it with.
type coreHome struct {
	local *agent.Agent // the agent this process runs (nil: another process's, or none yet)
	// clientOpts are given to every client an agent of this process opens.
	clientOpts []client.Option
	// keystoreKDF is the cost an agent of this process seals keystores at
	// (nil: the default).
	keystoreKDF *keystore.KDF
	// notifier shows a daemon's notifications (nil: desktopNotifier).
	notifier agent.Notifier
}

// runOptions replace what parley takes from the system (for tests); the
// zero value takes it all.
type runOptions struct {
	ask   func(prompt string) ([]byte, error) // asks for a secret (nil: on the terminal)
	clock clock                               // the time messages are stamped with and shown against
	// lockWait is how long a command waits for another parley process
	// that uses the same home and serves no API (0: defaultLockWait).
	lockWait time.Duration
	// client are options for every client an agent this process runs
	// opens or restores (say, a cheaper backup KDF).
	client []client.Option
	// keystoreKDF is the cost keystores are sealed at (nil: the default;
	// tests make it cheap). No flag sets it.
	keystoreKDF *keystore.KDF
	// notifier shows a daemon's desktop notifications (nil: the desktop's
	// on the session bus, if any).
	notifier agent.Notifier
	// webNow is the clock parley web's sessions and login address expire
	// by (nil: the system's). No flag sets it.
	webNow func() time.Time
}

// coreHome is what opts give the agent this process may run.
func (o runOptions) coreHome() coreHome {
	return coreHome{clientOpts: o.client, keystoreKDF: o.keystoreKDF, notifier: o.notifier}
}

// versionExtra follows the version line (the front-end build says it is one).
const versionExtra = ""

// frontEnd decides nothing in the full build: every command runs here.
func (h *home) frontEnd(*cobra.Command) error { return nil }

// runsAgent reports whether this process runs the home's agent (in
// memory; a daemon's socket is served once it is unlocked: startLocal).
func (h *home) runsAgent() bool { return h.core.local != nil }

// closeLocal closes the agent this process runs, if any: the backup
// follows the command's changes (notes of that are shown).
func (h *home) closeLocal(ctx context.Context) {
	if h.core.local == nil {
		return
	}
	for _, n := range h.core.local.Close(context.WithoutCancel(ctx)) {
		h.sayNote(n)
	}
	h.core.local = nil
}

// connect returns the API of the home's agent: the running one's, over
// its socket; else, once this process holds the home's lock, its own, in
// memory (daemon: with the socket and the duties, for chat and watch). A
// home another process holds without a socket is waited for (h.lockWait),
// saying so; readOnly commands (whois) do not wait: they run without the
// lock, writing nothing of the home's.
func (h *home) connect(ctx context.Context, mode string, readOnly bool) (*api.Client, error) {
	if h.conn != nil {
		return h.conn, nil
	}
	if err := h.private(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(h.lockWait)
	for said := false; ; said = true {
		if c := h.dial(ctx); c != nil {
			h.conn, h.attach = c, true
			return c, nil
		}
		lock, err := agent.TryLock(h.dir, h.cmd)
		var busy *agent.BusyError
		switch {
		case err == nil:
			h.lock = lock
			return h.serve(ctx, mode)
		case errors.Is(err, agent.ErrNotPrivate): // made just now where others can write
			return nil, h.private()
		case !errors.As(err, &busy):
			return nil, err
		case readOnly:
			return h.serveLockless(), nil
		case time.Now().After(deadline):
			return nil, fmt.Errorf("%w: stop it first (a running chat or 'parley daemon' serves other commands; this one serves none)", err)
		case !said:
			screen.Printf(h.stderr, "parley: waiting for another parley process using %s (%s)\n", h.dir, busy.Holder)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// serve runs the home's agent in this process (the lock held).
func (h *home) serve(ctx context.Context, mode string) (*api.Client, error) {
	opts := agent.Options{Home: h.dir, Mode: mode, Lock: h.lock, Ask: h.passphrase, Now: h.clock.Now, ClientOptions: h.core.clientOpts, KeystoreKDF: h.core.keystoreKDF}
	if mode == agent.ModeDaemon {
		opts.Notifier = h.desktopNotifier()
	}
	a := agent.New(opts)
	h.core.local = a // a daemon's socket is served once it is unlocked (startLocal)
	h.conn = api.NewLocal(a)
	h.conn.OnNote, h.conn.OnProgress = h.onNote, h.onProgress
	return h.conn, nil
}

// serveLockless runs an agent without the home's lock: it reads, and
// verifies headers in memory.
func (h *home) serveLockless() *api.Client {
	h.core.local = agent.New(agent.Options{Home: h.dir, Ask: h.passphrase, Now: h.clock.Now, ClientOptions: h.core.clientOpts, KeystoreKDF: h.core.keystoreKDF})
	h.conn = api.NewLocal(h.core.local)
	h.conn.OnNote, h.conn.OnProgress = h.onNote, h.onProgress
	return h.conn
}

// private refuses a home that other users of the machine can change
// (homedir.CheckPrivate), with the hint: a command checks it before it
// reads anything of the home or dials its socket, for such a home may
// hold their config or their agent.
func (h *home) private() error {
	var np *homedir.NotPrivateError
	if err := homedir.CheckPrivate(h.dir); errors.As(err, &np) {
		return hinted(err, np.Hint())
	} else if err != nil {
		return err
	}
	return nil
}
