// Command hubd runs a Parley storage hub: a Gaia-compatible hub with a
// sealed contact-request inbox and change notifications.
//
// It reads configuration, picks the driver and the event log, constructs
// and runs; it must not hold a hub rule (hub/server does) or logic tests
// cannot reach.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/parley-im/parley/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes hubd with args; it returns the exit code: 0 ok, 1 error, 2 usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Run(ctx, "hubd", rootCmd(stdout, stderr), args, nil, stdout, stderr, cli.ExplainSystem)
}
