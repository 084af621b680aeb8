package server

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-im/parley/hub"
)

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = echo.ExtractIPDirect() // no proxy headers are trusted
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true}))
	e.Use(s.observe)
	e.Use(cors)
	e.Use(s.bodyTimeout)
	if s.cfg.RequestsPerSecond > 0 {
		rl := newIPLimiter(s.cfg.RequestsPerSecond, max(1, s.cfg.Burst))
		e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				if c.Path() == "/healthz" || c.Path() == "/metrics" || rl.allow(c.RealIP()) {
					return next(c)
				}
				return hub.ErrRateLimited
			}
		})
	}

	e.GET("/hub_info", s.hubInfo)
	e.GET("/hub_info/", s.hubInfo)
	e.POST("/store/:address/*", s.store)
	e.DELETE("/delete/:address/*", s.deleteFile)
	e.POST("/list-files/:address", s.listFiles)
	e.POST("/revoke-all/:address", s.revokeAll)
	e.GET("/read/:address/*", s.read)
	e.HEAD("/read/:address/*", s.read)

	e.POST("/inbox/:address", s.inboxPost)
	e.GET("/inbox/:address", s.inboxList)
	e.GET("/inbox/:address/:id", s.inboxGet)
	e.DELETE("/inbox/:address/:id", s.inboxDelete)

	e.GET("/watch", s.watch)
	e.POST("/watch", s.watch)

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})))
	s.routeSet = map[string]bool{}
	for _, r := range e.Routes() {
		s.routeSet[r.Path] = true
	}
	return e
}

// bodyTimeout gives a request with a body BodyTimeout to send all of it
// (slowloris): the connection's read deadline is set before the handler
// runs and lifted once the body is read to its end (so that a watch lives
// on); a read that hits the deadline makes the answer 408.
func (s *Server) bodyTimeout(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
			return next(c)
		}
		rc := http.NewResponseController(c.Response())
		if err := rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout)); err != nil {
			return next(c) // not a connection that has deadlines (a test recorder)
		}
		// A shallow copy carries the wrapped body: net/http decides from
		// the original request's body whether to drain it after the
		// answer (never one it did not ask for with 100-continue).
		b := &deadlineBody{r: req.Body, rc: rc}
		wrapped := req.WithContext(req.Context())
		wrapped.Body = b
		c.SetRequest(wrapped)
		err := next(c)
		if b.timedOut.Load() {
			return fail(hub.ErrTimeout, "the request body did not arrive within %v", s.cfg.BodyTimeout)
		}
		return err
	}
}

// deadlineBody lifts the read deadline at the end of the body and notes
// a read that timed out.
type deadlineBody struct {
	r        io.ReadCloser
	rc       *http.ResponseController
	timedOut atomic.Bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	switch {
	case err == io.EOF:
		b.rc.SetReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.timedOut.Store(true)
	}
	return n, err
}

func (b *deadlineBody) Close() error { return b.r.Close() }

// cors answers preflights and marks every answer readable from any origin,
// exposing the headers Stacks.js reads and allowing the ones it sends
// (x-hiro-product included). Every answer also tells browsers never to
// guess a type (nosniff) and to run nothing from it (a sandboxing CSP):
// the hub serves what anyone wrote from its own origin.
func cors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "ETag, Content-Type, Content-Length, Last-Modified, X-Parley-Expires")
		if c.Request().Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "DELETE,POST,GET,OPTIONS,HEAD")
			allow := "Authorization,Content-Type,If-Match,If-None-Match,X-Hiro-Product,X-Parley-Stamp,X-Parley-Expires,Last-Event-ID"
			if req := c.Request().Header.Get("Access-Control-Request-Headers"); req != "" {
				allow += "," + req
			}
			h.Set("Access-Control-Allow-Headers", allow)
			h.Set("Access-Control-Max-Age", "86400")
			return c.NoContent(http.StatusNoContent)
		}
		return next(c)
	}
}

// observe records metrics and logs each request (never its headers: they
// carry tokens).
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		s.metrics.inflight.Inc()
		defer s.metrics.inflight.Dec()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if !s.routeSet[route] {
			route = "unmatched"
		}
		method := methodLabel(c.Request().Method)
		status := c.Response().Status
		s.metrics.requests.WithLabelValues(method, route, statusClass(status)).Inc()
		s.metrics.latency.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
		if status >= 500 {
			s.log.Warn("request", "method", method, "route", route, "status", status, "ms", time.Since(start).Milliseconds())
		}
		return nil
	}
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return string(rune('0'+code/100)) + "xx"
}

func hostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return strings.TrimSpace(addr)
}
