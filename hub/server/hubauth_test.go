package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/hub/server"
	"github.com/parley-im/parley/internal/await"
)

var hubPutText = hub.PutOptions{ContentType: "text/plain"}

// nativeKey is an owner's Ed25519 key and address on a test hub.
type nativeKey struct {
	priv ed25519.PrivateKey
	addr string
}

func newNativeKey() nativeKey {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	return nativeKey{priv, auth.NativeAddress(priv.Public().(ed25519.PublicKey))}
}

// token makes an Authorization header for k on e's hub, issued at iat.
func (k nativeKey) token(e *env, iat time.Time, scopes ...auth.Scope) string {
	return "bearer " + auth.MakeNative(k.priv, e.url, iat, iat.Add(time.Hour), scopes)
}

func revoke(e *env, addr, tok string, ts any) (*http.Response, []byte) {
	return e.do("POST", "/revoke-all/"+addr, []byte(fmt.Sprintf(`{"oldestValidTimestamp":%v}`, ts)), "Authorization", tok)
}

func errorClass(b []byte) string {
	var m struct{ Error string }
	json.Unmarshal(b, &m)
	return m.Error
}

// TestRevokeAllCannotLockOutOwner: a thief holding one of the owner's
// tokens, revoked or not, cannot push the bucket's oldest valid timestamp
// into the future; the owner keeps writing with a freshly made token.
func TestRevokeAllCannotLockOutOwner(t *testing.T) {
	e := newEnv(t, nil)
	owner := newNativeKey()
	now := time.Now()
	stolen := owner.token(e, now.Add(-40*time.Minute))
	if res, b := e.do("POST", "/store/"+owner.addr+"/f", []byte("x"), "Authorization", stolen); res.StatusCode != 202 {
		t.Fatalf("the token works before it leaks: %d %s", res.StatusCode, b)
	}
	// The owner notices the leak and revokes every token made before 20
	// minutes ago.
	if res, b := revoke(e, owner.addr, owner.token(e, now), now.Add(-20*time.Minute).Unix()); res.StatusCode != 202 {
		t.Fatalf("the owner's revoke-all: %d %s", res.StatusCode, b)
	}
	// The revoked token cannot move the timestamp any more.
	if res, b := revoke(e, owner.addr, stolen, 1e12); res.StatusCode != 401 || errorClass(b) != "AuthTokenTimestampValidationError" {
		t.Fatalf("a revoked token's revoke-all to 10^12: %d %s", res.StatusCode, b)
	}
	// A thief with a token that is still valid (made 10 minutes ago)
	// cannot push it beyond now and the allowed clock skew.
	valid := owner.token(e, now.Add(-10*time.Minute))
	if res, b := revoke(e, owner.addr, valid, 1e12); res.StatusCode != 400 || errorClass(b) != "BadRequestError" {
		t.Fatalf("a valid token's revoke-all to 10^12: %d %s", res.StatusCode, b)
	}
	if res, b := revoke(e, owner.addr, valid, time.Now().Add(4*time.Minute).Unix()); res.StatusCode != 202 {
		t.Fatalf("revoke-all within the clock skew: %d %s", res.StatusCode, b)
	}
	// The owner still writes, with a token made now.
	if res, b := e.do("POST", "/store/"+owner.addr+"/f", []byte("y"), "Authorization", owner.token(e, time.Now())); res.StatusCode != 202 {
		t.Fatalf("the owner's write after the thief's revoke-all: %d %s", res.StatusCode, b)
	}
	if res, _ := e.do("POST", "/store/"+owner.addr+"/f", []byte("z"), "Authorization", valid); res.StatusCode != 401 {
		t.Fatal("the thief's token still writes after its own revoke-all")
	}
	// A watch with a revoked token is told so (401), not left deaf to the
	// inbox; the owner's fresh token watches.
	if res, b := e.do("GET", "/watch?follow="+owner.addr+":_inbox/", nil, "Authorization", valid); res.StatusCode != 401 || errorClass(b) != "AuthTokenTimestampValidationError" {
		t.Fatalf("a watch with a revoked token: %d %s", res.StatusCode, b)
	}
	if w := e.watch("follow="+owner.addr+":_inbox/", "Authorization", owner.token(e, time.Now())); w.next(t).event != "ready" {
		t.Fatal("the owner's watch after the thief's revoke-all")
	}

	// A future value stored before this hub refused them (10^12, left by
	// an attack on an older version) counts as now.
	e2 := newEnv(t, nil)
	victim := newNativeKey()
	if _, err := e2.drv.Put(context.Background(), "_auth", victim.addr, strings.NewReader("1000000000000"), hubPutText); err != nil {
		t.Fatal(err)
	}
	if res, b := e2.do("POST", "/store/"+victim.addr+"/f", []byte("y"), "Authorization", victim.token(e2, time.Now())); res.StatusCode != 202 {
		t.Fatalf("the owner's write under a stored timestamp of 10^12: %d %s", res.StatusCode, b)
	}
}

