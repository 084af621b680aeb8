package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-im/parley/hub/auth"
)

// Every label value comes from a fixed set: the methods below (else
// "other"), the routes registered (else "unmatched"), the status classes.
// Nothing a request chooses becomes a label.
type metrics struct {
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	watchers   prometheus.Gauge
	follows    prometheus.Gauge
	refused    *prometheus.CounterVec
	events     prometheus.Counter
	eventsLost prometheus.Counter
	inflight   prometheus.Gauge
}

func newMetrics(r *prometheus.Registry, v *auth.Verifier) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_requests_total", Help: "HTTP requests by method, route and status class.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hub_request_seconds", Help: "HTTP request latency by method and route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}, []string{"method", "route"}),
		watchers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hub_watchers", Help: "Open change-notification streams."}),
		follows:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "hub_watch_follows", Help: "Address/prefix pairs followed by open streams."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_watches_refused_total", Help: "Watch streams refused by a limit (per_ip or overall).",
		}, []string{"limit"}),
		events:     prometheus.NewCounter(prometheus.CounterOpts{Name: "hub_events_total", Help: "Change notifications published."}),
		eventsLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "hub_events_lost_total", Help: "Change notifications the shared event log (--nats) did not take: watchers on other instances missed them."}),
		inflight:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "hub_requests_in_flight", Help: "HTTP requests being handled (this scrape included)."}),
	}
	sigs := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hub_token_signature_checks_total", Help: "Token signatures checked (cached tokens and tokens refused on their claims cost none)."},
		func() float64 { return float64(v.Stats().Signatures) })
	cacheBytes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hub_token_cache_bytes", Help: "Estimated memory of the token cache."},
		func() float64 { return float64(v.Stats().CacheBytes) })
	cacheEntries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hub_token_cache_entries", Help: "Tokens in the cache (verified or refused)."},
		func() float64 { return float64(v.Stats().CacheEntries) })
	r.MustRegister(m.requests, m.latency, m.watchers, m.follows, m.refused, m.events, m.eventsLost, m.inflight, sigs, cacheBytes, cacheEntries)
	return m
}

// methodLabel is the method as a label: one of a fixed few.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}
