// Package hubclient talks to Parley storage hubs over HTTP with native
// Ed25519 tokens: writes to the user's own bucket, public reads of anyone's,
// the sealed inbox and the change-notification stream. Error answers map
// back, by their error class (hub/hubapi), to the hub package's sentinels
// (hub.ErrNotFound, hub.ErrPrecondition, hub.ErrInboxFull,
// hub.ErrRateLimited, ...), one per class, so callers never match error
// text.
//
// # Tokens
//
// A Client dialed with a key is for one of the user's own hubs: each
// request that needs a token carries one made for that hub's URL (as
// dialed, i.e. as published on the chain) and scoped to that request's
// operation (a write token cannot delete, list or read the inbox). A
// Client dialed without a key (for anyone else's hub) never sends a token.
// Redirects are never followed, so no token reaches another host.
//
// # Bounds
//
// Everything a hub answers is read through a limit: objects up to
// MaxObjectBytes, JSON answers up to a few MiB, listings up to
// MaxListEntries entries, change events up to 64 KiB each. An answer
// beyond a limit is an error wrapping ErrAnswerTooLarge; one that breaks
// the protocol (a page token that repeats, a second "ready" on a stream)
// wraps ErrBadAnswer.
//
// It owns the HTTP exchange with hubs and its bounds; it must not decide
// what to write (the client and package outbox do) or follow a redirect.
package hubclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/hub/hubapi"
)

// Info is what a hub advertises in hub_info.
type Info = hubapi.Info

// Client is one user's connection to one hub. It is safe for concurrent use.
type Client struct {
	base    string
	http    *http.Client
	priv    ed25519.PrivateKey // nil: someone else's hub, no token is ever sent
	address string
	info    Info
	now     func() time.Time

	skew time.Duration // the hub's clock minus ours, as its hub_info answer's Date said

	mu     sync.Mutex
	tokens map[string]token // by operation
}

type token struct {
	header string
	exp    time.Time
}

// TokenLifetime is how long the client's tokens live; it makes a new one
// before the old one expires.
const TokenLifetime = time.Hour

// Limits on what a hub answers.
const (
	// MaxObjectBytes bounds an object read (Get): more than any object
	// Parley writes (blobs of at most 256 KiB, file chunks of 1 MiB,
	// backups within a hub's upload limit).
	MaxObjectBytes = 64 << 20
	// MaxListEntries bounds a listing of the user's bucket, all pages.
	MaxListEntries = 1 << 20
	maxInfoBytes   = 64 << 10
	maxJSONBytes   = 8 << 20
	maxEventBytes  = 64 << 10
)

var (
	// ErrAnswerTooLarge is wrapped when a hub's answer passes a limit.
	ErrAnswerTooLarge = errors.New("hub answer too large")
	// ErrBadAnswer is wrapped when a hub's answer breaks the protocol.
	ErrBadAnswer = errors.New("hub answer breaks the protocol")
	// ErrNoKey is wrapped when a request that needs a token is made on a
	// Client dialed without a key.
	ErrNoKey = errors.New("no key for this hub: it is not one of the user's")
	// ErrTooMuchWork is wrapped when a hub asks more work for an inbox
	// stamp than hub.MaxInboxDifficulty.
	ErrTooMuchWork = errors.New("the hub asks more work for an inbox post than this client does")
)

// AnswerError is a hub's answer refused by a limit or the protocol: Err
// wraps ErrAnswerTooLarge or ErrBadAnswer and says which; Hub is the
// hub's URL.
type AnswerError struct {
	Hub string
	Err error
}

func (e *AnswerError) Error() string { return "hub " + e.Hub + ": " + e.Err.Error() }
func (e *AnswerError) Unwrap() error { return e.Err }

// badAnswer makes the AnswerError of kind (ErrAnswerTooLarge or
// ErrBadAnswer) for this hub.
func (c *Client) badAnswer(kind error, format string, args ...any) error {
	return &AnswerError{Hub: c.base, Err: fmt.Errorf("%w: "+format, append([]any{kind}, args...)...)}
}

