// Package cli is what the commands share: running a cobra command with the
// project's conventions (messages on stderr as "prog: msg" with optional
// "prog: hint: ..." lines; exit 0 ok, 1 error, 2 usage), presenting errors
// to people, and the build's version.
//
// It owns those conventions; it must not hold a command's logic or state
// between runs.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
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

// Explain says what a person is told of an error: what happened, in a
// sentence of their words, and what to do about it (hint, may be empty).
// An empty what leaves the error to [Plain].
type Explain func(err error) (what, hint string)

// Run executes cmd with args and returns the exit code. An error is shown
// as explain says (nil: [Plain]); its whole chain, Go packages and all,
// only with --verbose (-v, added to cmd) or with PROG_DEBUG set in the
// environment (PARLEY_DEBUG for parley).
func Run(ctx context.Context, prog string, cmd *cobra.Command, args []string, stdin io.Reader, stdout, stderr io.Writer, explain Explain) int {
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	var verbose bool
	if cmd.PersistentFlags().Lookup("verbose") == nil {
		cmd.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "on an error, also show its details (as does "+debugEnv(prog)+"=1)")
	}
	err := fromEnv(cmd, prog, args)
	if err == nil {
		err = cmd.ExecuteContext(ctx)
	}
	if err == nil {
		return 0
	}
	usage := IsUsage(err)
	what, hint := "", ""
	if explain != nil && !usage {
		what, hint = explain(err)
	}
	if what == "" {
		what = Plain(err)
	}
	fmt.Fprintf(stderr, "%s: %s\n", prog, what)
	if hint != "" {
		fmt.Fprintf(stderr, "%s: hint: %s\n", prog, hint)
	}
	if (verbose || os.Getenv(debugEnv(prog)) != "") && err.Error() != what {
		fmt.Fprintf(stderr, "%s: detail: %v\n", prog, err)
	}
	if usage {
		fmt.Fprintf(stderr, "%s: hint: run '%s help' for usage\n", prog, prog)
		return 2
	}
	return 1
}

func debugEnv(prog string) string { return strings.ToUpper(prog) + "_DEBUG" }

// packages are the prefixes this project's errors carry ("client: ...").
var packages = map[string]bool{"client": true, "hubclient": true, "lookup": true, "wire": true, "keystore": true,
	"ratchet": true, "hub": true, "bns": true, "server": true, "auth": true, "node": true, "app": true, "proof": true,
	"disk": true, "memory": true, "s3": true, "group": true, "store": true, "bip39": true}

// Plain is err's message without the names of the Go packages it passed
// through: "client: send bob: hubclient: put m/1: quota exceeded" reads
// "send bob: put m/1: quota exceeded".
func Plain(err error) string {
	parts := strings.Split(err.Error(), ": ")
	out := parts[:0]
	for i, p := range parts {
		if packages[p] && i < len(parts)-1 {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ": ")
}

// Version is the build's version: the module version Go recorded (a
// release tag, or a pseudo-version naming the commit), else the commit
// and whether the tree had changes, else "devel"; then the Go release and
// platform.
func Version() string {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		} else {
			var rev, dirty string
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					if s.Value == "true" {
						dirty = "+dirty"
					}
				}
			}
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if rev != "" {
				v = "devel-" + rev + dirty
			}
		}
	}
	return fmt.Sprintf("%s (%s, %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// VersionCmd is a program's "version" command; it also gives root its
// --version flag, both printing "prog VERSION" (with extra after it, if
// not empty).
func VersionCmd(root *cobra.Command, stdout io.Writer, extra string) *cobra.Command {
	line := root.Name() + " " + Version()
	if extra != "" {
		line += " " + extra
	}
	root.Version = Version()
	root.SetVersionTemplate(line + "\n")
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this build",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Fprintln(stdout, line) },
	}
}
