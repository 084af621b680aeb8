// Package hubclient talks to Parley storage hubs over HTTP with native
// Ed25519 tokens: writes to the user's own bucket, public reads of anyone's,
// the sealed inbox and the change-notification stream. Statuses map back to
// the hub package's sentinel errors (hub.ErrNotFound, hub.ErrPrecondition,
// ...), so callers never match error text.
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
	"strings"
	"sync"
	"time"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
)

// Info is what a hub advertises in hub_info.
type Info struct {
	Challenge     string  `json:"challenge_text"`
	AuthVersion   string  `json:"latest_auth_version"`
	MaxUploadMiB  float64 `json:"max_file_upload_size_megabytes"`
	ReadURLPrefix string  `json:"read_url_prefix"`
	Parley        struct {
		NativeAuth      string `json:"native_auth"`
		InboxPow        int    `json:"inbox_pow_difficulty"`
		InboxStamp      string `json:"inbox_stamp"`
		InboxMaxBytes   int64  `json:"inbox_max_envelope_bytes"`
		InboxMaxEntries int    `json:"inbox_max_entries"`
		WatchURL        string `json:"watch_url"`
	} `json:"parley"`
}

// Client is one user's connection to one hub. It is safe for concurrent use.
type Client struct {
	base    string
	http    *http.Client
	priv    ed25519.PrivateKey
	address string
	info    Info
	now     func() time.Time

	skew time.Duration // the hub's clock minus ours, as its hub_info answer's Date said

	mu       sync.Mutex
	token    string
	tokenExp time.Time
}

// TokenLifetime is how long the client's tokens live; it makes a new one
// before the old one expires.
const TokenLifetime = time.Hour

// Dial reads the hub's hub_info. priv is the key of the user's bucket on
// this hub (its address is auth.NativeAddress of the public key).
func Dial(ctx context.Context, hubURL string, priv ed25519.PrivateKey, hc *http.Client) (*Client, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	c := &Client{base: strings.TrimRight(hubURL, "/"), http: hc, priv: priv, now: time.Now,
		address: auth.NativeAddress(priv.Public().(ed25519.PublicKey))}
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
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&c.info); err != nil {
		return nil, fmt.Errorf("hubclient: hub_info of %s: %w", hubURL, err)
	}
	if d, err := http.ParseTime(res.Header.Get("Date")); err == nil {
		// Stamps are dated by the hub's clock: a device whose clock is off
		// still posts within the hub's window.
		c.skew = d.Sub(sent.Truncate(time.Second))
	}
	if c.info.Parley.NativeAuth != auth.NativeScheme {
		return nil, fmt.Errorf("hubclient: %s does not accept native tokens", hubURL)
	}
	return c, nil
}

// Address is the user's bucket address on this hub.
func (c *Client) Address() string { return c.address }

// Info returns the hub's hub_info.
func (c *Client) Info() Info { return c.info }

func (c *Client) bearer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.token == "" || now.Add(5*time.Minute).After(c.tokenExp) {
		c.tokenExp = now.Add(TokenLifetime)
		c.token = "bearer " + auth.MakeNative(c.priv, c.info.Challenge, now, c.tokenExp, nil)
	}
	return c.token
}

// errorOf maps an answer's status to a hub sentinel, with the hub's message.
func errorOf(res *http.Response) error {
	var body struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	json.Unmarshal(b, &body)
	msg := body.Message
	if msg == "" {
		msg = strings.TrimSpace(string(b))
	}
	var s error
	switch res.StatusCode {
	case http.StatusNotFound:
		s = hub.ErrNotFound
	case http.StatusPreconditionFailed:
		s = hub.ErrPrecondition
	case http.StatusUnauthorized:
		s = hub.ErrUnauthorized
	case http.StatusForbidden, http.StatusBadRequest:
		s = hub.ErrInvalid
	case http.StatusRequestEntityTooLarge:
		s = hub.ErrTooLarge
	case http.StatusInsufficientStorage:
		s = hub.ErrQuota
	case http.StatusTooManyRequests:
		s = hub.ErrRateLimited
	case http.StatusConflict:
		s = hub.ErrStampUsed
	default:
		return fmt.Errorf("hub answered %s: %s", res.Status, msg)
	}
	return fmt.Errorf("%w: %s", s, msg)
}

// do sends req and decodes a JSON answer into out (if not nil).
func (c *Client) do(req *http.Request, want int, out any) error {
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		return errorOf(res)
	}
	if out == nil {
		io.Copy(io.Discard, res.Body)
		return nil
	}
	return json.NewDecoder(res.Body).Decode(out)
}

func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// Cond is the condition of a write: the zero value is unconditional.
type Cond struct {
	IfMatch     string // the ETag the object must have
	IfNoneMatch bool   // the object must not exist
}

// Put writes data to path in the user's bucket and returns its ETag.
// A failed condition wraps hub.ErrPrecondition.
func (c *Client) Put(ctx context.Context, path string, data []byte, contentType string, cond Cond) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/store/"+c.address+"/"+escapePath(path), bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", c.bearer())
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	req.Header.Set("Content-Type", contentType)
	if cond.IfNoneMatch {
		req.Header.Set("If-None-Match", "*")
	} else if cond.IfMatch != "" {
		req.Header.Set("If-Match", cond.IfMatch)
	}
	var out struct {
		ETag string `json:"etag"`
	}
	if err := c.do(req, http.StatusAccepted, &out); err != nil {
		return "", fmt.Errorf("hubclient: put %s: %w", path, err)
	}
	return out.ETag, nil
}

