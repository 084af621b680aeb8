//go:build front

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/internal/api"
)

// This file is the front-end build's (go build -tags front): the parley
// that people type. It links no agent, client or chain package, so it
// starts in a few milliseconds. A command it can hand to a running agent
// it serves itself, as one call on the home's socket; every other command
// (no agent runs; daemon and web, which run one) it hands to parley-core,
// the full build installed beside it, by executing it in its place with
// the same arguments, environment, standard streams and process ID.

// coreName is the full build's file name, beside the front-end's.
const coreName = "parley-core"

// versionExtra follows the version line.
const versionExtra = "(front-end; " + coreName + " serves commands when no agent runs)"

// coreHome is empty: the front-end runs no agent.
type coreHome struct{}

// runOptions replace what parley takes from the system; the zero value
// takes it all.
type runOptions struct {
	ask      func(prompt string) ([]byte, error)
	clock    clock
	lockWait time.Duration
	webNow   func() time.Time
}

func (runOptions) coreHome() coreHome { return coreHome{} }

// frontEnd runs before every command: a command that needs no agent
// (version, help) runs here; one an agent answering on the home's socket
// can serve runs here, on that agent; every other is parley-core's.
// Nothing has been read or printed yet, so parley-core does the command
// from its start. It returns only if the command runs here, or with the
// error that parley-core cannot be run.
func (h *home) frontEnd(cmd *cobra.Command) error {
	switch {
	case !needsAgent(cmd):
		return nil
	case cmd.Annotations[annotation] != runsAgent:
		if c := h.dial(cmd.Context()); c != nil {
			h.conn, h.attach = c, true
			return nil
		}
	}
	return execCore()
}

// execCore executes parley-core in this process's place, with its
// arguments and environment; it returns only if it cannot.
func execCore() error {
	path, err := corePath()
	if err != nil {
		return err
	}
	return execReplace(path, append([]string{path}, os.Args[1:]...), os.Environ())
}

// corePath finds parley-core: beside this executable (links resolved),
// else in PATH.
func corePath() (string, error) {
	exe, err := os.Executable()
	if err == nil {
		p := filepath.Join(filepath.Dir(exe), coreName)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(coreName); err == nil {
		return filepath.Abs(p)
	}
	return "", hinted(fmt.Errorf("%s, which serves parley's commands when no agent runs, is neither beside %s nor in PATH", coreName, exe),
		"install it beside parley ('make build' puts both in bin/), or use a parley built without the front tag")
}

// errFrontEnd: a command reached what only parley-core does (frontEnd
// hands every such command over before it runs).
var errFrontEnd = errors.New("this front-end build of parley does not run an agent: run " + coreName)

// connect returns the running agent's API, found by frontEnd.
func (h *home) connect(context.Context, string, bool) (*api.Client, error) {
	if h.conn != nil {
		return h.conn, nil
	}
	return nil, errFrontEnd
}

func (h *home) runsAgent() bool                                        { return false }
func (h *home) closeLocal(context.Context)                             {}
func (h *home) startLocal(context.Context) error                       { return errFrontEnd }
func (h *home) runDaemon(context.Context, *slog.Logger) error          { return errFrontEnd }
func (h *home) webAgent(context.Context, *slog.Logger) (func(), error) { return nil, errFrontEnd }

// needsAgent reports whether cmd talks to the home's agent: every
// command that does something, but version, help and shell completion.
func needsAgent(cmd *cobra.Command) bool {
	if cmd.Annotations[annotation] == noAgent || !cmd.Runnable() {
		return false
	}
	for c := cmd; c != nil; c = c.Parent() {
		switch c.Name() {
		case "help", "completion", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
			return false
		}
	}
	return true
}
