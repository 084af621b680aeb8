package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/agent"
	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/web"
)

// startAgent runs a daemon agent on a new, empty home and returns its
// socket.
func startAgent(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pw") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	home := filepath.Join(dir, "h")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	lock, err := agent.TryLock(home, "test")
	if err != nil {
		t.Fatal(err)
	}
	a := agent.New(agent.Options{Home: home, Mode: agent.ModeDaemon, Lock: lock})
	l, err := a.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close(context.Background())
		lock.Release()
	})
	return agent.SocketPath(home)
}

// webServer is a running web app and what it logged.
type webServer struct {
	*web.Server
	log *bytes.Buffer
}

func startWeb(t *testing.T, socket string) webServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	s, err := web.New(l, web.Options{Socket: socket, Logger: slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return webServer{s, &logBuf}
}

// browser is an HTTP client with a cookie jar that follows no redirect.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// errorCode is the code of an API envelope's error.
func errorCode(t *testing.T, res *http.Response) api.Code {
	t.Helper()
	defer res.Body.Close()
	var env api.Envelope
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		t.Fatalf("%s: no envelope: %v", res.Status, err)
	}
	if env.Error == nil {
		return ""
	}
	return env.Error.Code
}

func do(t *testing.T, c *http.Client, method, u string, body io.Reader, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestLogin: the printed address signs in once, with an HttpOnly,
// SameSite=Strict cookie; a second use, a wrong token and no cookie at all
// are refused with 401 "unauthorized"; the token is never logged.
func TestLogin(t *testing.T) {
	s := startWeb(t, startAgent(t))
	login := s.LoginURL()
	if !strings.HasPrefix(login, s.Origin()+"/login?token=") {
		t.Fatalf("login address %q", login)
	}
	token := login[strings.Index(login, "token=")+len("token="):]

	// No cookie: the API is refused.
	stranger := browser(t)
	res := do(t, stranger, "GET", s.Origin()+"/api/v1/agent", nil, nil)
	if res.StatusCode != http.StatusUnauthorized || errorCode(t, res) != web.CodeUnauthorized {
		t.Fatalf("the API without a session: %s", res.Status)
	}
	// A wrong token.
	res = do(t, stranger, "GET", s.Origin()+"/login?token=AAAA"+token[4:], nil, nil)
	if res.StatusCode != http.StatusUnauthorized || errorCode(t, res) != web.CodeUnauthorized {
		t.Fatalf("a wrong token: %s", res.Status)
	}

	b := browser(t)
	res = do(t, b, "GET", login, nil, map[string]string{"Sec-Fetch-Site": "none"})
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("login: %s to %q", res.Status, res.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		cookie = c
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || !strings.HasPrefix(cookie.Name, "parley_session_") {
		t.Fatalf("the session cookie: %+v", cookie)
	}
	res = do(t, b, "GET", s.Origin()+"/api/v1/agent", nil, nil)
	var env struct {
		Result api.AgentInfo `json:"result"`
	}
	json.NewDecoder(res.Body).Decode(&env)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || env.Result.API != "v1" {
		t.Fatalf("the API signed in: %s %+v", res.Status, env.Result)
	}

	// The token works once.
	again := browser(t)
	res = do(t, again, "GET", login, nil, nil)
	if res.StatusCode != http.StatusUnauthorized || errorCode(t, res) != web.CodeUnauthorized {
		t.Fatalf("the token used twice: %s", res.Status)
	}
	res = do(t, again, "GET", s.Origin()+"/api/v1/agent", nil, nil)
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after a second use of the token, the API: %s", res.Status)
	}

	// A session cookie of another value is nobody's.
	forged := browser(t)
	u, _ := url.Parse(s.Origin())
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: cookie.Name, Value: strings.Repeat("A", len(cookie.Value))}})
	if res := do(t, forged, "GET", s.Origin()+"/api/v1/agent", nil, nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a forged cookie: %s", res.Status)
	}

	// Signing out ends the session.
	res = do(t, b, "POST", s.Origin()+"/logout", nil, map[string]string{"Origin": s.Origin()})
	res.Body.Close()
	if res := do(t, b, "GET", s.Origin()+"/api/v1/agent", nil, nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after signing out: %s", res.Status)
	}

	if strings.Contains(s.log.String(), token) || strings.Contains(s.log.String(), cookie.Value) {
		t.Fatalf("the log holds the token or the session:\n%s", s.log.String())
	}
	if !strings.Contains(s.log.String(), "a browser signed in") {
		t.Fatalf("the log says nothing of the sign-in:\n%s", s.log.String())
	}
}