// Dial reads the hub's hub_info. priv is the key of the user's bucket on
// this hub (its address is auth.NativeAddress of the public key), for one
// of the user's own hubs, as published on the chain; nil for anyone
// else's, to read and to post to inboxes, without ever sending a token.
func Dial(ctx context.Context, hubURL string, priv ed25519.PrivateKey, hc *http.Client) (*Client, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	noRedirects := *hc
	noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &Client{base: strings.TrimRight(hubURL, "/"), http: &noRedirects, priv: priv, now: time.Now, tokens: map[string]token{}}
	if priv != nil {
		c.address = auth.NativeAddress(priv.Public().(ed25519.PublicKey))
	}
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/hub_info", nil)
	if err != nil {
		return nil, fmt.Errorf("hubclient: %w", err)
	}
	sent := c.now()
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("hubclient: hub_info of %s: %w", hubURL, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("hubclient: hub_info of %s: %w", hubURL, errorOf(res))
	}
	b, err := c.readLimited(res, maxInfoBytes)
	if err == nil {
		if err = json.Unmarshal(b, &c.info); err != nil {
			err = c.badAnswer(ErrBadAnswer, "%v", err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("hubclient: hub_info of %s: %w", hubURL, err)
	}
	if d, err := http.ParseTime(res.Header.Get("Date")); err == nil {
		// Stamps are dated by the hub's clock: a device whose clock is off
		// still posts within the hub's window.
		c.skew = d.Sub(sent.Truncate(time.Second))
	}
	if c.info.Parley.NativeAuth != auth.NativeScheme {
		return nil, fmt.Errorf("hubclient: %s does not accept native tokens %s (it says %q): it runs another version of hubd", hubURL, auth.NativeScheme, c.info.Parley.NativeAuth)
	}
	return c, nil
}

// Address is the user's bucket address on this hub ("" without a key).
func (c *Client) Address() string { return c.address }

// Info returns the hub's hub_info.
func (c *Client) Info() Info { return c.info }

// The operations tokens are made for, each with its one scope.
var opScopes = map[string]auth.Scope{
	"put":    {Scope: auth.ScopePutFilePrefix},
	"delete": {Scope: auth.ScopeDeleteFilePrefix},
	"list":   {Scope: auth.ScopeListFiles},
	"inbox":  {Scope: auth.ScopeInbox},
}

// bearer returns the Authorization header for op on this hub: a token
// bound to the hub's URL and scoped to op, made anew when it nears its
// expiry or when fresh (after a 401: the bucket's tokens were revoked).
func (c *Client) bearer(op string, fresh bool) (string, error) {
	if c.priv == nil {
		return "", fmt.Errorf("hubclient: %s on %s: %w", op, c.base, ErrNoKey)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now().Add(c.skew) // dated by the hub's clock, which checks iat and revocation
	t := c.tokens[op]
	if fresh || t.header == "" || now.Add(5*time.Minute).After(t.exp) {
		t.exp = now.Add(TokenLifetime)
		t.header = "bearer " + auth.MakeNative(c.priv, c.base, now, t.exp, []auth.Scope{opScopes[op]})
		c.tokens[op] = t
	}
	return t.header, nil
}

// authorized sends the request that newReq makes with a token for op, and
// once more with a fresh token if the hub answers 401 (the bucket's tokens
// were revoked since, or the clock moved).
func (c *Client) authorized(op string, newReq func() (*http.Request, error), want int, limit int64, out any) error {
	for attempt := 0; ; attempt++ {
		req, err := newReq()
		if err != nil {
			return err
		}
		tok, err := c.bearer(op, attempt > 0)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", tok)
		err = c.do(req, want, limit, out)
		if attempt > 0 || !errors.Is(err, hub.ErrUnauthorized) {
			return err
		}
	}
}

// errorOf is the error of an error answer: the sentinel of the error
// class the hub names (hubapi.ErrorOf), with the hub's message.
func errorOf(res *http.Response) error {
	var body hubapi.ErrorBody
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	json.Unmarshal(b, &body)
	msg := body.Message
	if msg == "" {
		msg = strings.TrimSpace(string(b))
	}
	return hubapi.ErrorOf(res.StatusCode, body.Error, msg)
}

// do sends req and decodes a JSON answer of at most limit bytes into out
// (if not nil).
func (c *Client) do(req *http.Request, want int, limit int64, out any) error {
	_, err := c.doHeader(req, want, limit, out)
	return err
}

// doHeader is do, and returns the answer's header (nil if none came).
func (c *Client) doHeader(req *http.Request, want int, limit int64, out any) (http.Header, error) {
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		return res.Header, errorOf(res)
	}
	b, err := c.readLimited(res, limit)
	if err != nil || out == nil {
		return res.Header, err
	}
	if rb, ok := out.(rawBody); ok {
		*rb.b = b
		return res.Header, nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return res.Header, c.badAnswer(ErrBadAnswer, "%v", err)
	}
	return res.Header, nil
}

// rawBody, as do's out, receives the answer's bytes as they are.
type rawBody struct{ b *[]byte }

// readLimited reads an answer's body, or fails with ErrAnswerTooLarge as
// soon as it is known to pass limit bytes.
func (c *Client) readLimited(res *http.Response, limit int64) ([]byte, error) {
	if res.ContentLength > limit {
		return nil, c.badAnswer(ErrAnswerTooLarge, "%d bytes, at most %d", res.ContentLength, limit)
	}
	if res.ContentLength >= 0 { // known: read exactly that
		b := make([]byte, res.ContentLength)
		if _, err := io.ReadFull(res.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, c.badAnswer(ErrAnswerTooLarge, "more than %d bytes", limit)
	}
	return b, nil
}

func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// Cond is the condition of a write, and the written object's lifetime:
// the zero value is unconditional, and the object stays until deleted.
type Cond struct {
	IfMatch     string // the ETag the object must have
	IfNoneMatch bool   // the object must not exist
	// Expires, if not zero, is when the hub deletes the object
	// (X-Parley-Expires; it must be in the future by the hub's clock).
	Expires time.Time
}

// Put writes data to path in the user's bucket and returns its ETag.
// A failed condition wraps hub.ErrPrecondition.
func (c *Client) Put(ctx context.Context, path string, data []byte, contentType string, cond Cond) (string, error) {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	var out hubapi.StoreAnswer
	err := c.authorized("put", func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/store/"+c.address+"/"+escapePath(path), bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", contentType)
		if cond.IfNoneMatch {
			req.Header.Set("If-None-Match", "*")
		} else if cond.IfMatch != "" {
			req.Header.Set("If-Match", cond.IfMatch)
		}
		if !cond.Expires.IsZero() {
			req.Header.Set(ExpiresHeader, strconv.FormatInt(cond.Expires.Unix(), 10))
		}
		return req, nil
	}, http.StatusAccepted, maxInfoBytes, &out)
	if err != nil {
		return "", fmt.Errorf("hubclient: put %s: %w", path, err)
	}
	return out.ETag, nil
}

// Get reads path from address's bucket (anyone's: reads are public). An
// object over MaxObjectBytes is an error wrapping ErrAnswerTooLarge, found
// as soon as that many bytes arrived.
func (c *Client) Get(ctx context.Context, address, path string) ([]byte, string, error) {
	return c.GetIfChanged(ctx, address, path, "")
}

// GetIfChanged is Get unless the object's ETag is etag (if not empty):
// then it returns no data, etag and no error, without reading the object.
func (c *Client) GetIfChanged(ctx context.Context, address, path, etag string) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/read/"+address+"/"+escapePath(path), nil)
	if err != nil {
		return nil, "", err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", `"`+etag+`"`)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("hubclient: get %s/%s: %w", address, path, err)
	}
	defer res.Body.Close()
	if etag != "" && res.StatusCode == http.StatusNotModified {
		return nil, etag, nil
	}
	if res.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("hubclient: get %s/%s: %w", address, path, errorOf(res))
	}
	b, err := c.readLimited(res, MaxObjectBytes)
	if err != nil {
		return nil, "", fmt.Errorf("hubclient: get %s/%s: %w", address, path, err)
	}
	return b, res.Header.Get("ETag"), nil
}

