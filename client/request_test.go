package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
)

// TestRequestQueuedUntilTheirHubAnswers: while bob's hub is down, alice's
// request waits on her device, and so does what she writes him; no half
// contact: asking again retries rather than saying "already a contact".
// When the hub is back, Flush delivers the request; bob sees its greeting
// before accepting, and reads everything after.
func TestRequestQueuedUntilTheirHubAnswers(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	hub := startRestartableHub(t)
	state := filepath.Join(t.TempDir(), "alice")
	alice, id, dir := w.userWithState("alice", w.hubs[0], state)
	bob := w.user("bob", "http://"+hub.addr)
	w.settle("alice", "bob")

	hub.stop()
	var q *client.QueuedError
	if err := alice.Request(ctx, "bob", "hi bob"); !errors.As(err, &q) || !q.Request || q.To != "bob" {
		t.Fatalf("request while bob's hub is down: %v", err)
	}
	if got := alice.Asking(ctx, "bob"); got != client.RequestQueued {
		t.Fatalf("asking: %v", got)
	}
	if err := alice.Request(ctx, "bob", "hi again"); !errors.As(err, &q) || !q.Request {
		t.Fatalf("asking again while queued: %v", err)
	}
	m, err := alice.SendEvent(ctx, client.ContactConv("bob"), &wire.Event{Kind: wire.KindText, Text: "are you there?"})
	if !errors.As(err, &q) || !q.Request {
		t.Fatalf("a message while the request is queued: %v", err)
	}
	if st := alice.StateOf(client.ContactConv("bob"), m.Seq, wire.Receipt{}); st != client.StateQueued {
		t.Fatalf("its state: %s", st)
	}

	hub.start()
	alice, err = client.Open(ctx, "alice", id, dir, w.hubs[0], state) // the next command
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Flush(ctx); err != nil {
		t.Fatalf("flush once bob's hub is back: %v", err)
	}
	if got := alice.Asking(ctx, "bob"); got != client.RequestSent {
		t.Fatalf("asking once delivered: %v", got)
	}
	if err := alice.Request(ctx, "bob", "hi again"); !errors.Is(err, client.ErrNoAnswer) {
		t.Fatalf("asking again once delivered: %v", err)
	}
	p, bad, err := bob.Requests(ctx)
	if err != nil || len(bad) != 0 || len(p) != 1 || p[0].From != "alice" || p[0].Intro.Greeting != "hi bob" {
		t.Fatalf("bob's requests: %+v %v %v", p, bad, err)
	}
	if err := bob.Accept(ctx, p[0]); err != nil {
		t.Fatal(err)
	}
	if got := alice.Asking(ctx, "bob"); got != client.Answered {
		t.Fatalf("asking once bob accepted: %v", got)
	}
	if err := alice.Request(ctx, "bob", "hi again"); !errors.Is(err, client.ErrAlreadyContact) {
		t.Fatalf("asking a contact: %v", err)
	}
	if got, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil || strings.Join(texts(got), "|") != "hi bob|are you there?" {
		t.Fatalf("bob receives %v %v", texts(got), err)
	}
}

