package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/parley-im/parley/hub/driver/memory"
	"github.com/parley-im/parley/hub/server"
)

// switchedHub is a real hub whose listener can be closed (connections
// to it are refused, as to a hub that is down) and opened again on the
// same address, with what it stored.
type switchedHub struct {
	URL     string
	addr    string
	handler http.Handler
	mu      sync.Mutex
	srv     *http.Server
}

func startSwitchedHub(t *testing.T) *switchedHub {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &switchedHub{addr: l.Addr().String()}
	h.URL = "http://" + h.addr
	srv, err := server.New(server.Config{Driver: memory.New(), PublicURL: h.URL, InboxPowDifficulty: 6})
	if err != nil {
		t.Fatal(err)
	}
	h.handler = srv.Handler()
	h.serve(l)
	t.Cleanup(func() { h.down(t); srv.Close() })
	return h
}

func (h *switchedHub) serve(l net.Listener) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.srv = &http.Server{Handler: h.handler}
	go h.srv.Serve(l)
}

// down closes the hub's listener and connections.
func (h *switchedHub) down(t *testing.T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.srv != nil {
		if err := h.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Fatal(err)
		}
		h.srv = nil
	}
}

// up listens on the hub's address again.
func (h *switchedHub) up(t *testing.T) {
	l, err := net.Listen("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	h.serve(l)
}

// TestRequestQueuedWhileHubDown: a request whose recipient's hub is down
// makes no half contact: it is queued, shown as such, a message to the
// name says it waits with it, and both go out with the next command once
// the hub answers; bob then reads the greeting and the message.
func TestRequestQueuedWhileHubDown(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	bobsHub := startSwitchedHub(t)
	h := world(t, rpc, hubs[0], "alice")
	for n, hub := range map[string]string{"bob": bobsHub.URL} {
		h[n] = t.TempDir()
		initHome(t, rpc, h[n])
		parley(t, "--home", h[n], "register", n, "--hub", hub)
		awaitName(t, h["alice"], n)
	}

	bobsHub.down(t)
	if out := parley(t, "--home", h["alice"], "contacts", "add", "bob", "--message", "hi bob, it's alice"); !strings.Contains(out, "request to bob queued: their hub "+bobsHub.URL+" does not answer; it goes out with your next parley command (or a running watch) once it does\n") {
		t.Fatalf("contacts add while bob's hub is down:\n%s", out)
	}
	want := "bob\trequest queued: it goes out with your next parley command (or a running watch) once one of bob's hubs answers\n"
	if out := parley(t, "--home", h["alice"], "contacts"); out != want {
		t.Fatalf("contacts while the request is queued:\n%q, want\n%q", out, want)
	}
	if out := parley(t, "--home", h["alice"], "contacts", "add", "bob"); !strings.Contains(out, "request to bob queued") {
		t.Fatalf("contacts add again while the request is queued:\n%s", out)
	}
	if out := parley(t, "--home", h["alice"], "send", "bob", "are you there?"); !strings.HasPrefix(out, "queued (alice/2): your contact request has not reached bob yet; this message goes out with it, with your next parley command (or a running watch) once one of bob's hubs answers\n") {
		t.Fatalf("send while the request is queued:\n%s", out)
	}
	const pending = "pending:  1 contact request none of its hubs took yet: it goes out with your next command ('parley contacts' says which)\n"
	if out := parley(t, "--home", h["alice"], "status"); !strings.Contains(out, pending) {
		t.Fatalf("status while the request is queued:\n%s", out)
	}

	bobsHub.up(t)
	if out := parley(t, "--home", h["alice"], "contacts"); out != "bob\trequest sent, waiting for bob to accept\n" {
		t.Fatalf("contacts once bob's hub answers:\n%q", out)
	}
	if out := parley(t, "--home", h["alice"], "status"); strings.Contains(out, "contact request") {
		t.Fatalf("status once the request went out:\n%s", out)
	}
	var out, errb bytes.Buffer
	if run(context.Background(), []string{"--home", h["bob"], "requests"}, nil, &out, &errb); !strings.Contains(out.String(), "alice\t(signature verified against the chain): hi bob, it's alice\n") {
		t.Fatalf("bob's requests:\n%s%s", out.String(), errb.String())
	}
	parley(t, "--home", h["bob"], "contacts", "accept", "alice")
	if got := parley(t, "--home", h["bob"], "read", "alice"); !strings.Contains(got, "alice: hi bob, it's alice\n") || !strings.Contains(got, "alice: are you there?\n") {
		t.Fatalf("bob reads:\n%s", got)
	}
}