// TestNativeScopes: a native token with scopes allows exactly what they
// name: a putFile-only token writes that path and nothing else, and
// cannot delete, list, read or clear the inbox, hear of its arrivals, or
// revoke-all.
func TestNativeScopes(t *testing.T) {
	e := newEnv(t, nil)
	k := newNativeKey()
	full := k.token(e, time.Now())
	putOnly := k.token(e, time.Now(), auth.Scope{Scope: auth.ScopePutFile, Domain: "profile"})
	e.do("POST", "/store/"+k.addr+"/m/1", []byte("x"), "Authorization", full)
	body := []byte("sealed request")
	res, b := e.do("POST", "/inbox/"+k.addr, body, hub.InboxStampHeader, stampFor(t, e, k.addr, body))
	var posted struct{ ID string }
	if json.Unmarshal(b, &posted); res.StatusCode != 202 {
		t.Fatalf("inbox post: %d %s", res.StatusCode, b)
	}
	if res, b := e.do("POST", "/store/"+k.addr+"/profile", []byte("p"), "Authorization", putOnly); res.StatusCode != 202 {
		t.Fatalf("putFile-only token writing its path: %d %s", res.StatusCode, b)
	}
	for _, tc := range []struct {
		name, method, path string
		body               []byte
	}{
		{"write another path", "POST", "/store/" + k.addr + "/m/2", []byte("x")},
		{"delete", "DELETE", "/delete/" + k.addr + "/m/1", nil},
		{"list", "POST", "/list-files/" + k.addr, nil},
		{"list the inbox", "GET", "/inbox/" + k.addr, nil},
		{"read an envelope", "GET", "/inbox/" + k.addr + "/" + posted.ID, nil},
		{"delete an envelope", "DELETE", "/inbox/" + k.addr + "/" + posted.ID, nil},
		{"revoke-all", "POST", "/revoke-all/" + k.addr, []byte(fmt.Sprintf(`{"oldestValidTimestamp":%d}`, time.Now().Unix()))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, b := e.do(tc.method, tc.path, tc.body, "Authorization", putOnly)
			if res.StatusCode != 401 || errorClass(b) != "ValidationError" || !bytes.Contains(b, []byte("scope")) {
				t.Fatalf("%d %s", res.StatusCode, b)
			}
		})
	}
	if _, err := e.drv.Stat(context.Background(), k.addr, "m/1"); err != nil {
		t.Fatal("a refused delete deleted")
	}
	// A watch with the putFile-only token hears nothing of the inbox.
	w := e.watch("follow="+k.addr, "Authorization", putOnly)
	if ev := w.next(t); ev.event != "ready" {
		t.Fatalf("first event %+v", ev)
	}
	body = []byte("second request")
	e.do("POST", "/inbox/"+k.addr, body, hub.InboxStampHeader, stampFor(t, e, k.addr, body))
	e.do("POST", "/store/"+k.addr+"/profile", []byte("p2"), "Authorization", putOnly)
	if ev := w.next(t); !strings.Contains(ev.data, `"path":"profile"`) {
		t.Fatalf("a putFile-only watcher heard %+v before the next change", ev)
	}
	// Each scope allows its own operation.
	for _, tc := range []struct {
		scope, method, path string
		body                []byte
		status              int
	}{
		{auth.ScopeDeleteFilePrefix, "DELETE", "/delete/" + k.addr + "/m/1", nil, 202},
		{auth.ScopeListFiles, "POST", "/list-files/" + k.addr, nil, 202},
		{auth.ScopeInbox, "GET", "/inbox/" + k.addr, nil, 200},
		{auth.ScopeRevokeAll, "POST", "/revoke-all/" + k.addr, []byte(fmt.Sprintf(`{"oldestValidTimestamp":%d}`, time.Now().Add(-time.Hour).Unix())), 202},
	} {
		domain := ""
		if tc.scope == auth.ScopeDeleteFilePrefix {
			domain = "m/"
		}
		tok := k.token(e, time.Now(), auth.Scope{Scope: tc.scope, Domain: domain})
		if res, b := e.do(tc.method, tc.path, tc.body, "Authorization", tok); res.StatusCode != tc.status {
			t.Errorf("%s token: %s %s: %d %s", tc.scope, tc.method, tc.path, res.StatusCode, b)
		}
	}
}