// Get reads path from address's bucket (anyone's: reads are public).
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
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, "", fmt.Errorf("hubclient: get %s/%s: %w", address, path, err)
	}
	return b, res.Header.Get("ETag"), nil
}

// Delete removes path from the user's bucket; ifMatch, if set, must be its
// ETag.
func (c *Client) Delete(ctx context.Context, path, ifMatch string) error {
	req, err := http.NewRequestWithContext(ctx, "DELETE", c.base+"/delete/"+c.address+"/"+escapePath(path), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", c.bearer())
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	if err := c.do(req, http.StatusAccepted, nil); err != nil {
		return fmt.Errorf("hubclient: delete %s: %w", path, err)
	}
	return nil
}

// Entry is one listed object.
type Entry struct {
	Name          string `json:"name"`
	ETag          string `json:"etag"`
	ContentLength int64  `json:"contentLength"`
	ContentType   string `json:"contentType"`
	LastModified  int64  `json:"lastModifiedDate"`
}

// List returns every object of the user's bucket, following pages.
func (c *Client) List(ctx context.Context) ([]Entry, error) {
	var all []Entry
	var page *string
	for {
		body, _ := json.Marshal(map[string]any{"page": page, "stat": true})
		req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/list-files/"+c.address, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", c.bearer())
		req.Header.Set("Content-Type", "application/json")
		var out struct {
			Entries []Entry `json:"entries"`
			Page    *string `json:"page"`
		}
		if err := c.do(req, http.StatusAccepted, &out); err != nil {
			return nil, fmt.Errorf("hubclient: list: %w", err)
		}
		all = append(all, out.Entries...)
		if out.Page == nil || len(out.Entries) == 0 {
			return all, nil
		}
		page = out.Page
	}
}

// InboxPost drops envelope into address's inbox on this hub, solving a
// fresh proof-of-work stamp (hub.SolveInboxStamp, dated by the hub's
// clock) each time. No token is sent: the hub does not learn who posted.
func (c *Client) InboxPost(ctx context.Context, address string, envelope []byte) (string, error) {
	if c.info.Parley.InboxStamp != "v2" {
		return "", fmt.Errorf("hubclient: inbox post: the hub takes inbox stamps %q, this client makes v2 (the hub needs an update)", c.info.Parley.InboxStamp)
	}
	stamp, err := hub.SolveInboxStamp(ctx, c.info.Challenge, address, envelope, c.now().Add(c.skew), c.info.Parley.InboxPow)
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
	if err := c.do(req, http.StatusAccepted, &out); err != nil {
		return "", fmt.Errorf("hubclient: inbox post: %w", err)
	}
	return out.ID, nil
}

// InboxEntry is one envelope waiting in the user's inbox.
type InboxEntry struct {
	ID       string `json:"id"`
	Size     int64  `json:"size"`
	Received int64  `json:"received"`
}

// InboxList lists the user's inbox, oldest first.
func (c *Client) InboxList(ctx context.Context) ([]InboxEntry, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/inbox/"+c.address, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", c.bearer())
	var out struct {
		Entries []InboxEntry `json:"entries"`
	}
	if err := c.do(req, http.StatusOK, &out); err != nil {
		return nil, fmt.Errorf("hubclient: inbox list: %w", err)
	}
	return out.Entries, nil
}

// InboxGet reads one envelope of the user's inbox.
func (c *Client) InboxGet(ctx context.Context, id string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/inbox/"+c.address+"/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", c.bearer())
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("hubclient: inbox get: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("hubclient: inbox get: %w", errorOf(res))
	}
	return io.ReadAll(io.LimitReader(res.Body, c.info.Parley.InboxMaxBytes+1))
}

// InboxDelete removes one envelope of the user's inbox.
func (c *Client) InboxDelete(ctx context.Context, id string) error {
	req, err := http.NewRequestWithContext(ctx, "DELETE", c.base+"/inbox/"+c.address+"/"+url.PathEscape(id), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", c.bearer())
	if err := c.do(req, http.StatusAccepted, nil); err != nil {
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
	Seq     uint64 `json:"seq"`
	Address string `json:"address"`
	Path    string `json:"path"`
	ETag    string `json:"etag"`
	Op      string `json:"op"` // "put", "delete", or "" for control events
	Kind    string `json:"-"`  // "change", "ready" or "reset"
	Cursor  string `json:"-"`  // resume from here
}

// ErrWatchEnded is returned by Watch when the hub closes the stream (it
// restarted, or the watcher fell behind): resume from the last cursor.
var ErrWatchEnded = errors.New("hubclient: watch stream ended")

// Watch streams changes under follows, resuming after cursor if it is not
// empty, and calls fn for each event (changes, "ready" after the backlog,
// "reset" if the cursor could not be resumed). It returns when ctx ends,
// fn returns an error, or the stream ends (ErrWatchEnded).
func (c *Client) Watch(ctx context.Context, follows []Follow, cursor string, fn func(Event) error) error {
	body, _ := json.Marshal(map[string]any{"follow": follows, "cursor": cursor})
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/watch", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", c.bearer()) // so the hub also announces arrivals in our inbox
	hc := *c.http
	hc.Timeout = 0 // a stream lives as long as ctx
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("hubclient: watch: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("hubclient: watch: %w", errorOf(res))
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 4096), 1<<20)
	var kind, id, data string
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
					return fmt.Errorf("hubclient: watch: bad event: %w", err)
				}
			case "ready":
				var r struct {
					Cursor string `json:"cursor"`
				}
				json.Unmarshal([]byte(data), &r)
				ev.Cursor = r.Cursor
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
	return ErrWatchEnded
}