// signIn returns a browser signed in to s.
func signIn(t *testing.T, s webServer) *http.Client {
	t.Helper()
	b := browser(t)
	res := do(t, b, "GET", s.LoginURL(), nil, nil)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", res.Status)
	}
	return b
}

// TestHostAndOrigin: a request whose Host is not the app's address (DNS
// rebinding: evil.example resolving to 127.0.0.1) is refused before
// anything else, even signed in; so is one from another origin (another
// site, another port of 127.0.0.1), one the browser marks cross-site or
// same-site, and a change without an Origin.
func TestHostAndOrigin(t *testing.T) {
	s := startWeb(t, startAgent(t))
	b := signIn(t, s)
	port := s.Origin()[strings.LastIndexByte(s.Origin(), ':')+1:]
	for _, tc := range []struct {
		name   string
		method string
		path   string
		header map[string]string
		status int
	}{
		{"rebound host", "GET", "/api/v1/agent", map[string]string{"Host": "evil.example:" + port}, http.StatusMisdirectedRequest},
		{"rebound host, the app", "GET", "/", map[string]string{"Host": "evil.example:" + port}, http.StatusMisdirectedRequest},
		{"rebound host, login", "GET", "/login?token=x", map[string]string{"Host": "evil.example"}, http.StatusMisdirectedRequest},
		{"another port", "GET", "/api/v1/agent", map[string]string{"Host": "127.0.0.1:1"}, http.StatusMisdirectedRequest},
		{"foreign origin", "POST", "/api/v1/unlock", map[string]string{"Origin": "http://evil.example", "Content-Type": "application/json"}, http.StatusForbidden},
		{"foreign origin, a read", "GET", "/api/v1/contacts", map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"another port's origin", "POST", "/api/v1/unlock", map[string]string{"Origin": "http://127.0.0.1:1"}, http.StatusForbidden},
		{"null origin", "POST", "/api/v1/unlock", map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"cross-site fetch", "GET", "/api/v1/agent", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site fetch", "GET", "/api/v1/agent", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"cross-site fetch of the login", "GET", "/login?token=x", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}, http.StatusForbidden},
		{"cross-site login in a frame", "GET", "/login?token=x", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}, http.StatusForbidden},
		{"cross-site navigation to the app", "GET", "/", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}, http.StatusForbidden},
		{"change without origin", "POST", "/api/v1/unlock", nil, http.StatusForbidden},
		{"logout without origin", "POST", "/logout", nil, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, b, tc.method, s.Origin()+tc.path, strings.NewReader(`{"passphrase":"x"}`), tc.header)
			if res.StatusCode != tc.status {
				t.Fatalf("%s %s: %s, want %d", tc.method, tc.path, res.Status, tc.status)
			}
			if code := errorCode(t, res); code != web.CodeForbidden {
				t.Fatalf("code %q, want %q", code, web.CodeForbidden)
			}
		})
	}
	// The same calls from the app itself are answered.
	res := do(t, b, "GET", s.Origin()+"/api/v1/agent", nil, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": s.Origin()})
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("the app's own read: %s", res.Status)
	}
	res = do(t, b, "GET", "http://localhost:"+port+"/", nil, nil)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("the app at localhost: %s", res.Status)
	}
	res = do(t, b, "POST", s.Origin()+"/api/v1/unlock", strings.NewReader(`{"passphrase":"x"}`), map[string]string{"Origin": s.Origin(), "Content-Type": "application/json"})
	if code := errorCode(t, res); code != api.CodeNoIdentity {
		t.Fatalf("the app's own unlock of an empty home: %s %q", res.Status, code)
	}
}

