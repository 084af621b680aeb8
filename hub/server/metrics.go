package server

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	watchers prometheus.Gauge
	events   prometheus.Counter
	inflight prometheus.Gauge
}

func newMetrics(r *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_requests_total", Help: "HTTP requests by method, route and status class.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hub_request_seconds", Help: "HTTP request latency by method and route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}, []string{"method", "route"}),
		watchers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hub_watchers", Help: "Open change-notification streams."}),
		events:   prometheus.NewCounter(prometheus.CounterOpts{Name: "hub_events_total", Help: "Change notifications published."}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hub_requests_in_flight", Help: "HTTP requests being handled (this scrape included)."}),
	}
	r.MustRegister(m.requests, m.latency, m.watchers, m.events, m.inflight)
	return m
}
