// Package cli is what the commands share: running a cobra command with the
// project's conventions (messages on stderr as "prog: msg" with optional
// "prog: hint: ..." lines; exit 0 ok, 1 error, 2 usage).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// UsageError marks an error in how the program was called (exit code 2).
type UsageError struct{ Err error }

func (u UsageError) Error() string { return u.Err.Error() }
func (u UsageError) Unwrap() error { return u.Err }

// Usage wraps err as a usage error.
func Usage(err error) error { return UsageError{err} }

// IsUsage reports whether err is a usage error, ours or cobra's.
func IsUsage(err error) bool {
	var u UsageError
	if errors.As(err, &u) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument",
		"invalid argument", "accepts ", "required flag"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Run executes cmd with args and returns the exit code. hint, if not nil,
// may return an extra line of advice for an error.
func Run(ctx context.Context, prog string, cmd *cobra.Command, args []string, stdin io.Reader, stdout, stderr io.Writer, hint func(error) string) int {
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", prog, err)
	usage := IsUsage(err)
	if h := ""; hint != nil {
		if h = hint(err); h != "" {
			fmt.Fprintf(stderr, "%s: hint: %s\n", prog, h)
		}
	}
	if usage {
		fmt.Fprintf(stderr, "%s: hint: run '%s help' for usage\n", prog, prog)
		return 2
	}
	return 1
}
