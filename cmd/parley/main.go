// Command parley is the Parley messenger's command line: it creates the
// user's identity, registers a name on the chain, looks names up with
// proofs, manages contacts and sends and reads messages through hubs.
package main

import (
	"context"
	"github.com/parley-im/parley/internal/cli"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes parley with args; it returns the exit code: 0 ok, 1 error, 2 usage.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	h := &home{stderr: stderr}
	defer h.release()
	return cli.Run(ctx, "parley", rootCmd(h, stdout, stderr), args, stdin, stdout, stderr, passphraseHint)
}
