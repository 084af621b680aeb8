package hubclient_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/hub/driver/memory"
	"github.com/parley-im/parley/hub/server"
	"github.com/parley-im/parley/internal/await"
)

// recordingHub is a real hub in front of which every request's
// Authorization header is recorded, by route.
type recordingHub struct {
	url string
	mu  sync.Mutex
	tok map[string][]string // "METHOD /route" → headers
}

func newRecordingHub(t *testing.T) *recordingHub {
	ts := httptest.NewUnstartedServer(nil)
	srv, err := server.New(server.Config{Driver: memory.New(), PublicURL: "http://" + ts.Listener.Addr().String(), InboxPowDifficulty: 4})
	if err != nil {
		t.Fatal(err)
	}
	h := &recordingHub{tok: map[string][]string{}}
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("Authorization"); v != "" {
			route, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
			h.mu.Lock()
			h.tok[r.Method+" /"+route] = append(h.tok[r.Method+" /"+route], v)
			h.mu.Unlock()
		}
		srv.Handler().ServeHTTP(w, r)
	})
	ts.Start()
	t.Cleanup(func() { srv.Close(); ts.Close() })
	h.url = ts.URL
	return h
}

func (h *recordingHub) headers() map[string][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]string{}
	for k, v := range h.tok {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// TestNoKeyNoToken: a client dialed without a key (for someone else's
// hub) reads, posts to inboxes and watches without ever sending a token,
// and refuses what needs one with ErrNoKey.
func TestNoKeyNoToken(t *testing.T) {
	h := newRecordingHub(t)
	ctx := context.Background()
	alice := dial(t, h.url, 1)
	alice.Put(ctx, "m/1", []byte("x"), "", hubclient.Cond{})
	before := len(h.headers()["POST /store"])
	reader, err := hubclient.Dial(ctx, h.url, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _, err := reader.Get(ctx, alice.Address(), "m/1"); err != nil || string(b) != "x" {
		t.Fatalf("read: %q %v", b, err)
	}
	if _, err := reader.InboxPost(ctx, alice.Address(), []byte("sealed")); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{})
	go reader.Watch(wctx, []hubclient.Follow{{Address: alice.Address(), Prefix: "_inbox/"}}, "", func(ev hubclient.Event) error {
		if ev.Kind == "ready" {
			close(ready)
		}
		return nil
	})
	<-ready
	cancel()
	if _, err := reader.Put(ctx, "m/2", []byte("x"), "", hubclient.Cond{}); !errors.Is(err, hubclient.ErrNoKey) {
		t.Fatalf("a put without a key: %v", err)
	}
	if _, err := reader.List(ctx); !errors.Is(err, hubclient.ErrNoKey) {
		t.Fatalf("a list without a key: %v", err)
	}
	if _, err := reader.InboxList(ctx); !errors.Is(err, hubclient.ErrNoKey) {
		t.Fatalf("an inbox list without a key: %v", err)
	}
	got := h.headers()
	if len(got["POST /store"]) != before || len(got) != 1 {
		t.Fatalf("tokens sent: %v", got)
	}
}

// TestTokensScopedAndBound: each token the client sends is for its one
// operation and this hub: the write token replayed cannot delete, list or
// read the inbox; the watch token (sent only when following the user's
// own inbox) can only read the inbox.
func TestTokensScopedAndBound(t *testing.T) {
	h := newRecordingHub(t)
	ctx := context.Background()
	alice := dial(t, h.url, 1)
	alice.Put(ctx, "m/1", []byte("x"), "", hubclient.Cond{})
	if _, err := alice.List(ctx); err != nil {
		t.Fatal(err)
	}
	alice.Delete(ctx, "nothing", "")
	alice.InboxList(ctx)
	wctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{}, 2)
	watch := func(prefix string) {
		go alice.Watch(wctx, []hubclient.Follow{{Address: alice.Address(), Prefix: prefix}}, "", func(ev hubclient.Event) error {
			if ev.Kind == "ready" {
				ready <- struct{}{}
			}
			return nil
		})
		<-ready
	}
	watch("m/")
	if n := len(h.headers()["POST /watch"]); n != 0 {
		t.Fatalf("a watch not following the inbox sent %d tokens", n)
	}
	watch("_inbox/")
	cancel()
	got := h.headers()
	for _, k := range []string{"POST /store", "POST /list-files", "DELETE /delete", "GET /inbox", "POST /watch"} {
		if len(got[k]) == 0 {
			t.Fatalf("no token recorded for %s: %v", k, got)
		}
	}
	replay := func(tok, method, path, body string) int {
		req, _ := http.NewRequest(method, h.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	a := alice.Address()
	ops := map[string]struct{ method, path, body string }{
		"POST /store":      {"POST", "/store/" + a + "/m/planted", "x"},
		"DELETE /delete":   {"DELETE", "/delete/" + a + "/m/1", ""},
		"POST /list-files": {"POST", "/list-files/" + a, "{}"},
		"GET /inbox":       {"GET", "/inbox/" + a, ""},
		"POST /revoke-all": {"POST", "/revoke-all/" + a, fmt.Sprintf(`{"oldestValidTimestamp":%d}`, time.Now().Unix())},
	}
	for from, toks := range got {
		for op, r := range ops {
			allowed := from == op || from == "POST /watch" && op == "GET /inbox"
			status := replay(toks[0], r.method, r.path, r.body)
			if allowed != (status < 300) || !allowed && status != 401 {
				t.Errorf("the token of %s, replayed as %s: %d", from, op, status)
			}
		}
	}
}

// TestOwnerWritesAfterRevokeAll: a thief holding one of the owner's
// tokens moves the bucket's oldest valid timestamp to now; the owner's
// client, whose token predates it, makes a fresh one and goes on.
func TestOwnerWritesAfterRevokeAll(t *testing.T) {
	h := newRecordingHub(t)
	ctx := context.Background()
	alice := dial(t, h.url, 1)
	alice.Put(ctx, "m/1", []byte("x"), "", hubclient.Cond{})
	// alice watches her inbox, and writes, before the thief acts.
	wctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{})
	go alice.Watch(wctx, []hubclient.Follow{{Address: alice.Address(), Prefix: "_inbox/"}}, "", func(ev hubclient.Event) error {
		if ev.Kind == "ready" {
			close(ready)
		}
		return nil
	})
	<-ready
	cancel()
	// The thief has a token with the revokeAll scope (a token of an older
	// client, which had no scopes, would do too).
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	thief := "bearer " + auth.MakeNative(key, h.url, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), nil)
	// Wait for a new second, so that alice's token predates the revocation.
	start := time.Now().Unix()
	await.True(t, 5*time.Second, "the next second", func() bool { return time.Now().Unix() != start })
	req, _ := http.NewRequest("POST", h.url+"/revoke-all/"+alice.Address(), strings.NewReader(fmt.Sprintf(`{"oldestValidTimestamp":%d}`, time.Now().Add(4*time.Minute).Unix())))
	req.Header.Set("Authorization", thief)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 202 {
		t.Fatalf("the thief's revoke-all: %v %v", err, res)
	}
	// A watch of the inbox with the token from before: refused, and the
	// next one (as the client's watch loop retries) has a fresh token.
	inbox := []hubclient.Follow{{Address: alice.Address(), Prefix: "_inbox/"}}
	watchReady := func() error {
		return alice.Watch(ctx, inbox, "", func(ev hubclient.Event) error {
			if ev.Kind == "ready" {
				return errReady
			}
			return nil
		})
	}
	if err := watchReady(); !errors.Is(err, hub.ErrUnauthorized) {
		t.Fatalf("a watch with a token from before the revoke-all: %v", err)
	}
	if err := watchReady(); !errors.Is(err, errReady) {
		t.Fatalf("the next watch: %v", err)
	}
	if _, err := alice.Put(ctx, "m/2", []byte("y"), "", hubclient.Cond{}); err != nil {
		t.Fatalf("the owner's write after a thief's revoke-all: %v", err)
	}
	if got := h.headers()["POST /store"]; len(got) != 3 || got[1] == got[2] {
		t.Fatalf("the owner's client sent %d store tokens, want the old one refused and a fresh one", len(got))
	}
}

var errReady = errors.New("ready")