// TestHeaders: every answer has the strict CSP and friends; the app's
// files are embedded and need no session; the page loads no script
// inline.
func TestHeaders(t *testing.T) {
	s := startWeb(t, startAgent(t))
	b := browser(t)
	for _, p := range []string{"/", "/js/app.js", "/app.css", "/api/v1/agent", "/nope"} {
		res := do(t, b, "GET", s.Origin()+p, nil, nil)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "http") {
			t.Errorf("%s: CSP %q allows inline, eval or another origin", p, csp)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", p, res.Header)
		}
		if p == "/" {
			if res.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`<script type="module" src="/js/app.js"></script>`)) {
				t.Errorf("the page: %s %s", res.Status, body)
			}
			// No inline script: every <script> has a src.
			if n, m := bytes.Count(body, []byte("<script")), bytes.Count(body, []byte("<script type=\"module\" src=")); n != m {
				t.Errorf("the page has %d scripts, %d of them from a file", n, m)
			}
			if bytes.Contains(body, []byte("http://")) || bytes.Contains(body, []byte("https://")) {
				t.Errorf("the page names another origin: %s", body)
			}
		}
	}
}

// TestSignedInAnswersNotCached: what a signed-in page is given (a
// contact's file, avatar, a safety number's QR code, the API's answers)
// is never kept in the browser's cache, where it would outlive the
// session, in the clear with the browser's profile on disk
// (TestWebScenario signs out and asks Chromium's cache).
func TestSignedInAnswersNotCached(t *testing.T) {
	s := startWeb(t, startAgent(t))
	b := signIn(t, s)
	for _, p := range []string{"/web/qr?text=12345", "/web/avatar", "/web/file?conv=bob&ref=bob/1", "/api/v1/agent"} {
		res := do(t, b, "GET", s.Origin()+p, nil, nil)
		res.Body.Close()
		if got := res.Header.Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
			t.Errorf("GET %s: %s, Cache-Control %q, want no-store", p, res.Status, got)
		}
	}
}

// TestPathCallsRefused: the agent's calls that read or write a path of
// the device are not proxied, however the path is spelled; files go
// through /web/upload and /web/file.
func TestPathCallsRefused(t *testing.T) {
	s := startWeb(t, startAgent(t))
	b := signIn(t, s)
	for _, p := range []string{
		"/api/v1/conversations/bob/files",
		"/api/v1/conversations/bob/files/get",
		"/api/v1/conversations/%62ob/%66iles",
		"/api/v1/conversations/%23g1/files/get",
	} {
		res := do(t, b, "POST", s.Origin()+p, strings.NewReader(`{"path":"/etc/passwd"}`), map[string]string{"Origin": s.Origin(), "Content-Type": "application/json"})
		if res.StatusCode != http.StatusForbidden || errorCode(t, res) != web.CodeForbidden {
			t.Errorf("POST %s: %s", p, res.Status)
		}
	}
	// An upload with a name that is not one path element.
	for _, name := range []string{"../x", "a/b", "..", ""} {
		res := do(t, b, "POST", s.Origin()+"/web/upload?conv=bob&name="+url.QueryEscape(name), strings.NewReader("x"), map[string]string{"Origin": s.Origin()})
		if code := errorCode(t, res); res.StatusCode != http.StatusBadRequest || code != api.CodeUsage {
			t.Errorf("upload named %q: %s %q", name, res.Status, code)
		}
	}
}

// TestNotLoopback: the server refuses to serve on any other address.
func TestNotLoopback(t *testing.T) {
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := web.New(l, web.Options{}); !errors.Is(err, web.ErrNotLoopback) {
		t.Fatalf("serving on %s: %v", l.Addr(), err)
	}
}

// TestSignOutEndsStreams: signing out ended the session for new calls,
// but an event stream opened before (another tab of the same browser, or
// the page itself) went on delivering the user's messages to the
// signed-out browser for as long as it stayed open. Signing out now ends
// every call of that session still under way.
func TestSignOutEndsStreams(t *testing.T) {
	s := startWeb(t, startAgent(t))
	b := signIn(t, s)
	openStream := func(c *http.Client) <-chan error {
		t.Helper()
		res := do(t, c, "GET", s.Origin()+"/api/v1/events", nil, map[string]string{"Accept": "text/event-stream"})
		if res.StatusCode != http.StatusOK {
			t.Fatalf("the event stream: %s", res.Status)
		}
		ended := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, res.Body)
			res.Body.Close()
			ended <- err
		}()
		t.Cleanup(func() { res.Body.Close() })
		return ended
	}
	ended := openStream(b)
	res := do(t, b, "POST", s.Origin()+"/logout", nil, map[string]string{"Origin": s.Origin()})
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("sign out: %s", res.Status)
	}
	select {
	case <-ended:
	case <-time.After(time.Minute):
		t.Fatal("a minute after signing out, the event stream opened before still delivers the user's events")
	}

}
