package server

import (
	"container/list"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimiter is a token bucket per client source (sourceOf: an IPv4
// address, or an IPv6 /64), within a bound: at most max
// buckets (default maxLimiterIPs); idle ones (10 minutes) are dropped, and
// when the table is full the least recently seen IP's bucket goes (that
// client starts again with a full burst: many source addresses can reset
// each other's buckets, never grow the table).
type ipLimiter struct {
	mu      sync.Mutex
	r       rate.Limit
	burst   int
	max     int
	buckets map[string]*list.Element // of *limiterEntry
	lru     list.List                // most recently seen first
	sweep   time.Time
}

type limiterEntry struct {
	ip   string
	l    *rate.Limiter
	seen time.Time
}

// maxLimiterIPs bounds a limiter's table: about 200 bytes each, 20 MB.
const maxLimiterIPs = 100_000

func newIPLimiter(perSecond float64, burst int) *ipLimiter {
	return &ipLimiter{r: rate.Limit(perSecond), burst: burst, max: maxLimiterIPs, buckets: make(map[string]*list.Element)}
}

func (l *ipLimiter) allow(addr string) bool {
	ip := sourceOf(addr)
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > time.Minute {
		for el := l.lru.Back(); el != nil && now.Sub(el.Value.(*limiterEntry).seen) > 10*time.Minute; el = l.lru.Back() {
			l.drop(el)
		}
		l.sweep = now
	}
	el, ok := l.buckets[ip]
	if !ok {
		for len(l.buckets) >= l.max {
			l.drop(l.lru.Back())
		}
		el = l.lru.PushFront(&limiterEntry{ip: ip, l: rate.NewLimiter(l.r, l.burst)})
		l.buckets[ip] = el
	} else {
		l.lru.MoveToFront(el)
	}
	e := el.Value.(*limiterEntry)
	e.seen = now
	return e.l.AllowN(now, 1)
}

func (l *ipLimiter) drop(el *list.Element) {
	delete(l.buckets, el.Value.(*limiterEntry).ip)
	l.lru.Remove(el)
}

// size is how many IPs the limiter holds.
func (l *ipLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// sourceOf is what limits per client count a request's remote address
// as: the IPv4 address, or the /64 of an IPv6 address (a host chooses any
// address of its /64, so counting addresses would limit nothing).
func sourceOf(addr string) string {
	host := hostOnly(addr)
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return host
	case ip.To4() != nil:
		return ip.To4().String()
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}
