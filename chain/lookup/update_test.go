package lookup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cometbft/cometbft/types"

	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/internal/await"
)

// statusGate is a JSON-RPC proxy in front of a node that, once armed, holds
// the next status request until released (or until its caller gives up),
// as a loaded node that answers slowly does. It tells arrived when it holds
// one.
type statusGate struct {
	node    string
	arrived chan struct{}

	mu      sync.Mutex
	armed   bool
	release chan struct{}
}

func (g *statusGate) arm() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed, g.release = true, make(chan struct{})
}

func (g *statusGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.release)
}

func (g *statusGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var call struct {
		Method string `json:"method"`
	}
	json.Unmarshal(body, &call)
	g.mu.Lock()
	hold := g.armed && call.Method == "status"
	release := g.release
	if hold {
		g.armed = false
	}
	g.mu.Unlock()
	if hold {
		g.arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
	}
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, g.node+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// TestAnswersWhileAnUpdateRunsAreBounded: while one lookup verifies a newer
// header (its node slow to give its status), the client's other lookups do
// not wait for it: they answer from the last verified header, but only if
// it was verified less than MaxAge + MaxStale ago. Past that bound a lookup
// waits for the update rather than answer from an older state, so a change
// committed since is hidden from it for no longer than documented. The
// client's clock is driven by the test (Config.Now), so the ages are
// exact whatever the machine's load.
func TestAnswersWhileAnUpdateRunsAreBounded(t *testing.T) {
	url, chainID := startNode(t)
	honest := newClient(t, url, chainID)
	gate := &statusGate{node: url, arrived: make(chan struct{}, 1)}
	srv := httptest.NewServer(gate)
	defer srv.Close()

	const maxAge = 30 * time.Second
	var clock atomic.Int64 // unix nanoseconds
	set := func(at time.Time) { clock.Store(at.UnixNano()) }
	set(time.Now())
	ctx := context.Background()
	c, err := lookup.New(ctx, lookup.Config{ChainID: chainID, Primary: srv.URL, MaxAge: maxAge,
		Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	verified := time.Now()
	set(verified)
	old, err := c.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	await.True(t, time.Minute, "the chain two blocks past the verified header", func() bool {
		h, err := honest.Height(ctx)
		return err == nil && h > old.Height+2
	})

	// A: past MaxAge, a lookup verifies a newer header; its node holds the
	// status request.
	set(verified.Add(maxAge + time.Second))
	gate.arm()
	type result struct {
		lb  *types.LightBlock
		err error
	}
	a := make(chan result, 1)
	go func() {
		lb, err := c.Latest(ctx)
		a <- result{lb, err}
	}()
	<-gate.arrived

	// B: within MaxAge + MaxStale, a lookup goes on with the last header.
	lb, err := c.Latest(ctx)
	if err != nil || lb.Height != old.Height {
		t.Fatalf("a lookup %v after the last verification, while an update runs: %v, %v; want the header at height %d", maxAge+time.Second, lb, err, old.Height)
	}

	// C: at MaxAge + MaxStale, it waits for the update instead.
	set(verified.Add(maxAge + lookup.MaxStale))
	cres := make(chan result, 1)
	go func() {
		lb, err := c.Latest(ctx)
		cres <- result{lb, err}
	}()
	gate.open()
	for name, ch := range map[string]chan result{"the updating lookup": a, "a lookup at MaxAge + MaxStale": cres} {
		r := <-ch
		if r.err != nil {
			t.Fatalf("%s: %v", name, r.err)
		}
		if r.lb.Height <= old.Height+2 {
			t.Fatalf("%s answered from the header at height %d (the chain was past %d when the clock reached MaxAge + MaxStale): want a newer one",
				name, r.lb.Height, old.Height+2)
		}
	}
}
