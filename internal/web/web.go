// Package web serves Parley's web app to a browser on this device: the
// app's files, embedded in the binary (app/), and the home's agent API
// (package api) under /api/v1, proxied to the agent's socket, for the
// browser that signed in with the one-time login address the server
// prints. It serves on a loopback address only and answers only requests
// whose Host is that address (no DNS rebinding) and whose Origin, if any,
// is that server (no cross-site request); every answer carries a strict
// Content-Security-Policy (no inline script, nothing from elsewhere).
//
// It holds no key and no state of the home: the agent does. It never
// logs the login token, a session cookie or a request's body.
//
// Files cross as bytes, never as paths: the agent's calls that read or
// write a path of the device (files, files/get) are not proxied; the
// browser uploads to /web/upload and downloads from /web/file, and this
// server hands the agent a file in a private temporary directory.
package web

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-im/parley/internal/api"
)

// Codes of the errors this server answers itself (the agent's are api's).
const (
	// CodeUnauthorized: no session: open the address parley web printed.
	CodeUnauthorized api.Code = "unauthorized"
	// CodeForbidden (api's): a foreign Host or Origin, a cross-site request.
	CodeForbidden = api.CodeForbidden
	// CodeSessionExpired: the session (or the login address) is too old,
	// or went unused too long: sign in again with a new address.
	CodeSessionExpired api.Code = "session_expired"
	// CodeBusy: as many connections, or event streams, as the server
	// serves at once are open.
	CodeBusy api.Code = "busy"
)

// Defaults.
const (
	// DefaultMaxUpload bounds a file uploaded to be sent.
	DefaultMaxUpload = 1 << 30
	// maxSessions bounds the signed-in browsers; the oldest goes first.
	maxSessions = 16
	// tokenBytes is the entropy of the login token and of a session.
	tokenBytes = 32
	// DefaultTokenLifetime is how long the login address works, unused.
	DefaultTokenLifetime = 15 * time.Minute
	// DefaultSessionIdle ends a session that made no call for this long.
	DefaultSessionIdle = 12 * time.Hour
	// DefaultSessionLifetime ends a session this long after it signed in,
	// however much it is used.
	DefaultSessionLifetime = 7 * 24 * time.Hour
	// DefaultMaxConns bounds the connections served at once.
	DefaultMaxConns = 64
	// DefaultMaxStreams bounds the event streams served at once.
	DefaultMaxStreams = 16
)

// ErrNotLoopback: the address to listen on is not a loopback address.
var ErrNotLoopback = errors.New("the web app listens on a loopback address only (127.0.0.1 or [::1])")

// Options configure a Server.
type Options struct {
	// Socket is the agent's Unix socket (agent.SocketPath of the home).
	Socket string
	// Logger logs what the server does (nil: nothing). It never sees the
	// login token or a session.
	Logger *slog.Logger
	// TempDir is where files go between the browser and the agent ("":
	// the system's).
	TempDir string
	// MaxUpload bounds an uploaded file (0: DefaultMaxUpload).
	MaxUpload int64
	// Assets are the app's files (nil: the embedded app).
	Assets fs.FS
	// Rand is the source of the token and sessions (nil: crypto/rand).
	Rand io.Reader
	// Now is the clock sessions and the login address expire by (nil:
	// time.Now).
	Now func() time.Time
	// Sweep ticks when expired sessions are ended without a call (nil: a
	// ticker every minute).
	Sweep <-chan time.Time
	// TokenLifetime, SessionIdle and SessionLifetime bound the login
	// address and sessions (0: the defaults).
	TokenLifetime, SessionIdle, SessionLifetime time.Duration
	// MaxConns and MaxStreams bound the connections and event streams
	// served at once (0: the defaults).
	MaxConns, MaxStreams int
}