// Delete removes path from the user's bucket; ifMatch, if set, must be its
// ETag.
func (c *Client) Delete(ctx context.Context, path, ifMatch string) error {
	err := c.authorized("delete", func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, "DELETE", c.base+"/delete/"+c.address+"/"+escapePath(path), nil)
		if err == nil && ifMatch != "" {
			req.Header.Set("If-Match", ifMatch)
		}
		return req, err
	}, http.StatusAccepted, maxInfoBytes, nil)
	if err != nil {
		return fmt.Errorf("hubclient: delete %s: %w", path, err)
	}
	return nil
}

// Entry is one listed object.
type Entry = hubapi.ListEntry

// ExpiresHeader carries an object's expiry.
const ExpiresHeader = hubapi.ExpiresHeader

// List returns every object of the user's bucket, following pages: at
// most MaxListEntries (beyond, an error wrapping ErrAnswerTooLarge), and
// a page token the hub gave before is an error wrapping ErrBadAnswer.
func (c *Client) List(ctx context.Context) ([]Entry, error) {
	var all []Entry
	var page *string
	seen := map[string]bool{}
	for {
		body, _ := json.Marshal(map[string]any{"page": page, "stat": true})
		var out struct {
			Entries []Entry `json:"entries"`
			Page    *string `json:"page"`
		}
		err := c.authorized("list", func() (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/list-files/"+c.address, bytes.NewReader(body))
			if err == nil {
				req.Header.Set("Content-Type", "application/json")
			}
			return req, err
		}, http.StatusAccepted, maxJSONBytes, &out)
		if err != nil {
			return nil, fmt.Errorf("hubclient: list: %w", err)
		}
		if len(all)+len(out.Entries) > MaxListEntries {
			return nil, fmt.Errorf("hubclient: list: %w", c.badAnswer(ErrAnswerTooLarge, "more than %d entries", MaxListEntries))
		}
		all = append(all, out.Entries...)
		if out.Page == nil || len(out.Entries) == 0 {
			return all, nil
		}
		if seen[*out.Page] {
			return nil, fmt.Errorf("hubclient: list: %w", c.badAnswer(ErrBadAnswer, "page token %.40q given twice", *out.Page))
		}
		seen[*out.Page] = true
		page = out.Page
	}
}