// metric returns the value of the metric line that starts with name (a
// name with labels) in a /metrics scrape, or -1.
func metric(e *env, name string) float64 {
	_, b := e.do("GET", "/metrics", nil)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestTokensBounded: a token is at most auth.MaxTokenBytes (refused
// before any parsing), and the cache of verified tokens stays within its
// byte budget however many distinct valid tokens arrive.
//
// Before: 100 valid Gaia tokens of 870 KB (padded in the ignored hubUrl
// claim) grew the hub's heap by 88 MB; after: they are refused unread and
// the heap grows by under 1 MB (go test -v -run TestTokensBounded ./hub/server).
func TestTokensBounded(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.TokenCacheBytes = 64 << 10 })
	before := heapAfterGC()
	for i := 0; i < 100; i++ {
		big := "bearer v1:" + auth.MakeGaia(e.key, auth.GaiaClaims{GaiaChallenge: e.srv.Challenge(), HubURL: strings.Repeat("h", 650<<10)})
		res, b := e.do("POST", "/list-files/"+e.addr, nil, "Authorization", big)
		if res.StatusCode != 401 || !bytes.Contains(b, []byte("token of")) {
			t.Fatalf("an 870 KB token: %d %.200s", res.StatusCode, b)
		}
	}
	t.Logf("heap growth after 100 tokens of 870 KB: %d KB", (int64(heapAfterGC())-int64(before))>>10)
	// Many distinct valid tokens of the largest allowed size: the cache
	// holds what fits its budget.
	k := newNativeKey()
	for i := 0; i < 200; i++ {
		tok := k.token(e, time.Now().Add(-time.Duration(i)*time.Second), auth.Scope{Scope: auth.ScopePutFilePrefix, Domain: strings.Repeat("d", 2000)})
		if res, b := e.do("POST", "/store/"+k.addr+"/"+strings.Repeat("d", 70)+"x", []byte("x"), "Authorization", tok); res.StatusCode != 401 {
			t.Fatalf("write outside the token's scope: %d %s", res.StatusCode, b)
		}
	}
	if got := metric(e, "hub_token_cache_bytes"); got < 0 || got > 64<<10 {
		t.Fatalf("token cache holds %v bytes, budget %d", got, 64<<10)
	}
}

