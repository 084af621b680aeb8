// Package server is the hub's HTTP API, on echo: the Gaia hub routes
// (wire-compatible with the Stacks.js storage client), public reads, the
// sealed contact-request inbox and change notifications. It composes a
// hub.Driver (storage) with hub/auth (tokens); it picks neither.
//
// Errors are mapped to HTTP statuses in one place, [Server.handleError],
// with Gaia's status codes and error JSON ({"message", "error"}).
//
// It owns the routes, the one error mapping, quotas, the inbox's stamps,
// revocation and change notifications; it must not pick a driver or an
// event log (cmd/hubd does), or import the chain or the client.
package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/hub/hubapi"
)

// Config configures a Server. Zero values take the defaults noted.
type Config struct {
	Driver hub.Driver
	// PublicURL is how clients reach this hub, e.g. "https://hub.example":
	// exactly the URL users publish on the chain for it (scheme and host
	// compared in any case, a trailing slash ignored). Native tokens name
	// it and are refused here if they name another. Reads are served under
	// PublicURL+"/read/". Required.
	PublicURL string
	// ServerName goes into the challenge text (default: the public URL's
	// host and port, so that hubs do not share one by default).
	ServerName string
	// RequireGaiaHubURL refuses Gaia tokens whose hubUrl claim is not the
	// public URL or one of GaiaHubURLs (Gaia's requireCorrectHubUrl and
	// validHubUrls; off by default, as in Gaia).
	RequireGaiaHubURL bool
	GaiaHubURLs       []string
	// Whitelist, if not empty, names the only signing addresses whose
	// tokens the hub accepts (Gaia's whitelist): a bucket address, or the
	// identity address of a Gaia association token (auth.Grant.Signer).
	// Others are refused 401 on every authenticated route.
	Whitelist []string
	// GaiaRevocation stores revocation timestamps where Gaia does: the
	// object "authTimestamp" of the bucket "<address>-auth", readable by
	// anyone at <read URL prefix><address>-auth/authTimestamp (a hub
	// taking over a Gaia hub's data finds them there). Off: under an
	// internal address, never served.
	GaiaRevocation bool
	// ProofsRequired is Gaia's proofsRequired: with N > 0, a write or
	// delete is refused 402 NotEnoughProofError unless the bucket's
	// profile.json is a profile token of the bucket's key listing at least
	// N accounts whose social proofs Proofs finds valid (profile.json
	// itself may always be written).
	ProofsRequired int
	Proofs         ProofChecker

	// TokenCacheBytes bounds the cache of verified and refused tokens
	// (default auth.DefaultCacheBytes).
	TokenCacheBytes int64
	// MaxUploadBytes bounds one object (default 20 MiB).
	MaxUploadBytes int64
	// QuotaBytes bounds what one address may store (0: no limit).
	QuotaBytes int64
	// PageSize is the number of entries per list-files page (default 100).
	PageSize int
	// RequestsPerSecond and Burst limit each client IP (0: no limit).
	RequestsPerSecond float64
	Burst             int
	// Inbox limits.
	InboxMaxEnvelope   int64 // default 16 KiB
	InboxMaxEntries    int   // per inbox, default 1000
	InboxPowDifficulty int   // leading zero bits of a request's stamp, default 12
	InboxPerMinute     int   // per source IP, default 20
	// WatchBacklog is how many recent changes a reconnecting watcher can
	// resume from (default 10000).
	WatchBacklog int
	// Events, if set, is the event log this hub's instances share (they
	// serve one storage behind a load balancer): change events go through
	// it, so a watcher on any instance hears of writes through any other
	// and resumes its cursor on any of them. It also makes the instance
	// treat the storage as shared: revocation timestamps are read from the
	// driver on every request (never cached), quota usage follows the
	// other instances' changes. Nil: one process serves the storage.
	Events EventLog
	// Instance names this instance in the event log (default: random).
	Instance string
	// Watch limits: open streams and the follows they hold, overall (503
	// beyond) and per client IP (429 beyond). Defaults DefaultMaxWatches,
	// DefaultMaxWatchesPerIP, DefaultMaxWatchFollows, DefaultMaxFollowsPerIP.
	MaxWatches, MaxWatchesPerIP           int
	MaxWatchFollows, MaxWatchFollowsPerIP int
	// BodyTimeout bounds the time to read a request's body (default 2
	// minutes): a body still arriving then is answered 408.
	BodyTimeout time.Duration
	// Logger for structured logs (default: discard).
	Logger *slog.Logger
	// Registry for Prometheus metrics (default: a new registry, served at
	// /metrics).
	Registry *prometheus.Registry
	// Now is the clock (default time.Now). Drivers keep their own, by
	// which objects expire.
	Now func() time.Time
	// SweepEvery is how often expired objects are deleted from the driver
	// (default 1 minute; negative: never, for instances that leave it to
	// another). Expired objects are not served either way.
	SweepEvery time.Duration
}

