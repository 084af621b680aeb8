package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/server"
	"github.com/parley-im/parley/hub/server/hubtest"
	"github.com/parley-im/parley/internal/await"
)

// hubClock is a hub's settable clock.
type hubClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *hubClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *hubClock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// readURL GETs a blob from a hub as anyone can, and returns the status.
func readURL(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestDisappearsWhileTheSenderIsOff: alice sets a timer with bob, sends,
// and her device stays off from then on. bob does not read it either.
// Her hub keeps the message for bob while he may still come (past the
// timer), and once the delivery window is over it stops serving it and
// deletes it, on its own.
func TestDisappearsWhileTheSenderIsOff(t *testing.T) {
	rpc, hubs := startWorld(t)
	clk := &hubClock{}
	ahub := hubtest.Start(t, func(c *server.Config) { c.Now, c.SweepEvery = clk.Now, 10*time.Millisecond })
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	alice, bob := aliceAndBob(t, rpc, ahub.URL, hubs[0])
	inTouch(t, alice, bob, "hi bob")
	parley(t, "--home", bob, "read", "alice")
	if out := parley(t, "--home", alice, "timer", "bob", "1h"); !strings.Contains(out, "disappear 1h0m0s after they are sent") {
		t.Fatalf("timer: %s", out)
	}
	addr := inboxAddress(t, alice)
	before, _, _ := ahub.Driver.List(context.Background(), addr, "m/", "", 100)
	parley(t, "--home", alice, "send", "bob", "gone by itself")
	// alice's device is off from here on: no parley command of hers runs.
	after, _, _ := ahub.Driver.List(context.Background(), addr, "m/", "", 100)
	var url, path string
	for _, o := range after {
		if !o.Expires.IsZero() {
			path, url = o.Path, ahub.URL+"/read/"+addr+"/"+o.Path
		}
	}
	if len(after) != len(before)+1 || url == "" {
		t.Fatalf("alice's hub holds %d message blobs (had %d), none with an expiry", len(after), len(before))
	}
	if got := readURL(t, url); got != http.StatusOK {
		t.Fatalf("GET of the message just sent: %d", got)
	}
	clk.advance(2 * time.Hour) // past the timer: bob, who has not fetched it, still can
	if got := readURL(t, url); got != http.StatusOK {
		t.Fatalf("GET of the unread message after its timer: %d", got)
	}
	deleted := watchDeletes(t, ahub.URL, addr)
	clk.advance(14 * 24 * time.Hour) // past the delivery window
	if got := readURL(t, url); got != http.StatusNotFound {
		t.Fatalf("GET of the message after the delivery window, alice's device off: %d, want 404", got)
	}
	// And the hub's sweeper deletes it (and says so to watchers): with the
	// clock set back, it is not there either.
	select {
	case p := <-deleted:
		if p != path {
			t.Fatalf("the sweeper deleted %s, not the message %s", p, path)
		}
	case <-time.After(time.Minute):
		t.Fatal("waited a minute for the hub's sweeper to delete the expired message")
	}
	clk.advance(-14*24*time.Hour - 2*time.Hour)
	if _, err := ahub.Driver.Stat(context.Background(), addr, path); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("the expired message is still in the hub's storage: %v", err)
	}
}

// watchDeletes follows address on the hub at url, as any watcher can,
// and sends the path of each delete it is told of.
func watchDeletes(t *testing.T, url, address string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/watch?follow="+address, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("watch: %v %v", err, res)
	}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() && sc.Text() != "event: ready" { // the backlog
	}
	out := make(chan string, 16)
	go func() {
		defer res.Body.Close()
		for sc.Scan() {
			var ev struct{ Path, Op string }
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && json.Unmarshal([]byte(data), &ev) == nil && ev.Op == "delete" {
				out <- ev.Path
			}
		}
	}()
	return out
}