// InboxPost drops envelope into address's inbox on this hub, solving a
// fresh proof-of-work stamp (hub.SolveInboxStamp, dated by the hub's
// clock) each time. No token is sent: the hub does not learn who posted.
// The work is hub_info's difficulty, or, once, what the hub's refusal
// says the inbox needs now (hub.InboxDifficulty, as it fills); never
// more than hub.MaxInboxDifficulty bits (ErrTooMuchWork).
func (c *Client) InboxPost(ctx context.Context, address string, envelope []byte) (string, error) {
	if c.info.Parley.InboxStamp != hub.InboxStampVersion {
		return "", fmt.Errorf("hubclient: inbox post: the hub takes inbox stamps %q, this client makes %s (the hub needs an update)", c.info.Parley.InboxStamp, hub.InboxStampVersion)
	}
	// The stamp is bound to the URL posted to: a hub that copies
	// another's hub_info cannot replay it there.
	hubURL, err := auth.CanonicalHubURL(c.base)
	if err != nil {
		return "", fmt.Errorf("hubclient: inbox post: %w", err)
	}
	bits := c.info.Parley.InboxPow
	for tries := 0; ; tries++ {
		if bits > hub.MaxInboxDifficulty {
			return "", fmt.Errorf("hubclient: inbox post: %w", c.badAnswer(ErrBadAnswer, "%w: it asks for a stamp of %d bits, this client makes at most %d", ErrTooMuchWork, bits, hub.MaxInboxDifficulty))
		}
		stamp, err := hub.SolveInboxStamp(ctx, hubURL, address, envelope, c.now().Add(c.skew), bits)
		if err != nil {
			return "", err
		}
		req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/inbox/"+address, bytes.NewReader(envelope))
		if err != nil {
			return "", err
		}
		req.Header.Set(hub.InboxStampHeader, stamp.String())
		var out struct {
			ID string `json:"id"`
		}
		h, err := c.doHeader(req, http.StatusAccepted, maxInfoBytes, &out)
		if err == nil {
			return out.ID, nil
		}
		if need, perr := strconv.Atoi(h.Get(hub.InboxDifficultyHeader)); tries == 0 && perr == nil && need > bits && errors.Is(err, hub.ErrBadStamp) {
			bits = need // the inbox filled: it needs more work now
			continue
		}
		return "", fmt.Errorf("hubclient: inbox post: %w", err)
	}
}

// InboxEntry is one envelope waiting in the user's inbox.
type InboxEntry = hubapi.InboxEntry

// InboxList lists the user's inbox, oldest first.
func (c *Client) InboxList(ctx context.Context) ([]InboxEntry, error) {
	var out struct {
		Entries []InboxEntry `json:"entries"`
	}
	err := c.authorized("inbox", func() (*http.Request, error) {
		return http.NewRequestWithContext(ctx, "GET", c.base+"/inbox/"+c.address, nil)
	}, http.StatusOK, maxJSONBytes, &out)
	if err != nil {
		return nil, fmt.Errorf("hubclient: inbox list: %w", err)
	}
	return out.Entries, nil
}