// Server is the hub's HTTP handler.
type Server struct {
	cfg      Config
	echo     *echo.Echo
	verify   *auth.Verifier
	log      *slog.Logger
	metrics  *metrics
	events   *bus
	watches  *watchLimits
	inboxRL  *ipLimiter
	routeSet map[string]bool // registered route patterns, for metric labels

	revMu   sync.Mutex
	revoked map[string]int64 // address → oldest valid iat (unix seconds); loaded lazily
	quota   *quotas          // nil: no quota

	whitelist map[string]bool // nil: everyone
	proofs    proofCache

	stopSweep chan struct{}
	swept     sync.WaitGroup
	closeOnce sync.Once
	stopLog   context.CancelFunc // stops following the event log
}

// internal addresses, which no client address can equal (they start with '_').
const (
	revocationBucket = "_auth"
	inboxBucket      = "_inbox"
	stampBucket      = "_stamps"
)

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Driver == nil {
		return nil, errors.New("server: no driver")
	}
	if cfg.PublicURL == "" {
		return nil, errors.New("server: no public URL")
	}
	hubURL, err := auth.CanonicalHubURL(cfg.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("server: public URL: %w", err)
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.ServerName == "" {
		u, _ := url.Parse(hubURL)
		cfg.ServerName = u.Host
	}
	if cfg.MaxUploadBytes == 0 {
		cfg.MaxUploadBytes = 20 << 20
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 100
	}
	if cfg.InboxMaxEnvelope == 0 {
		cfg.InboxMaxEnvelope = 16 << 10
	}
	if cfg.InboxMaxEntries == 0 {
		cfg.InboxMaxEntries = 1000
	}
	if cfg.InboxPowDifficulty == 0 {
		cfg.InboxPowDifficulty = 12
	}
	if most := hub.InboxDifficulty(cfg.InboxPowDifficulty, cfg.InboxMaxEntries-1, cfg.InboxMaxEntries); cfg.InboxPowDifficulty < 0 || most > hub.MaxInboxDifficulty {
		return nil, fmt.Errorf("server: an inbox stamp difficulty of %d bits asks up to %d as an inbox fills, and clients make at most %d: give %d or less",
			cfg.InboxPowDifficulty, most, hub.MaxInboxDifficulty, cfg.InboxPowDifficulty-(most-hub.MaxInboxDifficulty))
	}
	if cfg.InboxPerMinute == 0 {
		cfg.InboxPerMinute = 20
	}
	if cfg.WatchBacklog == 0 {
		cfg.WatchBacklog = 10000
	}
	cfg.MaxWatches = cmp.Or(cfg.MaxWatches, DefaultMaxWatches)
	cfg.MaxWatchesPerIP = cmp.Or(cfg.MaxWatchesPerIP, DefaultMaxWatchesPerIP)
	cfg.MaxWatchFollows = cmp.Or(cfg.MaxWatchFollows, DefaultMaxWatchFollows)
	cfg.MaxWatchFollowsPerIP = cmp.Or(cfg.MaxWatchFollowsPerIP, DefaultMaxFollowsPerIP)
	cfg.BodyTimeout = cmp.Or(cfg.BodyTimeout, 2*time.Minute)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SweepEvery == 0 {
		cfg.SweepEvery = time.Minute
	}
	if cfg.Instance == "" {
		r := make([]byte, 6)
		rand.Read(r)
		cfg.Instance = hex.EncodeToString(r)
	}
	challenge := auth.Challenge(cfg.ServerName)
	var extra []string
	for _, u := range cfg.GaiaHubURLs {
		cu, err := auth.CanonicalHubURL(u)
		if err != nil {
			return nil, fmt.Errorf("server: Gaia hub URL: %w", err)
		}
		extra = append(extra, cu)
	}
	if cfg.ProofsRequired > 0 && cfg.Proofs == nil {
		return nil, errors.New("server: proofs required, but no proof checker")
	}
	verify := &auth.Verifier{Challenge: challenge, ServerName: cfg.ServerName, HubURL: hubURL, RequireGaiaHubURL: cfg.RequireGaiaHubURL,
		GaiaHubURLs: extra, Now: cfg.Now, CacheBytes: cfg.TokenCacheBytes}
	s := &Server{
		cfg:     cfg,
		verify:  verify,
		log:     cfg.Logger,
		metrics: newMetrics(cfg.Registry, verify),
		events:  newBus(cfg.WatchBacklog, epochOf(cfg.Events)),
		watches: &watchLimits{perIP: map[string]*ipWatches{}},
		inboxRL: newIPLimiter(float64(cfg.InboxPerMinute)/60, max(1, cfg.InboxPerMinute/4)),
		revoked: make(map[string]int64),
	}
	if len(cfg.Whitelist) > 0 {
		s.whitelist = map[string]bool{}
		for _, a := range cfg.Whitelist {
			s.whitelist[a] = true
		}
	}
	if cfg.QuotaBytes > 0 {
		s.quota = newQuotas(cfg.QuotaBytes, cfg.Driver, cfg.Events != nil, cfg.Now)
	}
	s.echo = s.routes()
	if cfg.Events != nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.stopLog = cancel
		if err := cfg.Events.Follow(ctx, cfg.WatchBacklog, s.fromLog); err != nil {
			cancel()
			return nil, fmt.Errorf("server: follow the event log: %w", err)
		}
	}
	s.stopSweep = make(chan struct{})
	if cfg.SweepEvery > 0 {
		s.swept.Go(func() { s.sweeper(cfg.SweepEvery, s.stopSweep) })
	}
	return s, nil
}

