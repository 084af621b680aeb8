package agent

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/internal/api"
)

// The daemon's duties: what commands did only while they ran, done all
// the time. They are the client's Watch (one change stream per hub, the
// user's inbox on each of the user's hubs; receipts written as messages
// arrive; every few seconds the outbox flushed, disappearing messages
// expired, groups brought up to date; the backup kept current; every
// contact's record looked up again, key changes said), with what it
// reports turned into events; and hub and chain health, seen from every
// request the client makes (health), never from requests of its own.

// Notifier shows a desktop notification.
type Notifier interface {
	Notify(ctx context.Context, title, body string) error
}

// startDuties starts the duties of a daemon whose client is open (once).
func (a *Agent) startDuties() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.opts.Mode != ModeDaemon || a.c == nil || a.duties != nil || a.closed {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	a.duties, a.dutiesDone = cancel, done
	c := a.c
	go func() {
		defer close(done)
		a.follow(ctx, c)
	}()
}

// stopDuties stops the duties and waits for them.
func (a *Agent) stopDuties() {
	a.mu.Lock()
	cancel, done := a.duties, a.dutiesDone
	a.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// Following restarts after a failure of Watch itself with back-off.
const (
	followFirst = time.Second
	followMax   = time.Minute
)

// follow runs the client's Watch until ctx ends, publishing what it
// reports.
func (a *Agent) follow(ctx context.Context, c *client.Client) {
	a.log.Info("following the hubs", "name", c.Name, "hubs", c.Hubs())
	backoff := followFirst
	for ctx.Err() == nil {
		err := c.Watch(ctx, func(n client.Notice) { a.watched(ctx, c, n) }, func(err error) { a.watchError(err) })
		if ctx.Err() != nil {
			return
		}
		a.log.Warn("following stopped; starting again", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, followMax)
	}
}

// watched publishes what the watch reported.
func (a *Agent) watched(ctx context.Context, c *client.Client, n client.Notice) {
	switch {
	case n.Kind == client.NoticeReceipt, n.Kind == client.NoticeMessage && n.Event.Kind == wire.KindReceipts:
		if name, ok := n.Conv.Contact(); ok {
			if r, err := c.ReceiptFrom(ctx, name); err == nil {
				a.receiptsMu.Lock()
				a.receipts[n.Conv] = receiptCache{r: r}
				a.receiptsMu.Unlock()
			}
		}
		a.publish(api.Event{Type: api.EventReceipt, Conversation: n.Conv.String()})
	case n.Kind == client.NoticeExpired:
		a.publish(api.Event{Type: api.EventExpired})
	case n.Kind == client.NoticeRequest:
		a.publish(api.Event{Type: api.EventRequest, Request: &api.Request{From: n.From, Device: n.Device, Greeting: n.Greeting, Time: n.Time}})
		a.notify(ctx, "contact request from "+n.From)
	case n.Kind == client.NoticeMessage:
		e := *n.Event
		am := apiEvent(c.Name, e)
		a.publish(api.Event{Type: api.EventMessage, Message: &am})
		if e.Kind == wire.KindText && e.From != c.Name {
			a.notify(ctx, "new message from "+e.From)
		}
	}
}

// watchError publishes a problem the watch reported.
func (a *Agent) watchError(err error) {
	var kc *client.KeyChange
	switch {
	case errors.As(err, &kc):
		a.log.Warn("a contact's keys changed", "name", kc.Name, "height", kc.Height, "reason", kc.Reason)
		a.publish(api.Event{Type: api.EventKeyChange, KeyChange: apiKeyChange(kc)})
	case client.IsOffline(err):
		// Hub and chain health say it (health, chainChanged), once.
	default:
		a.log.Warn("following", "error", err)
		a.publish(api.Event{Type: api.EventWarning, Error: a.apiError(err)})
	}
}

// notify shows a desktop notification, if they are on: only what body
// says ("new message from NAME"), never the message.
func (a *Agent) notify(ctx context.Context, body string) {
	if a.opts.Notifier == nil || !a.home.config().Notifications {
		return
	}
	nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := a.opts.Notifier.Notify(nctx, "Parley", body); err != nil {
		a.log.Warn("a desktop notification failed", "error", err)
	}
}

// chainChanged publishes whether the chain answers, when that changes.
func (a *Agent) chainChanged(up bool, err error) {
	ev := api.Event{Type: api.EventChain, Up: &up}
	if err != nil {
		ev.Error = a.apiError(err)
		a.log.Warn("the chain does not answer", "error", err)
	} else {
		a.log.Info("the chain answers")
	}
	a.publish(ev)
}

// health follows whether each hub answers, from the client's own
// requests: a request that gets an answer says the hub is up, one that
// cannot connect that it is down. Each change is published once.
type health struct {
	mu      sync.Mutex
	up      map[string]bool // by origin
	changed func(hub string, up bool, err error)
}

func newHealth() *health { return &health{up: map[string]bool{}} }

// seen records how a request to hub went.
func (h *health) seen(hub string, err error) {
	h.mu.Lock()
	up := err == nil
	was, known := h.up[hub]
	if known && was == up {
		h.mu.Unlock()
		return
	}
	if len(h.up) >= maxRecords && !known {
		clear(h.up)
	}
	h.up[hub] = up
	changed := h.changed
	h.mu.Unlock()
	if changed != nil {
		changed(hub, up, err)
	}
}

// healthTransport tells health how each request went.
type healthTransport struct {
	h    *health
	base http.RoundTripper
}

func (t healthTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(req)
	hub := req.URL.Scheme + "://" + req.URL.Host
	switch {
	case err == nil:
		t.h.seen(hub, nil)
	case req.Context().Err() == nil && unreachable(err):
		t.h.seen(hub, &url.Error{Op: req.Method, URL: hub, Err: err})
	}
	return res, err
}

// hubChanged publishes a hub's health.
func (a *Agent) hubChanged(hub string, up bool, err error) {
	ev := api.Event{Type: api.EventHub, Hub: hub, Up: &up}
	if err != nil {
		ev.Error = a.apiError(err)
		a.log.Warn("a hub does not answer", "hub", hub, "error", err)
	} else {
		a.log.Info("a hub answers", "hub", hub)
	}
	a.publish(ev)
}

// idleConnTimeout is how long the agent keeps an idle connection to a
// hub open: a burst (a catch-up, a flush) reuses it, and soon after, an
// idle agent holds only its change streams, one per hub (Go's default
// transport kept them 90 s).
const idleConnTimeout = 20 * time.Second

// httpClient is the client's HTTP client: hubclient's timeout, requests
// seen by health, idle connections closed after idleConnTimeout.
func (a *Agent) httpClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.IdleConnTimeout = idleConnTimeout
	return &http.Client{Timeout: 30 * time.Second, Transport: healthTransport{h: a.health, base: t}}
}
