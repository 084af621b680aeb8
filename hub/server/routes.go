package server

import (
	"net"
	"net/http"
	"strings"
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
	return e
}

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
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		s.metrics.requests.WithLabelValues(c.Request().Method, route, statusClass(status)).Inc()
		s.metrics.latency.WithLabelValues(c.Request().Method, route).Observe(time.Since(start).Seconds())
		if status >= 500 {
			s.log.Warn("request", "method", c.Request().Method, "route", route, "status", status, "ms", time.Since(start).Milliseconds())
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