// TestWatchWithManyFollowsChecksOneSignature: a watch that follows 5,000
// addresses with a token costs at most one signature check (the address
// the token claims is read first, and only that one is authorized), and
// the same failing token sent again costs none (refusals are cached).
//
// Before: a signature check per followed address (800 ms of CPU per such
// watch, against 2.5 ms without a token); after: 0 for a token of an
// address not followed, 1 then 0 for a forged one of a followed address.
func TestWatchWithManyFollowsChecksOneSignature(t *testing.T) {
	e := newEnv(t, nil)
	other, _ := secp256k1.GeneratePrivateKey()
	foreign := "bearer v1:" + auth.MakeGaia(other, auth.GaiaClaims{GaiaChallenge: e.srv.Challenge()}) // for an address not followed
	forged := e.tok[:len(e.tok)-6] + "AAAAAA"                                                         // for one that is
	var follows []map[string]string
	for i := 0; i < server.MaxFollows-1; i++ {
		follows = append(follows, map[string]string{"address": fmt.Sprintf("1Addr%d", i)})
	}
	follows = append(follows, map[string]string{"address": e.addr})
	body, _ := json.Marshal(map[string]any{"follow": follows})
	checks := func() float64 {
		n := metric(e, "hub_token_signature_checks_total")
		if n < 0 {
			t.Fatal("no hub_token_signature_checks_total in /metrics")
		}
		return n
	}
	start := time.Now()
	for _, tc := range []struct {
		tok            string
		status, checks int
	}{{foreign, 200, 0}, {foreign, 200, 0}, {forged, 401, 1}, {forged, 401, 0}} {
		before := checks()
		req, _ := http.NewRequest("POST", e.url+"/watch", bytes.NewReader(body))
		req.Header.Set("Authorization", tc.tok)
		ctx, cancel := context.WithCancel(context.Background())
		res, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil || res.StatusCode != tc.status {
			t.Fatalf("watch: %v %v, want %d", err, res, tc.status)
		}
		bufio.NewReader(res.Body).ReadString('\n')
		cancel()
		res.Body.Close()
		if got := checks() - before; got != float64(tc.checks) {
			t.Fatalf("a watch of %d follows with a token cost %v signature checks, want %d", server.MaxFollows, got, tc.checks)
		}
	}
	t.Logf("four watches of %d follows with a token: %v", server.MaxFollows, time.Since(start))
}

// openWatch opens a raw watch stream from a fresh connection and returns
// the connection and the answer's status.
func openWatch(t *testing.T, e *env, query string) (net.Conn, int) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /watch?%s HTTP/1.1\r\nHost: x\r\n\r\n", query)
	conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	line, err := bufio.NewReader(conn).ReadString('\n')
	conn.SetReadDeadline(time.Time{})
	if err != nil {
		t.Fatalf("watch answer: %v", err)
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		t.Fatalf("watch answer %q", line)
	}
	code, _ := strconv.Atoi(f[1])
	return conn, code
}

// TestWatchLimits: watch streams are capped per client IP (429) and
// overall (503), and so are follows; a closed stream frees its place.
//
// Before: every watch was accepted (20,000 idle ones from one IP exhausted
// file descriptors and 3.8 GB; 1,000 took 304 MB of heap here); after: the
// 33rd from one IP and the 1,001st overall are refused, and 1,000 take
// 35 MB (go test -v -run TestWatchLimits ./hub/server).
func TestWatchLimits(t *testing.T) {
	e := newEnv(t, nil)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < server.DefaultMaxWatchesPerIP; i++ {
		c, code := openWatch(t, e, "follow="+e.addr)
		conns = append(conns, c)
		if code != 200 {
			t.Fatalf("watch %d: %d", i+1, code)
		}
	}
	c, code := openWatch(t, e, "follow="+e.addr)
	c.Close()
	if code != 429 {
		t.Fatalf("watch %d from one IP: %d, want 429", server.DefaultMaxWatchesPerIP+1, code)
	}
	// Closing one frees its place (awaited: the hub sees the close).
	conns[0].Close()
	conns = conns[1:]
	await.NoError(t, 2*time.Minute, "a closed watch to free its place", func() error {
		c, code := openWatch(t, e, "follow="+e.addr)
		if code != 200 {
			c.Close()
			return fmt.Errorf("a new watch answered %d", code)
		}
		conns = append(conns, c)
		return nil
	})

	// Overall: with the per-IP cap out of the way, the 1,001st is refused.
	e2 := newEnv(t, func(c *server.Config) { c.MaxWatchesPerIP = 5000 })
	before := heapAfterGC()
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := 0; i < server.DefaultMaxWatches; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, code := openWatch(t, e2, "follow="+e2.addr)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if code != 200 {
				t.Errorf("watch: %d", code)
			}
		}()
	}
	wg.Wait()
	t.Logf("heap of %d idle watches: %d KB", server.DefaultMaxWatches, (int64(heapAfterGC())-int64(before))>>10)
	c, code = openWatch(t, e2, "follow="+e2.addr)
	c.Close()
	if code != 503 {
		t.Fatalf("watch %d overall: %d, want 503", server.DefaultMaxWatches+1, code)
	}

	// Follows: at most DefaultMaxFollowsPerIP from one IP at a time.
	e3 := newEnv(t, nil)
	var follows []map[string]string
	for i := 0; i < server.MaxFollows; i++ {
		follows = append(follows, map[string]string{"address": fmt.Sprintf("1Addr%d", i)})
	}
	body, _ := json.Marshal(map[string]any{"follow": follows})
	for i := 0; ; i++ {
		req, _ := http.NewRequest("POST", e3.url+"/watch", bytes.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode == 429 {
			if got := i * server.MaxFollows; got > server.DefaultMaxFollowsPerIP || got+server.MaxFollows <= server.DefaultMaxFollowsPerIP {
				t.Fatalf("refused after %d follows, cap %d", got, server.DefaultMaxFollowsPerIP)
			}
			break
		}
		if res.StatusCode != 200 || i*server.MaxFollows > server.DefaultMaxFollowsPerIP {
			t.Fatalf("watch %d of %d follows: %d", i+1, server.MaxFollows, res.StatusCode)
		}
	}
}

