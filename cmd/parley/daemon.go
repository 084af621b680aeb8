package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/internal/cli"
)

func daemonCmd(h *home, stderr io.Writer) *cobra.Command {
	var level, format string
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the agent for this home in the foreground: every other parley command on the home talks to it",
		Long: "daemon holds the home's keys, state and connections for as long as it runs, and serves every other\n" +
			"parley command on this home (and the chat, and scripts) over a Unix socket in the home (HOME/agent.sock,\n" +
			"mode 0600; only processes of your own user are answered). Meanwhile it follows your contacts' hubs and\n" +
			"your inbox, sends what waits, writes receipts, deletes disappearing messages on time, looks your\n" +
			"contacts up on the chain again (saying when keys change) and keeps the backup current. It logs to\n" +
			"standard error; SIGTERM or Ctrl-C stops it cleanly.\n\n" +
			"The passphrase comes from PARLEY_PASSPHRASE, a systemd credential named parley-passphrase\n" +
			"($CREDENTIALS_DIRECTORY), or the terminal; with none of them the agent starts locked, and\n" +
			"POST /v1/unlock unlocks it (docs/api.md). docs/cli.md has a systemd user unit.",
		Example:     "  parley daemon\n  PARLEY_PASSPHRASE=... parley --home ~/.parley daemon",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{annotation: runsAgent},
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			lvl, err := cli.ParseLevel(level)
			if err != nil {
				return err
			}
			log, err := cli.NewLogger(stderr, format, lvl)
			if err != nil {
				return err
			}
			return h.runDaemon(ctx, log)
		},
	}
	cmd.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&format, "log-format", "auto", "log format: "+cli.LogFormats)
	return cmd
}
