package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/parley-im/parley/internal/agent"
	"github.com/parley-im/parley/internal/cli"
	"github.com/parley-im/parley/internal/screen"
)

func daemonCmd(h *home, stderr io.Writer) *cobra.Command {
	var level, format string
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the agent for this home in the foreground: every other parley command on the home talks to it",
		Long: "daemon holds the home's keys, state and connections for as long as it runs, and serves every other\n" +
			"parley command on this home (and the chat, and scripts) over a Unix socket in the home (HOME/agent.sock,\n" +
			"mode 0600; only processes of your own user are answered). Meanwhile it follows your contacts' hubs and\n" +
			"your inbox, sends what waits, writes receipts, deletes disappearing messages on time, looks your\n" +
			"contacts up on the chain again (saying when keys change) and keeps the backup current. It logs to\n" +
			"standard error; SIGTERM or Ctrl-C stops it cleanly.\n\n" +
			"The passphrase comes from PARLEY_PASSPHRASE, a systemd credential named parley-passphrase\n" +
			"($CREDENTIALS_DIRECTORY), or the terminal; with none of them the agent starts locked, and\n" +
			"POST /v1/unlock unlocks it (docs/api.md). docs/cli.md has a systemd user unit.",
		Example: "  parley daemon\n  PARLEY_PASSPHRASE=... parley --home ~/.parley daemon",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			lvl, err := cli.ParseLevel(level)
			if err != nil {
				return err
			}
			log, err := cli.NewLogger(stderr, format, lvl)
			if err != nil {
				return err
			}
			if err := h.private(); err != nil {
				return err
			}
			lock, err := h.lockForDaemon(ctx)
			if err != nil {
				return err
			}
			h.lock = lock
			a := agent.New(agent.Options{Home: h.dir, Mode: agent.ModeDaemon, Lock: lock, Logger: log, Now: h.clock.Now, Notifier: h.desktopNotifier(),
				ClientOptions: h.clientOpts, KeystoreKDF: h.keystoreKDF})
			h.local = a
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
		},
	}
	cmd.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&format, "log-format", "auto", "log format: "+cli.LogFormats)
	return cmd
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
	a := h.local
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
