// Command bnsd runs the Parley name chain: it makes node homes (one
// validator, or a local testnet of several), runs a CometBFT node with the
// name-chain application in-process, and answers operators' queries with
// verified proofs.
//
// It reads configuration, constructs and runs; it must not hold logic
// tests cannot reach (run and the packages hold it).
package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/parley-im/parley/chain/node"
	"github.com/parley-im/parley/internal/cli"
)

func main() {
	// A node holds little live memory and allocates much per block: trade
	// some memory for less collection unless the operator chose (GOGC).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes bnsd with args; it returns the exit code: 0 ok, 1 error, 2 usage.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return cli.Run(ctx, "bnsd", rootCmd(ctx, stdout, stderr), args, stdin, stdout, stderr, explain)
}

// explain says what an operator is told of an error: one sentence and a
// hint, as hubd and parley do (the whole chain only with -v).
func explain(err error) (what, hint string) {
	var pe *fs.PathError
	if errors.Is(err, node.ErrNoHome) && errors.As(err, &pe) {
		return filepath.Dir(filepath.Dir(pe.Path)) + " holds no node (no config/config.toml)",
			"make one first: 'bnsd init --home DIR' (a chain of one validator), 'bnsd testnet' (several) or 'bnsd join' (an existing chain)"
	}
	return cli.ExplainSystem(err)
}
