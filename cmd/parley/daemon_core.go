//go:build !front

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"golang.org/x/term"

	"github.com/parley-im/parley/internal/agent"
	"github.com/parley-im/parley/internal/screen"
)

// daemonGCPercent is the garbage collector's target for parley daemon.
const daemonGCPercent = 50

// runDaemon runs the home's agent in this process until ctx ends: the
// socket, the duties; log is its log.
func (h *home) runDaemon(ctx context.Context, log *slog.Logger) error {
	if err := h.private(); err != nil {
		return err
	}
	// The agent stays resident on a person's device and is idle most of
	// the time: its heap may grow to 1.5 times what is live, not twice
	// (idle with 1,000 contacts: 66 MB resident against 77 to 86 MB;
	// BenchmarkAgentIdleThousand). GOGC, if set, decides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(daemonGCPercent)
	}
	lock, err := h.lockForDaemon(ctx)
	if err != nil {
		return err
	}
	h.lock = lock
	a := agent.New(agent.Options{Home: h.dir, Mode: agent.ModeDaemon, Lock: lock, Logger: log, Now: h.clock.Now, Notifier: h.desktopNotifier(),
		ClientOptions: h.core.clientOpts, KeystoreKDF: h.core.keystoreKDF})
	h.core.local = a
	if pass, how := h.daemonSecret(); pass != nil {
		if err := a.Unlock(ctx, pass); err != nil {
			return a.Explain(err)
		}
		log.Info("unlocked", "from", how)
	} else if a.Locked() {
		log.Warn("starting locked: no PARLEY_PASSPHRASE, no parley-passphrase credential, no terminal; POST /v1/unlock unlocks it")
	}
	l, err := a.Listen()
	if err != nil {
		return err
	}
	err = a.Serve(ctx, l)
	log.Info("stopping", "home", h.dir)
	return err
}

// lockForDaemon takes the home's lock for an agent. Another agent
// serving the home is refused at once; a command serving itself (one that
// started first, racing this start) is waited for, as long as a command
// waits (h.lockWait): it ends within moments, and then this agent serves
// every command after it.
func (h *home) lockForDaemon(ctx context.Context) (*agent.Lock, error) {
	deadline := time.Now().Add(h.lockWait)
	for said := false; ; said = true {
		if c := h.dial(ctx); c != nil {
			info, _ := c.Agent(ctx)
			c.Close()
			return nil, fmt.Errorf("an agent already serves %s (pid %d): two agents cannot both run on one home", h.dir, info.PID)
		}
		lock, err := agent.TryLock(h.dir, h.cmd)
		var busy *agent.BusyError
		switch {
		case err == nil:
			return lock, nil
		case !errors.As(err, &busy):
			return nil, err
		case time.Now().After(deadline):
			return nil, fmt.Errorf("%w: two agents cannot both run on one home, and a command that serves itself holds it until it ends", err)
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

// daemonSecret is the passphrase a daemon unlocks with, and where it came
// from: PARLEY_PASSPHRASE, a systemd credential, or the terminal (nil if
// none of them, or the home holds no identity).
func (h *home) daemonSecret() ([]byte, string) {
	if !h.keystoreExists() {
		return nil, ""
	}
	if p := os.Getenv("PARLEY_PASSPHRASE"); p != "" {
		return []byte(p), "PARLEY_PASSPHRASE"
	}
	if dir := os.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		if b, err := os.ReadFile(filepath.Join(dir, "parley-passphrase")); err == nil {
			return trimNewline(b), "systemd credential parley-passphrase"
		}
	}
	if h.ask != nil || term.IsTerminal(int(os.Stdin.Fd())) {
		if p, err := h.passphrase("passphrase: "); err == nil {
			return p, "the terminal"
		}
	}
	return nil, ""
}

// trimNewline drops one final line break.
func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// startLocal unlocks the agent this process runs for a chat or watch
// (asking for the passphrase), then serves its socket, so that every
// other command on the home is served by it.
func (h *home) startLocal(ctx context.Context) error {
	a := h.core.local
	if a.Locked() {
		pass, err := h.passphrase("passphrase: ")
		if err != nil {
			return err
		}
		if err := a.Unlock(ctx, pass); err != nil {
			return a.Explain(err)
		}
	} else if err := a.Start(ctx); err != nil {
		return a.Explain(err)
	}
	l, err := a.Listen()
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Serve(sctx, l)
	}()
	h.stop = func() {
		cancel()
		<-done
	}
	return nil
}
