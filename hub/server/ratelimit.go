package server

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimiter is a token bucket per client IP. Idle buckets are dropped.
type ipLimiter struct {
	mu      sync.Mutex
	r       rate.Limit
	burst   int
	buckets map[string]*limiterEntry
	sweep   time.Time
}

type limiterEntry struct {
	l    *rate.Limiter
	seen time.Time
}

func newIPLimiter(perSecond float64, burst int) *ipLimiter {
	return &ipLimiter{r: rate.Limit(perSecond), burst: burst, buckets: make(map[string]*limiterEntry)}
}

func (l *ipLimiter) allow(ip string) bool {
	ip = hostOnly(ip)
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > time.Minute {
		for k, e := range l.buckets {
			if now.Sub(e.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.sweep = now
	}
	e, ok := l.buckets[ip]
	if !ok {
		e = &limiterEntry{l: rate.NewLimiter(l.r, l.burst)}
		l.buckets[ip] = e
	}
	e.seen = now
	return e.l.AllowN(now, 1)
}