// InboxGet reads one envelope of the user's inbox (at most the hub's
// envelope limit, and never over 1 MiB).
func (c *Client) InboxGet(ctx context.Context, id string) ([]byte, error) {
	var env []byte
	limit := min(max(c.info.Parley.InboxMaxBytes, 1), 1<<20)
	err := c.authorized("inbox", func() (*http.Request, error) {
		return http.NewRequestWithContext(ctx, "GET", c.base+"/inbox/"+c.address+"/"+url.PathEscape(id), nil)
	}, http.StatusOK, limit, rawBody{&env})
	if err != nil {
		return nil, fmt.Errorf("hubclient: inbox get: %w", err)
	}
	return env, nil
}

// InboxDelete removes one envelope of the user's inbox.
func (c *Client) InboxDelete(ctx context.Context, id string) error {
	err := c.authorized("inbox", func() (*http.Request, error) {
		return http.NewRequestWithContext(ctx, "DELETE", c.base+"/inbox/"+c.address+"/"+url.PathEscape(id), nil)
	}, http.StatusAccepted, maxInfoBytes, nil)
	if err != nil {
		return fmt.Errorf("hubclient: inbox delete: %w", err)
	}
	return nil
}

// Follow names an address (and path prefix) to watch.
type Follow struct {
	Address string `json:"address"`
	Prefix  string `json:"prefix"`
}

// Event is a change notification. Reset events carry no change: the watch
// could not resume from its cursor and the caller must list again.
type Event struct {
	hubapi.Event        // Op is "" for control events
	Kind         string `json:"-"` // "change", "ready" or "reset"
	Cursor       string `json:"-"` // resume from here
}

// ErrWatchEnded is returned by Watch when the hub closes the stream (it
// restarted, or the watcher fell behind): resume from the last cursor.
var ErrWatchEnded = errors.New("hubclient: watch stream ended")

// Watch streams changes under follows, resuming after cursor if it is not
// empty, and calls fn for each event (changes, "ready" after the backlog,
// "reset" if the cursor could not be resumed). It returns when ctx ends,
// fn returns an error, or the stream ends (ErrWatchEnded). A token (scoped
// to the inbox) goes with it only on the user's own hub (a Client with a
// key) and only when follows include the user's own inbox, so that the
// hub announces arrivals there. A stream that breaks the protocol (a
// second "ready" or "reset", a reset after ready, a malformed change)
// ends with an error wrapping ErrBadAnswer; an event line over 64 KiB,
// with one wrapping ErrAnswerTooLarge.
func (c *Client) Watch(ctx context.Context, follows []Follow, cursor string, fn func(Event) error) error {
	body, _ := json.Marshal(map[string]any{"follow": follows, "cursor": cursor})
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/watch", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if c.priv != nil && slices.ContainsFunc(follows, func(f Follow) bool { return f.Address == c.address && strings.HasPrefix(f.Prefix, "_inbox/") }) {
		tok, err := c.bearer("inbox", false)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", tok)
	}
	hc := *c.http
	hc.Timeout = 0 // a stream lives as long as ctx
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("hubclient: watch: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		if res.StatusCode == http.StatusUnauthorized {
			c.mu.Lock()
			delete(c.tokens, "inbox") // revoked, or the clock moved: the next watch makes a fresh one
			c.mu.Unlock()
		}
		return fmt.Errorf("hubclient: watch: %w", errorOf(res))
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 4096), maxEventBytes)
	var kind, id, data string
	ready, reset := false, false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			kind = line[7:]
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		case line == "" && kind != "":
			ev := Event{Kind: kind, Cursor: id}
			switch kind {
			case "change":
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					return fmt.Errorf("hubclient: watch: %w", c.badAnswer(ErrBadAnswer, "bad event: %v", err))
				}
			case "ready":
				if ready {
					return fmt.Errorf("hubclient: watch: %w", c.badAnswer(ErrBadAnswer, "a second \"ready\""))
				}
				ready = true
				var r struct {
					Cursor string `json:"cursor"`
				}
				json.Unmarshal([]byte(data), &r)
				ev.Cursor = r.Cursor
			case "reset":
				if reset || ready {
					return fmt.Errorf("hubclient: watch: %w", c.badAnswer(ErrBadAnswer, "\"reset\" after \"ready\" or twice"))
				}
				reset = true
			}
			if err := fn(ev); err != nil {
				return err
			}
			kind, id, data = "", "", ""
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return fmt.Errorf("hubclient: watch: %w", c.badAnswer(ErrAnswerTooLarge, "an event line over %d bytes", maxEventBytes))
	}
	return ErrWatchEnded
}
