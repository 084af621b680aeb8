package main

import (
	"context"
	"errors"
	"io/fs"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/cli"
)

// explain is parley's one presentation of errors: what happened, in a
// sentence without the Go packages the error passed through, and a hint
// that is true of that error. An error of the agent (every call's) comes
// with both, in the agent's words (internal/agent's explain); this says
// the few that happen in the command itself. Everything a command
// returns, and every note it prints, goes through it; the whole chain
// shows only with --verbose or PARLEY_DEBUG=1.
func (h *home) explain(err error) (what, hint string) {
	var (
		ae *api.Error
		he *hintedError
	)
	switch {
	case errors.As(err, &ae):
		return ae.Message, ae.Hint
	case errors.Is(err, context.Canceled):
		return "interrupted", ""
	case errors.Is(err, api.ErrAgentGone):
		return api.ErrAgentGone.Error(), "start the agent again, and see with parley read what went out before you run the command again (a message it had saved goes out when it starts); a file sent again goes on from where it stopped"
	case errors.As(err, &he):
		return cli.Plain(he.err), he.hint
	case errors.Is(err, errPassphrasesDiffer):
		return err.Error(), "type the same passphrase twice"
	case errors.Is(err, fs.ErrExist):
		return cli.Plain(err), "parley never writes over a file: give another path"
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EROFS):
		return cli.Plain(err), "choose a place you can write to (--out PATH)"
	}
	return "", ""
}

// hintedError is an error with the hint that is true of it.
type hintedError struct {
	err  error
	hint string
}

func (e *hintedError) Error() string { return e.err.Error() }
func (e *hintedError) Unwrap() error { return e.err }

// hinted gives err a hint line.
func hinted(err error, hint string) error { return &hintedError{err, hint} }

// apiUsage makes every command of the tree under cmd return the agent's
// usage errors as usage errors (exit code 2).
func apiUsage(cmd *cobra.Command) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			var ae *api.Error
			if errors.As(err, &ae) && ae.Code == api.CodeUsage {
				return cli.Usage(errors.New(ae.Message))
			}
			return err
		}
	}
	for _, sub := range cmd.Commands() {
		apiUsage(sub)
	}
}