// TestSlowBodyTimesOut: a request whose body trickles in (slowloris) is
// ended after the body read timeout with 408, and holds nothing. Before:
// the hub waited as long as the client kept the connection open.
func TestSlowBodyTimesOut(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.BodyTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /store/%s/slow HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: 100\r\n\r\nx", e.addr, e.tok)
	conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, " 408 ") {
		t.Fatalf("a stalled body: %q %v", line, err)
	}
	if _, err := e.drv.Stat(context.Background(), e.addr, "slow"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("a stalled upload: %v, want hub.ErrNotFound (not stored)", err)
	}
	// A watch, whose POST body is read in time, lives on past the timeout.
	req, _ := http.NewRequest("POST", e.url+"/watch", strings.NewReader(`{"follow":[{"address":"`+e.addr+`"}]}`))
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("watch: %v %v", err, res)
	}
	defer res.Body.Close()
	r := &sse{r: bufio.NewReader(res.Body), body: res.Body}
	if ev := r.next(t); ev.event != "ready" {
		t.Fatalf("first event %+v", ev)
	}
	// Wait until well past the body timeout before the change, by the
	// hub's own clock: a request answered after it.
	for start := time.Now(); time.Since(start) < time.Second; {
		e.do("GET", "/healthz", nil)
	}
	e.do("POST", "/store/"+e.addr+"/later", []byte("x"), "Authorization", e.tok)
	if ev := r.next(t); ev.event != "change" {
		t.Fatalf("the watch after the body timeout: %+v", ev)
	}
}

// TestMetricsLabelsBounded: however odd the methods and paths sent, the
// request metrics' labels come from fixed sets.
//
// Before: every distinct method made new series (2,000 made a 2.3 MB
// scrape here; 592 MB in the attack review); after: 4.8 KB, at most 6
// methods x the routes x 6 status classes.
func TestMetricsLabelsBounded(t *testing.T) {
	e := newEnv(t, nil)
	for i := 0; i < 200; i++ {
		e.do(fmt.Sprintf("M%dX", i), fmt.Sprintf("/junk/%d", i), nil)
		e.do("GET", fmt.Sprintf("/nothing-%d", i), nil)
	}
	_, b := e.do("GET", "/metrics", nil)
	methods := map[string]bool{"GET": true, "HEAD": true, "POST": true, "DELETE": true, "OPTIONS": true, "other": true}
	series := 0
	for _, m := range regexp.MustCompile(`hub_requests_total\{method="([^"]*)",route="([^"]*)"`).FindAllStringSubmatch(string(b), -1) {
		series++
		if !methods[m[1]] || strings.Contains(m[2], "junk") || strings.Contains(m[2], "nothing") {
			t.Fatalf("a label from the request: %s", m[0])
		}
	}
	if series == 0 || series > 20 {
		t.Fatalf("%d request series after 400 odd requests", series)
	}
}
