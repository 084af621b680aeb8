package server

import (
	"fmt"
	"testing"
)

// TestRateLimiterBounded: requests from 50,000 source addresses leave at
// most the limiter's bound of buckets (the table grew with every address
// before), and a client seen recently keeps its bucket: it is still
// limited.
func TestRateLimiterBounded(t *testing.T) {
	l := newIPLimiter(0.001, 2)
	l.max = 1000
	for range 2 {
		l.allow("192.0.2.1")
	}
	for i := range 50_000 {
		l.allow(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255))
		if i%500 == 0 {
			l.allow("192.0.2.1") // an active client
		}
	}
	if n := l.size(); n > 1000 {
		t.Fatalf("%d buckets held, bound 1000", n)
	}
	if l.allow("192.0.2.1") {
		t.Fatal("the active client's bucket was dropped: it got a fresh burst")
	}
}

// TestRateLimitPerIPv6Prefix: an IPv6 host picks any address of its /64,
// so a limit per address limited nothing: each address got a fresh
// bucket (and a watch-stream allowance). Sources are counted by /64.
func TestRateLimitPerIPv6Prefix(t *testing.T) {
	l := newIPLimiter(0.001, 1)
	if !l.allow("[2001:db8:1:2::1]:4000") {
		t.Fatal("the first request from a /64 was refused")
	}
	if l.allow("2001:db8:1:2:ffff::9") {
		t.Fatal("another address of the same /64 got a bucket of its own")
	}
	if !l.allow("2001:db8:1:3::1") || !l.allow("10.0.0.1") || !l.allow("10.0.0.2") {
		t.Fatal("other /64s and IPv4 addresses share a bucket")
	}
	if k1, k2 := sourceOf("[2001:db8:1:2::1]:4000"), sourceOf("2001:db8:1:2:aaaa::1"); k1 != k2 || k1 != "2001:db8:1:2::/64" {
		t.Fatalf("sources %q and %q", k1, k2)
	}
}
