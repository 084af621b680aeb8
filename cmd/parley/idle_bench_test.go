package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/chain/node/nodetest"
	"github.com/parley-im/parley/client/clienttest"
	"github.com/parley-im/parley/hub/server"
	"github.com/parley-im/parley/hub/server/hubtest"
	"github.com/parley-im/parley/internal/agent"
	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/await"
)

// counter stands in front of a hub or a chain node (a reverse proxy on
// 127.0.0.1) and counts what reaches it: requests, and TCP connections
// open now.
type counter struct {
	URL      string
	requests atomic.Int64
	open     atomic.Int64
}

// newCounter listens on 127.0.0.1; serve starts the proxying.
func newCounter(t testing.TB) (*counter, net.Listener) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &counter{URL: "http://" + l.Addr().String()}, l
}

// serve proxies what reaches l to target until the test ends.
func (c *counter) serve(t testing.TB, l net.Listener, target string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.FlushInterval = -1 // watch streams go through as they come
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.requests.Add(1)
			proxy.ServeHTTP(w, r)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				c.open.Add(1)
			case http.StateClosed, http.StateHijacked:
				c.open.Add(-1)
			}
		},
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

// BenchmarkAgentIdleThousand measures bob's agent ('parley daemon', the
// full build, a process of its own) holding 1,000 contacts, half writing
// to each of two hubs, once it has caught up and nothing changes: the
// requests per minute that reach the hubs and the chain node, and the
// connections open to each, counted at them (a counting proxy in front of
// each: the URLs registered on the chain and in bob's config are the
// proxies'), and the agent's resident memory. The contacts are made
// cheaply through the library: registered on the chain, each introduces
// itself to bob, who adds them all through his agent's API. Run it
// with -benchtime 1x; docs/benchmarks.md has the figures.
func BenchmarkAgentIdleThousand(b *testing.B) {
	const contacts = 1000
	idle := time.Minute
	if s := os.Getenv("PARLEY_IDLE_WINDOW"); s != "" { // a shorter look, by hand
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		idle = d
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := b.TempDir()
	_, core := buildParley(b, dir)
	const chainID = "idle"
	rpc := nodetest.Start(b, chainID)
	node, l := newCounter(b)
	node.serve(b, l, rpc)
	var hubs []*counter
	for range 2 {
		// The hub's public URL is its counter's: tokens and inbox stamps
		// are bound to the URL on the chain. Every contact introduces
		// itself from 127.0.0.1: the inbox takes them all.
		c, l := newCounter(b)
		h := hubtest.Start(b, func(cfg *server.Config) {
			cfg.PublicURL, cfg.InboxPerMinute, cfg.InboxMaxEntries = c.URL, 1<<20, 2*contacts
		})
		c.serve(b, l, h.URL)
		hubs = append(hubs, c)
	}
	b.Setenv("PARLEY_PASSPHRASE", "an idle bench passphrase")
	bob := filepath.Join(dir, "bob")
	initHome(b, node.URL, bob)
	parley(b, "--home", bob, "register", "bob", "--hub", hubs[0].URL)

	shared := await.Value(b, 2*time.Minute, "a light client of the chain", func() (*lookup.Client, error) {
		return lookup.New(ctx, lookup.Config{ChainID: chainID, Primary: rpc, MaxAge: time.Nanosecond})
	})
	defer shared.Close()
	await.NoError(b, 2*time.Minute, "bob's name", func() error { _, err := shared.Lookup(ctx, "bob"); return err })
	start := time.Now()
	if _, err := clienttest.Contacts(ctx, shared, []string{hubs[0].URL, hubs[1].URL}, contacts, "bob", "hello bob"); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d contacts registered and introduced in %v", contacts, time.Since(start).Round(time.Second))

	daemon := exec.CommandContext(ctx, core, "--home", bob, "daemon")
	var logs syncBuffer
	daemon.Stderr = &logs
	if err := daemon.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		daemon.Process.Signal(os.Interrupt)
		daemon.Wait()
	}()
	c := api.NewUnix(agent.SocketPath(bob))
	defer c.Close()
	await.NoError(b, 2*time.Minute, "bob's daemon to serve", func() error {
		_, err := c.Agent(ctx)
		if err != nil {
			return fmt.Errorf("%w; its log:\n%s", err, logs.String())
		}
		return nil
	})
	// Bob adds each (their names sort before his: each has introduced
	// itself, and bob's introduction completes the conversation).
	start = time.Now()
	for i := range contacts {
		if _, err := c.AddContact(ctx, api.AddContactRequest{Name: fmt.Sprintf("a%04d", i), Greeting: "hello", Known: true}); err != nil {
			b.Fatalf("adding a%04d: %v", i, err)
		}
	}
	await.NoError(b, 5*time.Minute, "bob's 1,000 contacts", func() error {
		cs, err := c.Contacts(ctx)
		if err == nil && len(cs.Contacts) < contacts {
			err = fmt.Errorf("%d contacts", len(cs.Contacts))
		}
		return err
	})
	b.Logf("1,000 contacts added through the agent in %v", time.Since(start).Round(time.Second))

	// Caught up: the agent has written its receipts and its backup. Idle
	// begins once a while passes with no request to the hubs or the chain
	// (a minute's backup of the accepts, pooled connections closing).
	total := func() int64 { return node.requests.Load() + hubs[0].requests.Load() + hubs[1].requests.Load() }
	start = time.Now()
	for last, quiet := total(), time.Now(); time.Since(quiet) < 20*time.Second; time.Sleep(time.Second) {
		if n := total(); n != last {
			last, quiet = n, time.Now()
		}
		if time.Since(start) > 10*time.Minute {
			b.Fatalf("the agent never went quiet: %d requests in 10 minutes", total())
		}
	}
	b.Logf("quiet after %v", time.Since(start).Round(time.Second))
	b.ResetTimer()
	before := []int64{node.requests.Load(), hubs[0].requests.Load(), hubs[1].requests.Load()}
	time.Sleep(idle) // what is measured is what happens in this window
	perMinute := func(i int, c *counter) float64 {
		return float64(c.requests.Load()-before[i]) * float64(time.Minute) / float64(idle)
	}
	b.ReportMetric(perMinute(0, node), "chain-req/min")
	b.ReportMetric(perMinute(1, hubs[0])+perMinute(2, hubs[1]), "hub-req/min")
	b.ReportMetric(float64(hubs[0].open.Load()), "hub0-conns")
	b.ReportMetric(float64(hubs[1].open.Load()), "hub1-conns")
	b.ReportMetric(float64(node.open.Load()), "chain-conns")
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", daemon.Process.Pid)); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
				kb, _ := strconv.Atoi(f[1])
				b.ReportMetric(float64(kb)/1024, "rss-MB")
			}
		}
	}
}
