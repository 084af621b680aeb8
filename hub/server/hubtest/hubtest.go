// Package hubtest serves a real hub (memory driver) over HTTP on
// 127.0.0.1 for tests of what is built on hubs.
//
// It is for tests only and must not be imported by a program.
package hubtest

import (
	"net/http/httptest"
	"testing"

	"github.com/parley-im/parley/hub/driver/memory"
	"github.com/parley-im/parley/hub/server"
)

// Hub is a served test hub.
type Hub struct {
	URL    string
	Driver *memory.Driver // to inspect what the operator would see
	Server *server.Server
}

// Start serves a hub until the test ends. tweak, if not nil, adjusts the
// configuration; the inbox stamp defaults to 6 bits. The memory driver
// keeps the configuration's clock (Now), if tweak sets one.
func Start(t testing.TB, tweak func(*server.Config)) *Hub {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	cfg := server.Config{PublicURL: "http://" + ts.Listener.Addr().String(), InboxPowDifficulty: 6}
	if tweak != nil {
		tweak(&cfg)
	}
	var d *memory.Driver
	if cfg.Now != nil {
		d = memory.New(memory.WithClock(cfg.Now))
	} else {
		d = memory.New()
	}
	cfg.Driver = d
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(func() { srv.Close(); ts.Close() })
	return &Hub{URL: ts.URL, Driver: d, Server: srv}
}
