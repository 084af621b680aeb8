package server_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/drivertest"
	"github.com/parley-im/parley/hub/server"
)

// TestExpiry: a write may carry X-Parley-Expires; the object is served
// with it until then, and from then on it is not found, not listed, and
// deleted by the sweeper, which tells watchers. Expiries that are not
// Unix seconds in the future are refused, storing nothing.
func TestExpiry(t *testing.T) {
	clk := &drivertest.Clock{}
	start := time.Now().Truncate(time.Second)
	clk.Set(start)
	e := newEnv(t, func(c *server.Config) { c.Now, c.SweepEvery = clk.Now, 5*time.Millisecond })
	w := e.watch("follow="+e.addr, "Authorization", e.tok)
	if ev := w.next(t); ev.event != "ready" {
		t.Fatalf("first event %+v", ev)
	}
	exp := fmt.Sprint(start.Add(time.Minute).Unix())
	for _, bad := range []string{"soon", "+99999999999", "-1", fmt.Sprint(start.Unix()), fmt.Sprint(start.Add(-time.Hour).Unix()), fmt.Sprint(start.Add(server.MaxExpiry + time.Hour).Unix()), "0x10"} {
		res, b := e.do("POST", "/store/"+e.addr+"/m/x", []byte("x"), "Authorization", e.tok, server.ExpiresHeader, bad)
		if res.StatusCode != 400 || !strings.Contains(string(b), "X-Parley-Expires") {
			t.Errorf("expiry %q: %d %s", bad, res.StatusCode, b)
		}
	}
	if e.stored() != 0 {
		t.Fatal("a refused expiry stored something")
	}
	if res, b := e.do("POST", "/store/"+e.addr+"/m/1", []byte("disappearing"), "Authorization", e.tok, server.ExpiresHeader, exp); res.StatusCode != 202 {
		t.Fatalf("store with expiry: %d %s", res.StatusCode, b)
	}
	e.do("POST", "/store/"+e.addr+"/m/2", []byte("kept"), "Authorization", e.tok)
	if res, b := e.do("GET", "/read/"+e.addr+"/m/1", nil); res.StatusCode != 200 || string(b) != "disappearing" || res.Header.Get(server.ExpiresHeader) != exp {
		t.Fatalf("read before expiry: %d %q %v", res.StatusCode, b, res.Header)
	}
	if _, b := e.do("POST", "/list-files/"+e.addr, []byte(`{"stat":true}`), "Authorization", e.tok); !strings.Contains(string(b), `"expires":`+exp) {
		t.Fatalf("stat listing: %s", b)
	}
	for range 2 { // the two writes
		w.next(t)
	}

	clk.Set(start.Add(time.Minute))
	if res, _ := e.do("GET", "/read/"+e.addr+"/m/1", nil); res.StatusCode != 404 {
		t.Fatalf("read after expiry: %d", res.StatusCode)
	}
	if _, b := e.do("POST", "/list-files/"+e.addr, nil, "Authorization", e.tok); !strings.Contains(string(b), `"entries":["m/2"]`) {
		t.Fatalf("listing after expiry: %s", b)
	}
	if ev := w.next(t); ev.event != "change" || !strings.Contains(ev.data, `"path":"m/1"`) || !strings.Contains(ev.data, `"op":"delete"`) {
		t.Fatalf("the sweeper's event: %+v", ev)
	}
	clk.Set(start) // deleted, not hidden
	if _, err := e.drv.Stat(context.Background(), e.addr, "m/1"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("the driver still holds the expired object: %v", err)
	}
}
