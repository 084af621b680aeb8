// Command hubd runs a Parley storage hub: a Gaia-compatible hub with a
// sealed contact-request inbox and change notifications.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes hubd; it returns the exit code: 0 ok, 1 error, 2 usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := rootCmd(stdout, stderr)
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	if err := cmd.ExecuteContext(ctx); err != nil {
		printErr(stderr, err)
		if isUsage(err) {
			return 2
		}
		return 1
	}
	return 0
}
