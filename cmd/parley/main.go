// Command parley is the Parley messenger's command line: it creates the
// user's identity, registers a name on the chain, looks names up with
// proofs, manages contacts and sends and reads messages through hubs.
// Every command is a call on the home's agent (internal/agent): the one
// running (parley daemon, a chat, a watch), or one it runs itself for as
// long as it runs.
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
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/internal/agent"
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
}

// runWith is run with opts.
func runWith(ctx context.Context, opts runOptions, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	out := screen.NewWriter(stdout, screen.IsTerminal(stdout))
	errw := screen.NewWriter(stderr, screen.IsTerminal(stderr))
	h := &home{stderr: errw, debugEnv: os.Getenv("PARLEY_DEBUG") != "", ask: opts.ask, clock: opts.clock, barAt: -1,
		lockWait: opts.lockWait, clientOpts: opts.client, keystoreKDF: opts.keystoreKDF, notifier: opts.notifier}
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