// Server is the web app of one home. Its methods are safe for concurrent
// use.
type Server struct {
	opts   Options
	l      net.Listener
	origin string          // http://127.0.0.1:PORT
	hosts  map[string]bool // the Host values answered
	cookie string          // the session cookie's name (the port in it: cookies do not tell ports apart)
	log    *slog.Logger
	proxy  *httputil.ReverseProxy
	agent  *http.Transport
	assets http.Handler
	// pathCalls match the agent's calls on paths of the device.
	pathCalls *http.ServeMux

	used chan struct{} // closed once the login token is used

	streams chan struct{} // one element per event stream served

	mu        sync.Mutex
	token     []byte               // the login token until used (nil after)
	tokenMade time.Time            // when it was made
	sessions  map[[32]byte]session // sha256 of a session → the session
	// ended are sessions that expired (at most maxSessions, the oldest
	// forgotten first): their calls are told why, not only "not signed
	// in".
	ended map[[32]byte]endedSession
}

// endedSession is why a session expired, and when.
type endedSession struct {
	why string
	at  time.Time
}

// session is a signed-in browser: ending it (sign-out, expiry, or pushed
// out by newer ones) cancels ctx, which ends its calls still under way
// (an event stream, a download).
type session struct {
	made   time.Time // signed in
	last   time.Time // its last call began
	ctx    context.Context
	cancel context.CancelFunc
}

// expired says why sess is over at now ("" if it is not).
func (s *Server) expired(sess session, now time.Time) string {
	switch {
	case now.Sub(sess.made) > s.opts.SessionLifetime:
		return fmt.Sprintf("your session ended: it signed in more than %s ago", span(s.opts.SessionLifetime))
	case now.Sub(sess.last) > s.opts.SessionIdle:
		return fmt.Sprintf("your session ended: it was not used for %s", span(s.opts.SessionIdle))
	}
	return ""
}

// span says d for a person: "12 hours", "7 days", "15 minutes".
func span(d time.Duration) string {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	case d >= 2*time.Hour && d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + " hours"
	case d >= 2*time.Minute && d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + " minutes"
	}
	return d.String()
}

// signInAgain is the hint of an ended session or login address.
const signInAgain = "sign in again: run parley web again (with one running, a second serves on another port) and open the new address it prints"

// New makes the web app's server on l, which must listen on a loopback
// address (else ErrNotLoopback).
func New(l net.Listener, opts Options) (*Server, error) {
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok || !addr.IP.IsLoopback() {
		return nil, fmt.Errorf("%w, not %s", ErrNotLoopback, l.Addr())
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.MaxUpload <= 0 {
		opts.MaxUpload = DefaultMaxUpload
	}
	if opts.Assets == nil {
		opts.Assets = appFS()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.TokenLifetime = cmp.Or(max(opts.TokenLifetime, 0), DefaultTokenLifetime)
	opts.SessionIdle = cmp.Or(max(opts.SessionIdle, 0), DefaultSessionIdle)
	opts.SessionLifetime = cmp.Or(max(opts.SessionLifetime, 0), DefaultSessionLifetime)
	opts.MaxConns = cmp.Or(max(opts.MaxConns, 0), DefaultMaxConns)
	opts.MaxStreams = cmp.Or(max(opts.MaxStreams, 0), DefaultMaxStreams)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	port := strconv.Itoa(addr.Port)
	host := net.JoinHostPort(addr.IP.String(), port)
	s := &Server{opts: opts, l: l, origin: "http://" + host, log: log, cookie: "parley_session_" + port,
		hosts: map[string]bool{host: true, "localhost:" + port: true}, sessions: map[[32]byte]session{}, ended: map[[32]byte]endedSession{}, used: make(chan struct{}), streams: make(chan struct{}, opts.MaxStreams)}
	s.token = make([]byte, tokenBytes)
	s.tokenMade = opts.Now()
	if _, err := io.ReadFull(opts.Rand, s.token); err != nil {
		return nil, err
	}
	s.agent = &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", opts.Socket)
		},
		MaxIdleConns:    8,
		IdleConnTimeout: 30 * time.Second,
	}
	target := &url.URL{Scheme: "http", Host: "parley-agent"}
	s.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, "/api")
			pr.Out.URL.RawPath = ""
			pr.Out.Host = target.Host
			// Only what the API reads goes on: never the cookie.
			keep := http.Header{}
			for _, h := range []string{"Accept", "Content-Type", "Content-Length", "Last-Event-ID"} {
				if v := pr.In.Header.Values(h); len(v) > 0 {
					keep[h] = v
				}
			}
			pr.Out.Header = keep
		},
		Transport:     s.agent,
		FlushInterval: -1, // the event stream and NDJSON answers go on as they come
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Warn("the agent does not answer", "error", err)
			writeError(w, http.StatusBadGateway, &api.Error{Code: api.CodeOffline, Message: "the Parley agent does not answer",
				Hint: "is parley web (or parley daemon) still running? start it again"})
		},
	}
	s.assets = http.FileServerFS(opts.Assets)
	s.pathCalls = newPathCalls()
	return s, nil
}