// TestRequestDeliveredTwice: a request whose post reached the hub but
// whose answer was lost is posted again; bob sees it once (even when two
// copies are in his inbox), and once he accepts, no copy is left.
func TestRequestDeliveredTwice(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	var lost atomic.Int32
	lose := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		res, err := http.DefaultTransport.RoundTrip(r)
		if err == nil && r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/inbox/") && lost.Add(1) == 1 {
			res.Body.Close()
			return nil, errors.New("connection reset before the answer")
		}
		return res, err
	})
	w.opts = append(w.opts, client.WithHTTPClient(&http.Client{Transport: lose}))
	alice := w.user("alice", w.hubs[0])
	w.opts = w.opts[:len(w.opts)-1]
	bob := w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	if err := alice.Request(ctx, "bob", "hi bob"); !errors.Is(err, client.ErrQueued) {
		t.Fatalf("a request whose answer was lost: %v", err)
	}
	if err := alice.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The retry in the same second finds its stamp taken (the hub took
	// this very post), in another it posts a copy: make sure of a copy.
	objs, _, _ := w.drivers[1].List(ctx, "_inbox", "", "", 10)
	if len(objs) == 0 {
		t.Fatal("no request in bob's inbox")
	}
	_, rc, err := w.drivers[1].Get(ctx, "_inbox", objs[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := io.ReadAll(rc)
	rc.Close()
	ts, rest, _ := strings.Cut(objs[0].Path, "-")
	addr, n, _ := strings.Cut(ts, "/")
	later, _ := strconv.ParseUint(n, 10, 64)
	if _, err := w.drivers[1].Put(ctx, "_inbox", fmt.Sprintf("%s/%020d-%s", addr, later+1, rest), bytes.NewReader(env), hub.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	p, _, err := bob.Requests(ctx)
	if err != nil || len(p) != 1 {
		t.Fatalf("bob's requests: %+v %v", p, err)
	}
	if err := bob.Accept(ctx, p[0]); err != nil {
		t.Fatal(err)
	}
	if p, _, err := bob.Requests(ctx); err != nil || len(p) != 0 {
		t.Fatalf("bob's requests after accepting: %+v %v", p, err)
	}
	if objs, _, _ := w.drivers[1].List(ctx, "_inbox", "", "", 10); len(objs) != 0 {
		t.Fatalf("%d envelopes left in bob's inbox", len(objs))
	}
}

// TestRequestReadsNothingOfTheRequester: bob sees who asks and what they
// say from the sealed envelope alone; listing the request contacts none of
// the requester's hubs (a stranger cannot use a request as a tracking
// pixel), even while they are up.
func TestRequestReadsNothingOfTheRequester(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	var (
		mu    sync.Mutex
		hosts []string
	)
	record := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		hosts = append(hosts, r.URL.Host)
		mu.Unlock()
		return http.DefaultTransport.RoundTrip(r)
	})
	alice := w.user("alice", w.hubs[0])
	w.opts = append(w.opts, client.WithHTTPClient(&http.Client{Transport: record}))
	bob := w.user("bob", w.hubs[1])
	w.opts = w.opts[:len(w.opts)-1]
	w.settle("alice", "bob")
	if err := alice.Request(ctx, "bob", "hi bob, it's alice from the climbing club"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	hosts = nil
	mu.Unlock()
	p, _, err := bob.Requests(ctx)
	if err != nil || len(p) != 1 || p[0].Intro.Greeting != "hi bob, it's alice from the climbing club" {
		t.Fatalf("bob's requests: %+v %v", p, err)
	}
	aliceHost := strings.TrimPrefix(w.hubs[0], "http://")
	mu.Lock()
	defer mu.Unlock()
	if len(hosts) == 0 || slices.Contains(hosts, aliceHost) {
		t.Fatalf("listing the request asked %v (alice's hub is %s)", hosts, aliceHost)
	}
}

// TestIntroductionQueuedWhileOwnHubDown: case 1 (both know each other's
// names) with alice's only hub down: her introduction waits on her device
// (no half contact: asking again retries), goes out with the next Flush
// once the hub answers, and bob's side then takes it.
func TestIntroductionQueuedWhileOwnHubDown(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	hub := startRestartableHub(t)
	state := filepath.Join(t.TempDir(), "alice")
	alice, id, dir := w.userWithState("alice", "http://"+hub.addr, state)
	bob := w.user("bob", w.hubs[1])
	w.settle("alice", "bob")

	hub.stop()
	var q *client.QueuedError
	if err := alice.Introduce(ctx, "bob", "hi bob"); !errors.As(err, &q) || !q.Intro {
		t.Fatalf("introduction while alice's hub is down: %v", err)
	}
	if got := alice.Asking(ctx, "bob"); got != client.RequestQueued {
		t.Fatalf("asking: %v", got)
	}
	hub.start()
	if err := bob.Introduce(ctx, "alice", "hi alice"); !errors.Is(err, client.ErrIntroPending) {
		t.Fatalf("bob before alice's introduction is out: %v", err)
	}
	alice, err := client.Open(ctx, "alice", id, dir, "http://"+hub.addr, state) // the next command
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Flush(ctx); err != nil {
		t.Fatalf("flush once the hub is back: %v", err)
	}
	if got := alice.Asking(ctx, "bob"); got != client.IntroWritten {
		t.Fatalf("asking once written: %v", got)
	}
	if err := bob.Introduce(ctx, "alice", "hi alice"); err != nil {
		t.Fatal(err)
	}
	if got, err := alice.Receive(ctx, client.ContactConv("bob")); err != nil || strings.Join(texts(got), "|") != "hi alice" {
		t.Fatalf("alice receives %v %v", texts(got), err)
	}
	if got := alice.Asking(ctx, "bob"); got != client.Answered {
		t.Fatalf("asking once bob answered: %v", got)
	}
	if h := bob.History(); len(h) != 2 || h[0].Text != "hi bob" {
		t.Fatalf("bob's history %+v", h)
	}
}
