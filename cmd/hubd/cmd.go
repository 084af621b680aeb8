package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/hub/driver/disk"
	"github.com/parley-im/parley/hub/driver/memory"
	"github.com/parley-im/parley/hub/driver/s3"
	"github.com/parley-im/parley/hub/natslog"
	"github.com/parley-im/parley/hub/proofs"
	"github.com/parley-im/parley/hub/server"
	"github.com/parley-im/parley/internal/cli"
)

func rootCmd(stdout, stderr io.Writer) *cobra.Command {
	v := viper.New()
	cmd := &cobra.Command{
		Use:   "hubd --data DIR --public-url URL [--listen HOST:PORT]",
		Short: "Run a Parley storage hub",
		Long: "hubd runs a storage hub: public reads of opaque blobs, writes signed by the bucket's key\n" +
			"(Gaia v1 tokens from Stacks.js, or Parley's native Ed25519 tokens), a sealed contact-request\n" +
			"inbox and change notifications. Every flag can also be set in the environment as HUBD_<FLAG>\n" +
			"(dashes as underscores) or in a config file (--config, JSON, YAML or TOML).",
		Example: "  hubd --data /var/lib/hubd --public-url https://hub.example --listen 0.0.0.0:443 \\\n" +
			"       --tls-cert /etc/hubd/cert.pem --tls-key /etc/hubd/key.pem\n" +
			"  HUBD_DATA=./hubdata HUBD_PUBLIC_URL=http://127.0.0.1:4000 hubd",
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f := v.GetString("config"); f != "" {
				v.SetConfigFile(f)
				if err := v.ReadInConfig(); err != nil {
					return cli.Usage(fmt.Errorf("--config: %w", err))
				}
			}
			return serve(cmd.Context(), v, stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.String("config", "", "config file (JSON, YAML or TOML) with any of these settings")
	f.String("listen", "127.0.0.1:4000", "address to listen on")
	f.String("public-url", "", "URL clients reach this hub at (required), exactly as users publish it on the chain, e.g. https://hub.example;\nnative tokens name it and are refused if they name another")
	f.String("data", "", "data directory for the disk driver (required unless --driver memory)")
	f.String("driver", "disk", `storage driver: "disk", "s3" or "memory" (memory loses everything on exit)`)
	f.String("s3-endpoint", "", "S3 server host:port (driver s3)")
	f.String("s3-bucket", "", "S3 bucket (driver s3; created if missing)")
	f.String("s3-region", "us-east-1", "S3 region (driver s3)")
	f.String("s3-access-key", "", "S3 access key (driver s3); the secret key comes only from HUBD_S3_SECRET_KEY or the config file")
	f.Bool("s3-tls", true, "use HTTPS to reach the S3 server")
	f.String("nats", "", "NATS server URL(s), comma-separated, shared by the instances of this hub on one S3 bucket (driver s3):\nchange notifications and resume cursors then span all instances; needs JetStream")
	f.String("nats-stream", "PARLEY_HUB", "JetStream stream of this hub's change events (one per hub on a NATS cluster)")
	f.Int("nats-replicas", 1, "NATS servers keeping the stream (3 on a 3-node cluster)")
	f.String("instance", "", "name of this instance in logs and the event log (default: the host name and a random suffix)")
	f.String("server-name", "", "name in the challenge text (default: the public URL's host); changing it invalidates outstanding Gaia tokens")
	f.Bool("gaia-require-hub-url", false, "refuse Gaia tokens whose hubUrl claim is not the public URL or one of --gaia-valid-hub-urls (Gaia's requireCorrectHubUrl)")
	f.StringSlice("gaia-valid-hub-urls", nil, "more URLs a Gaia token's hubUrl may name with --gaia-require-hub-url (Gaia's validHubUrls), comma-separated")
	f.StringSlice("whitelist", nil, "the only addresses whose tokens are accepted, comma-separated (Gaia's whitelist; a Gaia association token's identity address counts); empty: everyone")
	f.Int("gaia-proofs-required", 0, "social proofs a bucket's profile.json must hold before its writes and deletes are taken (Gaia's proofsRequired; 402 otherwise); the hub fetches the proof pages over HTTPS")
	f.Bool("gaia-revocation", false, "store revoke-all timestamps where Gaia does, at <address>-auth/authTimestamp, readable at the read URL")
	f.Float64("max-upload-mb", 20, "largest object, in MiB")
	f.Float64("quota-mb", 0, "most one address may store, in MiB (0: no limit)")
	f.Int("page-size", 100, "entries per list-files page")
	f.Float64("rate", 0, "requests per second per client IP (0: no limit)")
	f.Int("burst", 50, "burst of requests per client IP above --rate")
	f.Int("inbox-pow", 12, "leading zero bits of an inbox post's proof-of-work stamp")
	f.Int("inbox-max", 1000, "envelopes an inbox may hold")
	f.Int("inbox-max-bytes", 16384, "largest inbox envelope")
	f.Int("inbox-per-minute", 20, "inbox posts per minute per client IP")
	f.Duration("sweep-every", time.Minute, "how often expired objects are deleted (negative: never, for instances that leave it to another on the same bucket)")
	f.Int("max-watches", server.DefaultMaxWatches, "open watch streams, overall (503 beyond)")
	f.Int("max-watches-per-ip", server.DefaultMaxWatchesPerIP, "open watch streams per client IP (429 beyond)")
	f.Int("max-watch-follows", server.DefaultMaxWatchFollows, "addresses followed by all open watch streams together")
	f.Int("max-watch-follows-per-ip", server.DefaultMaxFollowsPerIP, "addresses followed by one client IP's open watch streams")
	f.Duration("body-timeout", 2*time.Minute, "time a request has to send its body (408 after)")
	f.String("tls-cert", "", "TLS certificate file (serve HTTPS)")
	f.String("tls-key", "", "TLS key file")
	f.String("log-level", "info", "debug, info, warn or error")
	f.String("log-format", "auto", "log format: "+cli.LogFormats)
	f.Duration("shutdown-timeout", 30*time.Second, "how long a shutdown waits for requests in flight")
	v.BindPFlags(f)
	v.SetEnvPrefix("HUBD")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	cmd.AddCommand(cli.VersionCmd(cmd, stdout, ""))
	return cmd
}

func serve(ctx context.Context, v *viper.Viper, stdout, stderr io.Writer) error {
	level, err := cli.ParseLevel(v.GetString("log-level"))
	if err != nil {
		return err
	}
	log, err := cli.NewLogger(stderr, v.GetString("log-format"), level)
	if err != nil {
		return err
	}
	publicURL := v.GetString("public-url")
	if publicURL == "" {
		return cli.Usage(errors.New("--public-url is required"))
	}
	if _, err := auth.CanonicalHubURL(publicURL); err != nil {
		return cli.Usage(fmt.Errorf("--public-url: %w (give the URL users publish for this hub, e.g. https://hub.example)", err))
	}
	if pow, max := v.GetInt("inbox-pow"), v.GetInt("inbox-max"); pow > 0 && max > 0 && hub.InboxDifficulty(pow, max-1, max) > hub.MaxInboxDifficulty {
		return cli.Usage(fmt.Errorf("--inbox-pow %d: an inbox stamp's difficulty grows as an inbox fills, up to %d bits here, and clients make at most %d: give %d or less",
			pow, hub.InboxDifficulty(pow, max-1, max), hub.MaxInboxDifficulty, pow-(hub.InboxDifficulty(pow, max-1, max)-hub.MaxInboxDifficulty)))
	}
	var drv hub.Driver
	switch v.GetString("driver") {
	case "disk":
		dir := v.GetString("data")
		if dir == "" {
			return cli.Usage(errors.New("--data is required with the disk driver"))
		}
		d, err := disk.New(dir)
		if err != nil {
			return err
		}
		drv = d
	case "s3":
		secret := v.GetString("s3-secret-key") // environment or config file only
		if v.GetString("s3-endpoint") == "" || v.GetString("s3-bucket") == "" || secret == "" {
			return cli.Usage(errors.New("driver s3 needs --s3-endpoint, --s3-bucket and HUBD_S3_SECRET_KEY (or s3-secret-key in the config file)"))
		}
		d, err := s3.New(ctx, s3.Config{
			Endpoint: v.GetString("s3-endpoint"), Bucket: v.GetString("s3-bucket"), Region: v.GetString("s3-region"),
			AccessKey: v.GetString("s3-access-key"), SecretKey: secret, UseTLS: v.GetBool("s3-tls"),
			Shared: v.GetString("nats") != "", // other instances write the bucket: conditions must hold across them
		})
		if err != nil {
			return err
		}
		drv = d
	case "memory":
		drv = memory.New()
	default:
		return cli.Usage(fmt.Errorf("--driver %q: want disk, s3 or memory", v.GetString("driver")))
	}
	instance := v.GetString("instance")
	if instance == "" {
		host, _ := os.Hostname()
		r := make([]byte, 3)
		rand.Read(r)
		instance = host + "-" + hex.EncodeToString(r)
	}
	var events server.EventLog
	if u := v.GetString("nats"); u != "" {
		if v.GetString("driver") != "s3" {
			return cli.Usage(errors.New("--nats joins instances that share one S3 bucket: it needs --driver s3 (a disk directory or memory belongs to one process)"))
		}
		l, err := natslog.Open(ctx, natslog.Config{URL: u, Stream: v.GetString("nats-stream"), Replicas: v.GetInt("nats-replicas"), Name: "hubd " + instance})
		if err != nil {
			return err
		}
		defer l.Close()
		events = l
	}
	cert, key := v.GetString("tls-cert"), v.GetString("tls-key")
	if (cert == "") != (key == "") {
		return cli.Usage(errors.New("--tls-cert and --tls-key go together"))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := server.New(server.Config{
		Driver:               drv,
		PublicURL:            publicURL,
		ServerName:           v.GetString("server-name"),
		RequireGaiaHubURL:    v.GetBool("gaia-require-hub-url"),
		GaiaHubURLs:          v.GetStringSlice("gaia-valid-hub-urls"),
		Whitelist:            v.GetStringSlice("whitelist"),
		GaiaRevocation:       v.GetBool("gaia-revocation"),
		ProofsRequired:       v.GetInt("gaia-proofs-required"),
		Proofs:               &proofs.Checker{},
		MaxUploadBytes:       int64(v.GetFloat64("max-upload-mb") * (1 << 20)),
		QuotaBytes:           int64(v.GetFloat64("quota-mb") * (1 << 20)),
		PageSize:             v.GetInt("page-size"),
		RequestsPerSecond:    v.GetFloat64("rate"),
		Burst:                v.GetInt("burst"),
		InboxPowDifficulty:   v.GetInt("inbox-pow"),
		InboxMaxEntries:      v.GetInt("inbox-max"),
		InboxMaxEnvelope:     int64(v.GetInt("inbox-max-bytes")),
		InboxPerMinute:       v.GetInt("inbox-per-minute"),
		MaxWatches:           v.GetInt("max-watches"),
		MaxWatchesPerIP:      v.GetInt("max-watches-per-ip"),
		MaxWatchFollows:      v.GetInt("max-watch-follows"),
		MaxWatchFollowsPerIP: v.GetInt("max-watch-follows-per-ip"),
		BodyTimeout:          v.GetDuration("body-timeout"),
		SweepEvery:           v.GetDuration("sweep-every"),
		Events:               events,
		Instance:             instance,
		Logger:               log,
		Registry:             reg,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", v.GetString("listen"))
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10, // a token is at most 16 KiB
		// No ReadTimeout or WriteTimeout: watch streams live for hours.
		// Bodies are bounded by --body-timeout (server.Config.BodyTimeout).
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if cert != "" {
		scheme = "https"
	}
	log.Info("listening", "addr", ln.Addr().String(), "scheme", scheme, "public_url", publicURL, "driver", v.GetString("driver"), "instance", instance, "nats", v.GetString("nats") != "")
	fmt.Fprintf(stdout, "hubd: serving %s://%s (public URL %s)\n", scheme, ln.Addr(), publicURL)
	errc := make(chan error, 1)
	go func() {
		if cert != "" {
			errc <- hs.ServeTLS(ln, cert, key)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	srv.Close() // end watch streams; they resume from their cursors
	sctx, cancel := context.WithTimeout(context.Background(), v.GetDuration("shutdown-timeout"))
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