// TestReadLateThenDisappears: with a one-second timer, bob reads alice's
// message only after it disappeared from alice's device: he still gets
// it, and it disappears from his a second after he read it. alice's next
// command, seeing bob fetched it, deletes it from her hub.
func TestReadLateThenDisappears(t *testing.T) {
	rpc, hubs := startWorld(t)
	ahub := hubtest.Start(t, nil)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	alice, bob := aliceAndBob(t, rpc, ahub.URL, hubs[1])
	inTouch(t, alice, bob, "hi bob")
	parley(t, "--home", bob, "read", "alice")
	parley(t, "--home", alice, "timer", "bob", "1s")
	parley(t, "--home", alice, "send", "bob", "read me late")
	addr := inboxAddress(t, alice)
	var url string
	objs, _, _ := ahub.Driver.List(context.Background(), addr, "m/", "", 100)
	for _, o := range objs {
		if !o.Expires.IsZero() {
			url = ahub.URL + "/read/" + addr + "/" + o.Path
		}
	}
	if url == "" {
		t.Fatal("the message went to alice's hub without an expiry")
	}
	await.True(t, 2*time.Minute, "the message to leave alice's device", func() bool {
		return !strings.Contains(parley(t, "--home", alice, "read", "bob"), "read me late")
	})
	if got := readURL(t, url); got != http.StatusOK {
		t.Fatalf("the message bob has not fetched left alice's hub: %d", got)
	}
	if got := parley(t, "--home", bob, "read", "alice"); !strings.Contains(got, "alice: read me late") {
		t.Fatalf("bob reads late:\n%s", got)
	}
	await.True(t, 2*time.Minute, "the message to leave bob's device a second after he read it", func() bool {
		return !strings.Contains(parley(t, "--home", bob, "read", "alice"), "read me late")
	})
	// bob's receipt says he has it: alice's next command deletes the blob.
	parley(t, "--home", alice, "contacts")
	if got := readURL(t, url); got != http.StatusNotFound {
		t.Fatalf("GET of the fetched message after alice's next command: %d, want 404", got)
	}
}

// TestTimerOnAHubWithoutExpiry: alice's hub does not delete objects at
// their expiry (a Gaia hub, or one that says "expiry": false in its
// hub_info). What she sends with a timer stays there while her device is
// off, past the delivery window, for as long as nothing deletes it; she
// sets a timer believing otherwise. parley says so when she sets it.
func TestTimerOnAHubWithoutExpiry(t *testing.T) {
	rpc, hubs := startWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gaiaLike := "http://" + ln.Addr().String()
	real := hubtest.Start(t, func(c *server.Config) { c.PublicURL = gaiaLike })
	target, _ := url.Parse(real.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(res *http.Response) error {
		if res.Request.URL.Path != "/hub_info" {
			return nil
		}
		var info map[string]any
		if err := json.NewDecoder(res.Body).Decode(&info); err != nil {
			return err
		}
		res.Body.Close()
		info["parley"].(map[string]any)["expiry"] = false
		b, _ := json.Marshal(info)
		res.Body, res.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		res.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	srv := &http.Server{Handler: proxy}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	alice, bob := aliceAndBob(t, rpc, gaiaLike, hubs[0])
	inTouch(t, alice, bob, "hi bob")
	parley(t, "--home", bob, "read", "alice")
	code, out, errs := try(alice, "timer", "bob", "1h")
	if code != 0 || !strings.Contains(out, "disappear 1h0m0s after they are sent") {
		t.Fatalf("timer: exit %d\n%s%s", code, out, errs)
	}
	if want := "hub " + gaiaLike + " does not delete what it holds at its expiry"; !strings.Contains(errs, want) || !strings.Contains(errs, "parley name hubs") {
		t.Fatalf("timer on a hub without expiry says:\n%s\nwant a warning that %s, and what to do", errs, want)
	}
	// A hub that does, says nothing.
	if code, _, errs := try(bob, "timer", "alice", "2h"); code != 0 || strings.Contains(errs, "does not delete") {
		t.Fatalf("timer on a hub with expiry: exit %d\n%s", code, errs)
	}
}
