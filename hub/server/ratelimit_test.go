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