// Origin is the app's origin: http://127.0.0.1:PORT.
func (s *Server) Origin() string { return s.origin }

// LoginURL is the address to open, with the one-time login token.
func (s *Server) LoginURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.origin + "/login?token=" + base64.RawURLEncoding.EncodeToString(s.token)
}

// TokenUsed is closed once a browser signed in with the login token:
// the address, and OpenPage, are worth nothing from then on.
func (s *Server) TokenUsed() <-chan struct{} { return s.used }

// OpenPage is a page that sends the browser on to LoginURL, for a
// browser started with it instead of the address: a command line is
// readable by every user of the device (/proc/PID/cmdline), a file in a
// private directory is not. Whoever opens it signs in, as with the
// address: keep it where only the user reads it.
func (s *Server) OpenPage() []byte {
	u := html.EscapeString(s.LoginURL())
	return []byte("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">" +
		"<meta name=\"referrer\" content=\"no-referrer\">" +
		"<meta http-equiv=\"refresh\" content=\"0;url=" + u + "\"><title>Parley</title></head>\n" +
		"<body><p><a href=\"" + u + "\">Open Parley</a></p></body></html>\n")
}

// Serve serves the app until ctx ends: at most MaxConns connections at
// once (one more is answered 503 busy and closed); sessions that expire
// unattended are ended at each Sweep.
func (s *Server) Serve(ctx context.Context) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(newLimitListener(s.l, s.opts.MaxConns)) }()
	sweep := s.opts.Sweep
	if sweep == nil {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		sweep = t.C
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-sweep:
				s.sweep()
			}
		}
	}()
	s.log.Info("serving the web app", "address", s.origin)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	srv.Close() // event streams do not end by themselves
	s.agent.CloseIdleConnections()
	return nil
}

// csp is the Content-Security-Policy of every answer: the app's own
// scripts and styles only, no inline script, nothing from elsewhere,
// images from the app (avatars, previews, QR codes) and blob: (a file
// chosen to send, shown before it goes).
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'; manifest-src 'self'"

// ServeHTTP checks the Host, the Origin and the session, then serves the
// app, the login, the files and the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if !s.hosts[r.Host] {
		// A name that resolves to 127.0.0.1 (DNS rebinding) or a guess.
		writeError(w, http.StatusMisdirectedRequest, &api.Error{Code: CodeForbidden,
			Message: "this server answers only to " + s.origin})
		return
	}
	if err := s.checkOrigin(r); err != nil {
		s.log.Warn("refused a cross-site request", "method", r.Method, "path", r.URL.Path, "why", err.Error())
		writeError(w, http.StatusForbidden, &api.Error{Code: CodeForbidden, Message: err.Error()})
		return
	}
	switch p := r.URL.Path; {
	case p == "/login":
		s.login(w, r)
	case p == "/logout":
		s.logout(w, r)
	case strings.HasPrefix(p, "/api/"), strings.HasPrefix(p, "/web/"):
		sess, ended, ok := s.signedIn(r)
		if ended != "" {
			writeError(w, http.StatusUnauthorized, &api.Error{Code: CodeSessionExpired, Message: ended, Hint: signInAgain})
			return
		}
		if !ok {
			writeError(w, http.StatusUnauthorized, &api.Error{Code: CodeUnauthorized,
				Message: "not signed in", Hint: "open the address parley web printed when it started"})
			return
		}
		// The call ends when its session does (sign-out).
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer context.AfterFunc(sess.ctx, cancel)()
		s.serveSignedIn(w, r.WithContext(ctx))
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		s.assets.ServeHTTP(w, r)
	default:
		writeError(w, http.StatusMethodNotAllowed, &api.Error{Code: api.CodeNoRoute, Message: r.Method + " " + p + " is not served"})
	}
}