func epochOf(l EventLog) string {
	if l == nil {
		return ""
	}
	return l.Epoch()
}

// shared reports whether other instances serve the same storage.
func (s *Server) shared() bool { return s.cfg.Events != nil }

// changed tells watchers of a change: at once when alone; through the
// event log when shared, before the request is answered, so that an
// acknowledged change is in the log. delta is the change in bytes the
// address stores. A change the log does not take in time is logged and
// counted (hub_events_lost_total): the write itself stands.
func (s *Server) changed(ctx context.Context, ev Event, delta int64) {
	s.metrics.events.Inc()
	if s.cfg.Events == nil {
		s.events.publish(ev)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.cfg.Events.Publish(ctx, LogEvent{Event: ev, Delta: delta, From: s.cfg.Instance}); err != nil {
		s.metrics.eventsLost.Inc()
		s.log.Error("change not published to the event log: watchers on other instances miss it", "address", ev.Address, "path", ev.Path, "err", err)
	}
}

// fromLog takes an event from the log: to this instance's watchers, and,
// if another instance made it, to the quota accounting.
func (s *Server) fromLog(ev LogEvent) {
	if s.quota != nil && ev.From != s.cfg.Instance && ev.Delta != 0 {
		s.quota.adjust(ev.Address, ev.Delta) // first: a watcher that hears of it may count on it
	}
	s.events.deliver(ev.Event)
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Close ends open watch streams, so a graceful shutdown need not wait
// for them, and stops the sweeper.
func (s *Server) Close() {
	if s.stopLog != nil {
		s.stopLog()
	}
	s.events.close()
	s.closeOnce.Do(func() { close(s.stopSweep) })
	s.swept.Wait()
}

// Challenge returns the hub's challenge_text.
func (s *Server) Challenge() string { return s.verify.Challenge }

// HubURL is the hub's public URL in auth.CanonicalHubURL form: what its
// native tokens and inbox stamps are bound to.
func (s *Server) HubURL() string { return s.verify.HubURL }

// classErr is an error of a class (its sentinel) with the exact message
// to answer.
type classErr struct {
	class error
	msg   string
}

func (e *classErr) Error() string { return e.msg }
func (e *classErr) Unwrap() error { return e.class }

// fail makes an error of class (a sentinel of package hub, one of
// hubapi.Classes) answered with the message format makes.
func fail(class error, format string, args ...any) error {
	return &classErr{class: class, msg: fmt.Sprintf(format, args...)}
}

// handleError is the one place errors become HTTP answers: each sentinel
// of package hub has its class (hubapi.Classes: status and Gaia's error
// name), which the client maps back to the same sentinel.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var (
		ee  *echo.HTTPError
		mbe *http.MaxBytesError
	)
	status, body := http.StatusInternalServerError, hubapi.ErrorBody{Message: "Server Error"}
	if errors.As(err, &mbe) {
		err = fmt.Errorf("%w: %v", hub.ErrTooLarge, err)
	}
	if class, ok := hubapi.ClassOf(err); ok {
		status, body = class.Status, hubapi.ErrorBody{Message: err.Error(), Error: class.Name}
	} else {
		switch {
		case errors.As(err, &ee):
			status, body.Message = ee.Code, fmt.Sprint(ee.Message)
		case errors.Is(err, context.Canceled):
			status, body.Message = 499, "client closed request"
		default:
			s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		}
	}
	if c.Request().Method == http.MethodHead {
		c.NoContent(status)
		return
	}
	if status == http.StatusPreconditionFailed {
		c.JSON(status, map[string]any{"message": body.Message, "error": body.Error, "etag": nil}) // Gaia's (never filled) etag field
		return
	}
	c.JSON(status, body)
}
