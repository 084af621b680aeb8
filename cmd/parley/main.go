// Command parley is the Parley messenger's command line: it creates the
// user's identity, registers a name on the chain, looks names up with
// proofs, manages contacts and sends and reads messages through hubs.
// Every command is a call on the home's agent (internal/agent): the one
// running (parley daemon, a chat, a watch), or one it runs itself for as
// long as it runs.
//
// It builds two ways. Built with the front tag it is the front-end people
// type, parley: it links no agent, client or chain package (only the
// *_core.go files do), serves a command as calls on a running agent, and
// executes parley-core, the full build, in its place for every other
// (home_front.go). Built without, it is parley-core, which serves every
// command itself.
//
// It owns the command tree, flags and help; it must not hold the client's
// logic (the agent runs it) or print except through internal/screen.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/parley-im/parley/internal/cli"
	"github.com/parley-im/parley/internal/screen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes parley with args; it returns the exit code: 0 ok, 1 error, 2 usage.
// Commands print only through screen writers: nothing anyone else wrote
// reaches stdout or stderr with a control character in it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runWith(ctx, runOptions{}, args, stdin, stdout, stderr)
}

// runWith is run with opts.
func runWith(ctx context.Context, opts runOptions, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	out := screen.NewWriter(stdout, screen.IsTerminal(stdout))
	errw := screen.NewWriter(stderr, screen.IsTerminal(stderr))
	h := &home{stderr: errw, debugEnv: os.Getenv("PARLEY_DEBUG") != "", ask: opts.ask, clock: opts.clock, barAt: -1,
		lockWait: opts.lockWait, core: opts.coreHome(), webNow: opts.webNow}
	if h.lockWait == 0 {
		h.lockWait = defaultLockWait
	}
	code := cli.Run(ctx, "parley", rootCmd(h, out, errw), args, stdin, out, errw, h.explain)
	h.release(ctx)
	if code == 0 {
		for _, n := range h.after {
			h.sayNote(n)
		}
	}
	return code
}