// checkOrigin refuses what another site makes the browser send: an
// Origin that is not the app's; a fetch the browser marks cross-site or
// same-site (another port of 127.0.0.1 is same-site); a change (any
// method but GET and HEAD) without the app's Origin.
func (s *Server) checkOrigin(r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" && o != s.origin && o != s.localhostOrigin() {
		return fmt.Errorf("a request from %q, not from this app", o)
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); {
	case site == "", site == "same-origin", site == "none":
	case r.URL.Path == "/login" && r.Method == http.MethodGet &&
		r.Header.Get("Sec-Fetch-Mode") == "navigate" && r.Header.Get("Sec-Fetch-Dest") == "document":
		// The browser opening the page OpenPage made (a file: page, an
		// opaque origin, so cross-site): the sign-in carries no ambient
		// authority to abuse, only the token, which the page's maker holds.
	default:
		return fmt.Errorf("a %s request", site)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get("Origin") == "" {
		return errors.New("a change without the app's Origin")
	}
	return nil
}

func (s *Server) localhostOrigin() string {
	return "http://localhost:" + s.origin[strings.LastIndexByte(s.origin, ':')+1:]
}

// login exchanges the one-time token for a session: an HttpOnly,
// SameSite=Strict cookie; the token works once.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, &api.Error{Code: api.CodeNoRoute, Message: "sign in with GET /login?token=..."})
		return
	}
	given, err := base64.RawURLEncoding.DecodeString(r.URL.Query().Get("token"))
	s.mu.Lock()
	ok := err == nil && s.token != nil && subtle.ConstantTimeCompare(given, s.token) == 1
	old := ok && s.opts.Now().Sub(s.tokenMade) > s.opts.TokenLifetime
	if ok {
		s.token = nil // once (an expired one too: it is worth nothing from now on)
		close(s.used)
	}
	s.mu.Unlock()
	if old {
		s.log.Warn("refused a sign-in: the login address expired")
		writeError(w, http.StatusUnauthorized, &api.Error{Code: CodeSessionExpired,
			Message: fmt.Sprintf("this sign-in address expired: it works for %s after parley web printed it", span(s.opts.TokenLifetime)),
			Hint:    signInAgain})
		return
	}
	if !ok {
		s.log.Warn("refused a sign-in: the login token is wrong or was used already")
		writeError(w, http.StatusUnauthorized, &api.Error{Code: CodeUnauthorized,
			Message: "this sign-in address is wrong or was used already",
			Hint:    "each address works once: run parley web again for a new one"})
		return
	}
	sess := make([]byte, tokenBytes)
	if _, err := io.ReadFull(s.opts.Rand, sess); err != nil {
		writeError(w, http.StatusInternalServerError, &api.Error{Code: api.CodeInternal, Message: "no randomness for a session"})
		return
	}
	s.mu.Lock()
	if len(s.sessions) >= maxSessions {
		var oldest [32]byte
		var at time.Time
		for k, v := range s.sessions {
			if at.IsZero() || v.made.Before(at) {
				oldest, at = k, v.made
			}
		}
		s.sessions[oldest].cancel()
		delete(s.sessions, oldest)
	}
	ctx, cancel := context.WithCancel(context.Background())
	now := s.opts.Now()
	s.sessions[sha256.Sum256(sess)] = session{made: now, last: now, ctx: ctx, cancel: cancel}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: base64.RawURLEncoding.EncodeToString(sess), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode})
	s.log.Info("a browser signed in")
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		// From OpenPage: a redirect would still be cross-site, and the app
		// answers no cross-site request; this page's refresh is the app's.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url=/\">"+
			"<title>Parley</title></head>\n<body><p><a href=\"/\">Open Parley</a></p></body></html>\n")
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the browser's session (POST, from the app), and with it
// every call of the session still under way: an event stream opened
// before delivers nothing more.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, &api.Error{Code: api.CodeNoRoute, Message: "sign out with POST /logout"})
		return
	}
	if c, err := r.Cookie(s.cookie); err == nil {
		if b, err := base64.RawURLEncoding.DecodeString(c.Value); err == nil {
			s.mu.Lock()
			if v, ok := s.sessions[sha256.Sum256(b)]; ok {
				v.cancel()
				delete(s.sessions, sha256.Sum256(b))
			}
			s.mu.Unlock()
		}
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

// signedIn returns the session whose cookie r carries (ok false: none),
// and counts r as its use. A session found expired is ended, and ended
// says why. Sessions are looked up by their hash: the map's timing says
// nothing of a session.
func (s *Server) signedIn(r *http.Request) (sess session, ended string, ok bool) {
	c, err := r.Cookie(s.cookie)
	if err != nil {
		return session{}, "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(b) != tokenBytes {
		return session{}, "", false
	}
	k := sha256.Sum256(b)
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.sessions[k]
	if !ok {
		return session{}, s.ended[k].why, false
	}
	if why := s.expired(v, now); why != "" {
		s.end(k, v, why, now)
		return session{}, why, false
	}
	v.last = now
	s.sessions[k] = v
	return v, "", true
}

// sweep ends the sessions expired by now, and with them their calls
// under way (event streams), called or not.
func (s *Server) sweep() {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.sessions {
		if why := s.expired(v, now); why != "" {
			s.end(k, v, why, now)
		}
	}
}

// end ends the session of hash k, expired for why; s.mu is held.
func (s *Server) end(k [32]byte, v session, why string, now time.Time) {
	v.cancel()
	delete(s.sessions, k)
	if len(s.ended) >= maxSessions {
		var oldest [32]byte
		var at time.Time
		for k, e := range s.ended {
			if at.IsZero() || e.at.Before(at) {
				oldest, at = k, e.at
			}
		}
		delete(s.ended, oldest)
	}
	s.ended[k] = endedSession{why: why, at: now}
	s.log.Info("a session expired", "why", why)
}

// serveSignedIn serves /api/v1/... (the agent's API, but its calls on
// paths of the device) and /web/... (files, avatars, QR codes).
func (s *Server) serveSignedIn(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/web/upload":
		s.upload(w, r)
	case p == "/web/file":
		s.download(w, r)
	case p == "/web/avatar":
		s.avatar(w, r)
	case p == "/web/qr":
		s.qr(w, r)
	case strings.HasPrefix(p, "/api"+api.Prefix+"/"):
		if s.pathCall(r) {
			writeError(w, http.StatusForbidden, &api.Error{Code: CodeForbidden,
				Message: "the web app sends and saves files through /web/upload and /web/file, never by a path of this device"})
			return
		}
		if r.ContentLength > api.MaxBody {
			writeError(w, http.StatusRequestEntityTooLarge, &api.Error{Code: api.CodeTooLarge, Message: "the request is larger than the API takes"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, api.MaxBody)
		if p == "/api"+api.Prefix+"/events" {
			select {
			case s.streams <- struct{}{}:
				defer func() { <-s.streams }()
			default:
				writeError(w, http.StatusServiceUnavailable, &api.Error{Code: CodeBusy,
					Message: fmt.Sprintf("%d event streams are open, as many as parley web serves", s.opts.MaxStreams),
					Hint:    "close other tabs or windows of the app, then reload this one"})
				return
			}
		}
		h := w.Header()
		h.Del("Cache-Control") // the agent's own
		s.proxy.ServeHTTP(w, r)
	default:
		writeError(w, http.StatusNotFound, &api.Error{Code: api.CodeNoRoute, Message: "no " + p + " here"})
	}
}

// newPathCalls are the agent's calls that read or write a path of the
// device, matched as the agent's own mux matches them.
func newPathCalls() *http.ServeMux {
	m := http.NewServeMux()
	for _, p := range []string{"/api" + api.Prefix + "/conversations/{conv}/files", "/api" + api.Prefix + "/conversations/{conv}/files/get"} {
		m.Handle(p, http.NotFoundHandler())
		m.Handle(p+"/", http.NotFoundHandler())
	}
	return m
}

// pathCall reports whether r is one of the calls on paths.
func (s *Server) pathCall(r *http.Request) bool {
	_, pattern := s.pathCalls.Handler(r)
	return pattern != ""
}

// writeError answers e as the API does (an envelope).
func writeError(w http.ResponseWriter, status int, e *api.Error) {
	w.Header().Set("Content-Type", api.JSON)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(api.Envelope{Error: e})
}
