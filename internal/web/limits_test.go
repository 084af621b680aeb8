package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/await"
	"github.com/parley-im/parley/internal/web"
)

// clock is a time the test moves on.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// startWebWith is startWeb with opts changed by set.
func startWebWith(t *testing.T, socket string, set func(*web.Options)) webServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	opts := web.Options{Socket: socket, Logger: slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})), TempDir: t.TempDir()}
	set(&opts)
	s, err := web.New(l, opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { defer close(done); s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return webServer{s, &logBuf}
}

// TestSessionsExpire: a session and the login address lasted as long as
// parley web ran (days, for one run as a service), so a browser left
// signed in, or an address found in a log or a terminal's scrollback
// later, gave the messenger to whoever used it. Now the address works
// for TokenLifetime, a session ends after SessionIdle without a call and
// after SessionLifetime whatever it does; an ended session is told so
// (session_expired), its calls under way (the event stream) end, and
// the app shows a page to sign in again (TestWebScenario).
func TestSessionsExpire(t *testing.T) {
	t.Run("login address unused", func(t *testing.T) {
		clk := &clock{now: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
		s := startWebWith(t, startAgent(t), func(o *web.Options) { o.Now = clk.Now })
		clk.add(web.DefaultTokenLifetime + time.Second)
		res := do(t, browser(t), "GET", s.LoginURL(), nil, nil)
		if code := answerCode(res); res.StatusCode != http.StatusUnauthorized || code != web.CodeSessionExpired {
			t.Fatalf("the login address %s after it was printed: %s %q, want 401 %s", web.DefaultTokenLifetime+time.Second, res.Status, code, web.CodeSessionExpired)
		}
	})
	t.Run("idle", func(t *testing.T) {
		clk := &clock{now: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
		s := startWebWith(t, startAgent(t), func(o *web.Options) { o.Now = clk.Now })
		b := signIn(t, s)
		// Calls keep it alive.
		for range 3 {
			clk.add(web.DefaultSessionIdle - time.Minute)
			if res := do(t, b, "GET", s.Origin()+"/api/v1/agent", nil, nil); res.StatusCode != http.StatusOK {
				t.Fatalf("a session used every %s: %s", web.DefaultSessionIdle-time.Minute, res.Status)
			}
		}
		stream := openStream(t, s, b)
		clk.add(web.DefaultSessionIdle + time.Second)
		res := do(t, b, "GET", s.Origin()+"/api/v1/agent", nil, nil)
		if code := answerCode(res); res.StatusCode != http.StatusUnauthorized || code != web.CodeSessionExpired {
			t.Fatalf("a session idle for %s: %s %q, want 401 %s", web.DefaultSessionIdle+time.Second, res.Status, code, web.CodeSessionExpired)
		}
		select {
		case <-stream:
		case <-time.After(time.Minute):
			t.Fatal("a minute after the session expired, its event stream still delivers the user's events")
		}
		if res := do(t, b, "GET", s.Origin()+"/api/v1/agent", nil, nil); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("the expired session's next call: %s", res.Status)
		}
	})
	t.Run("unattended stream", func(t *testing.T) {
		// Nobody calls: the server's own sweep ends the session.
		clk := &clock{now: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
		sweep := make(chan time.Time)
		s := startWebWith(t, startAgent(t), func(o *web.Options) { o.Now = clk.Now; o.Sweep = sweep })
		stream := openStream(t, s, signIn(t, s))
		clk.add(web.DefaultSessionIdle + time.Second)
		select {
		case sweep <- clk.Now():
		case <-time.After(time.Minute):
			t.Fatal("the server never sweeps its sessions")
		}
		select {
		case <-stream:
		case <-time.After(time.Minute):
			t.Fatal("a minute after its session expired unattended, the event stream still delivers the user's events")
		}
	})
	t.Run("lifetime", func(t *testing.T) {
		clk := &clock{now: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
		s := startWebWith(t, startAgent(t), func(o *web.Options) { o.Now = clk.Now })
		b := signIn(t, s)
		var used time.Duration
		for used < web.DefaultSessionLifetime {
			step := min(web.DefaultSessionIdle/2, web.DefaultSessionLifetime-used)
			clk.add(step)
			used += step
			if res := do(t, b, "GET", s.Origin()+"/api/v1/agent", nil, nil); res.StatusCode != http.StatusOK {
				t.Fatalf("a session used every %s, %s after signing in: %s", web.DefaultSessionIdle/2, used, res.Status)
			}
		}
		clk.add(time.Second)
		res := do(t, b, "GET", s.Origin()+"/api/v1/agent", nil, nil)
		if code := answerCode(res); res.StatusCode != http.StatusUnauthorized || code != web.CodeSessionExpired {
			t.Fatalf("a session used all along, %s after signing in: %s %q, want 401 %s", web.DefaultSessionLifetime+time.Second, res.Status, code, web.CodeSessionExpired)
		}
	})
}

// openStream opens the event stream of b's session; the channel is
// closed when it ends.
func openStream(t *testing.T, s webServer, b *http.Client) <-chan struct{} {
	t.Helper()
	res := do(t, b, "GET", s.Origin()+"/api/v1/events", nil, map[string]string{"Accept": "text/event-stream"})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("the event stream: %s", res.Status)
	}
	ended := make(chan struct{})
	go func() {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		close(ended)
	}()
	t.Cleanup(func() { res.Body.Close() })
	return ended
}

// TestConnectionsBounded: anyone on the device could open connections
// to the web app's port without end (each a goroutine and a socket,
// held 10 s before a header is due, and event streams for as long as
// they read). Now at most MaxConns connections are served at once and
// MaxStreams event streams; one more is answered 503 "busy" at once,
// with words for a person, and the app serves again once they go.
func TestConnectionsBounded(t *testing.T) {
	const conns, streams = 8, 2
	s := startWebWith(t, startAgent(t), func(o *web.Options) { o.MaxConns = conns; o.MaxStreams = streams })
	b := signIn(t, s)
	addr := strings.TrimPrefix(s.Origin(), "http://")

	// Streams first: two are served, the third is refused.
	for range streams {
		openStream(t, s, b)
	}
	res := do(t, b, "GET", s.Origin()+"/api/v1/events", nil, map[string]string{"Accept": "text/event-stream"})
	if code := answerCode(res); res.StatusCode != http.StatusServiceUnavailable || code != web.CodeBusy {
		t.Fatalf("event stream %d of at most %d: %s %q, want 503 %s", streams+1, streams, res.Status, code, web.CodeBusy)
	}

	// Idle connections that never send a header take the other slots
	// (the two streams hold two, and b's client may hold an idle one).
	b.CloseIdleConnections()
	var held []net.Conn
	for range conns - streams {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	// One more: answered at once, not left waiting.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	io.WriteString(c, "GET /api/v1/agent HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	res, err = http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("connection %d of at most %d: no answer: %v", conns+1, conns, err)
	}
	var env api.Envelope
	json.NewDecoder(res.Body).Decode(&env)
	if res.StatusCode != http.StatusServiceUnavailable || env.Error == nil || env.Error.Code != web.CodeBusy {
		t.Fatalf("connection %d of at most %d: %s %+v, want 503 %s", conns+1, conns, res.Status, env.Error, web.CodeBusy)
	}
	// The held ones gone, the app answers again.
	for _, c := range held {
		c.Close()
	}
	held = nil
	await.True(t, time.Minute, "the app to answer again once the connections closed", func() bool {
		res := do(t, b, "GET", s.Origin()+"/api/v1/agent", nil, nil)
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
}

// answerCode is the code of res's error envelope ("" if none).
func answerCode(res *http.Response) api.Code {
	defer res.Body.Close()
	var env api.Envelope
	if json.NewDecoder(res.Body).Decode(&env) != nil || env.Error == nil {
		return ""
	}
	return env.Error.Code
}
