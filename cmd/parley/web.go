package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/internal/cli"
	"github.com/parley-im/parley/internal/homedir"
	"github.com/parley-im/parley/internal/web"
)

func webCmd(h *home, stdout, stderr io.Writer) *cobra.Command {
	var (
		listen        string
		open          bool
		level, format string
	)
	cmd := &cobra.Command{
		Use:   "web [--listen 127.0.0.1:PORT] [--open]",
		Short: "Serve the web app to a browser on this device",
		Long: "web serves Parley's web app on a loopback address of this device and prints, as its first line,\n" +
			"the address to open: it holds a one-time login token, which the browser exchanges for a session\n" +
			"cookie (HttpOnly, SameSite=Strict). Each address works once; run web again for a new one. Only\n" +
			"requests to that address from the app itself are answered (no other site, no other host name).\n\n" +
			"It runs the home's agent (unless one runs already: then the app is its front-end), so every\n" +
			"other parley command on the home works meanwhile. The keys are unlocked in the browser (or by the\n" +
			"agent it attached to); a home with no identity yet is set up there: identity, passphrase, name.\n" +
			"Everything the app shows comes from this device: no CDN, no request to the internet.\n" +
			"It logs to standard error; Ctrl-C stops it.",
		Example:     "  parley web\n  parley web --listen 127.0.0.1:7734 --open",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{annotation: runsAgent},
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			host, _, err := net.SplitHostPort(listen)
			if err != nil {
				return cli.Usage(fmt.Errorf("--listen %q is not HOST:PORT", listen))
			}
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return cli.Usage(fmt.Errorf("--listen %s: %w", listen, web.ErrNotLoopback))
			}
			lvl, err := cli.ParseLevel(level)
			if err != nil {
				return err
			}
			log, err := cli.NewLogger(stderr, format, lvl)
			if err != nil {
				return err
			}
			stop, err := h.webAgent(ctx, log)
			if err != nil {
				return err
			}
			defer stop()
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("cannot listen on %s: %w", listen, err)
			}
			s, err := web.New(l, web.Options{Socket: homedir.SocketPath(h.dir), Logger: log, Now: h.webNow})
			if err != nil {
				l.Close()
				return err
			}
			// The first line: the address to open (stdout only, never the log).
			fmt.Fprintf(stdout, "open %s\n", s.LoginURL())
			if open {
				page, remove, err := writeOpenPage(s)
				if err == nil {
					defer remove()
					go func() { // once used, the page goes
						select {
						case <-s.TokenUsed():
							remove()
						case <-ctx.Done():
						}
					}()
					open := exec.Command("xdg-open", page)
					open.Env = childEnv()
					err = open.Start()
				}
				if err != nil {
					log.Warn("could not open a browser: open the address above", "error", err)
				}
			}
			return s.Serve(ctx)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "loopback address to serve on (port 0: any free port)")
	cmd.Flags().BoolVar(&open, "open", false, "open the address in the default browser (xdg-open)")
	cmd.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&format, "log-format", "auto", "log format: "+cli.LogFormats)
	return cmd
}

// writeOpenPage writes s.OpenPage in a new private directory (0700, the
// page 0600) for the browser: the login address never goes on a command
// line, where every user of the device can read it. The directory is in
// the user's home, not hidden: a browser packaged as a snap (Ubuntu's
// Firefox and Chromium) reads neither /tmp nor hidden directories; the
// system's temporary directory if there is no home. remove deletes it
// (safe to call more than once).
func writeOpenPage(s *web.Server) (page string, remove func(), err error) {
	base, err := os.UserHomeDir()
	if err != nil {
		base = os.TempDir()
	}
	dir, err := os.MkdirTemp(base, "parley-web-")
	if err != nil {
		return "", nil, err
	}
	var once sync.Once
	remove = func() { once.Do(func() { os.RemoveAll(dir) }) }
	page = filepath.Join(dir, "open.html")
	if err := os.WriteFile(page, s.OpenPage(), 0o600); err != nil {
		remove()
		return "", nil, err
	}
	return page, remove, nil
}
