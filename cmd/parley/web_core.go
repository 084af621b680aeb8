//go:build !front

package main

import (
	"context"
	"log/slog"

	"github.com/parley-im/parley/internal/agent"
)

// webAgent makes sure an agent serves the home's socket for the web app:
// the one running, or one this process runs (locked until the browser
// unlocks it; no passphrase is asked here). stop ends what it started.
func (h *home) webAgent(ctx context.Context, log *slog.Logger) (stop func(), err error) {
	if c := h.dial(ctx); c != nil {
		info, err := c.Agent(ctx)
		c.Close()
		if err != nil {
			return nil, err
		}
		log.Info("using the agent that runs", "pid", info.PID, "home", h.dir)
		return func() {}, nil
	}
	if err := h.private(); err != nil {
		return nil, err
	}
	lock, err := h.lockForDaemon(ctx)
	if err != nil {
		return nil, err
	}
	a := agent.New(agent.Options{Home: h.dir, Mode: agent.ModeDaemon, Lock: lock, Logger: log, Now: h.clock.Now,
		Notifier: h.desktopNotifier(), ClientOptions: h.core.clientOpts, KeystoreKDF: h.core.keystoreKDF})
	if err := a.Start(ctx); err != nil {
		lock.Release()
		return nil, a.Explain(err)
	}
	l, err := a.Listen()
	if err != nil {
		lock.Release()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Serve(sctx, l)
	}()
	return func() {
		cancel()
		<-done
		a.Close(context.WithoutCancel(ctx))
		lock.Release()
	}, nil
}
