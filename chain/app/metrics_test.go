package app

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestNameMetrics follows names through their life and checks the
// parley_bns_names gauge at each step, and that a restarted app counts the
// same from its state.
func TestNameMetrics(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	c := newChainWith(t, Config{ChainID: testChain, Dir: dir, Metrics: reg})
	check := func(what string, c *chain, live, grace, expired, revoked float64) {
		t.Helper()
		m := c.app.metrics
		for state, want := range map[string]float64{"live": live, "grace": grace, "expired": expired, "revoked": revoked} {
			if got := testutil.ToFloat64(m.names.WithLabelValues(state)); got != want {
				t.Errorf("%s (height %d): %s names = %v, want %v", what, c.height, state, got, want)
			}
		}
		if got, want := testutil.ToFloat64(m.height), float64(c.height); got != want {
			t.Errorf("%s: height gauge %v, want %v", what, got, want)
		}
	}
	alice, bob, carol := newAccount("alice"), newAccount("bob"), newAccount("carol")
	alice.expiresAt = 20 // so that its account is pruned once its name is gone
	check("empty", c, 0, 0, 0, 0)
	c.claim(alice, "alice")
	c.claim(bob, "bob")
	check("two registered", c, 2, 0, 0, 0)
	if got := testutil.ToFloat64(c.app.metrics.txs.WithLabelValues(stageBlock, "register", "ok")); got != 2 {
		t.Errorf("register ok in blocks: %v", got)
	}
	c.ok(bob.revoke("bob"))
	check("one revoked", c, 1, 0, 0, 1)
	// alice's name expires, then its grace period ends.
	r := c.record("alice")
	c.skip(int(r.ExpiresAt - c.height))
	check("last live height", c, 1, 0, 0, 1)
	c.skip(1)
	check("in grace", c, 0, 1, 0, 1)
	c.skip(int(testParams.GracePeriod) - 1)
	check("last grace height", c, 0, 1, 0, 1)
	c.skip(1)
	check("expired", c, 0, 0, 1, 1)
	// Its account was pruned at the next pruning check.
	c.skip(int(nextCheck(c.height) - c.height))
	check("expired, its account pruned", c, 0, 0, 1, 1)
	if got := testutil.ToFloat64(c.app.metrics.pruned.WithLabelValues("account")); got < 1 {
		t.Errorf("accounts pruned: %v", got)
	}
	// Taken again by carol: live again.
	c.claim(carol, "alice")
	check("registered again", c, 1, 0, 0, 1)

	// A restarted app counts the same from its state.
	c.app.Close()
	c2 := newChainWith(t, Config{ChainID: testChain, Dir: dir, Metrics: prometheus.NewRegistry()})
	check("after restart", c2, 1, 0, 0, 1)
	if got := testutil.ToFloat64(c2.app.metrics.stateKeys); got < 4 {
		t.Errorf("state keys after restart: %v", got)
	}
}

// TestMetricsRegistered: the metrics register once per registry; a second
// app on the same registry is refused with a clear error rather than a
// panic.
func TestMetricsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	newChainWith(t, Config{ChainID: testChain, Metrics: reg})
	if _, err := New(Config{ChainID: testChain, Metrics: reg}); err == nil {
		t.Fatal("a second app registered the same metrics")
	} else if !errorsAsAlreadyRegistered(err) {
		t.Fatalf("second registration: %v", err)
	}
}

func errorsAsAlreadyRegistered(err error) bool {
	var are prometheus.AlreadyRegisteredError
	return errors.As(err, &are)
}
