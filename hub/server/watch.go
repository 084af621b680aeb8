package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/hubapi"
)

// Event is one change notification (the wire's hubapi.Event).
type Event = hubapi.Event

// EventLog carries the change events of a hub served by several
// instances on one storage (hubd --nats; package hub/natslog): every
// instance publishes the changes it makes, and follows the log to deliver
// every instance's changes, in the log's one order, numbered by it. So a
// watcher's cursor (the log's epoch and a sequence number) resumes on any
// instance. Methods are safe for concurrent use.
type EventLog interface {
	// Epoch names the log: a log made anew has another, and cursors of
	// another epoch are not resumed.
	Epoch() string
	// Publish appends ev to the log; it returns once the log holds it.
	Publish(ctx context.Context, ev LogEvent) error
	// Follow calls fn, from one goroutine at a time, with the log's last
	// backlog events and then with each new one, in order, each with its
	// Seq, until ctx ends. It returns once following has started.
	Follow(ctx context.Context, backlog int, fn func(LogEvent)) error
	// Last is the sequence number of the log's last event (0: none).
	Last(ctx context.Context) (uint64, error)
}

// LogEvent is an event as the log carries it: the change, and what the
// other instances need beside it.
type LogEvent struct {
	Event
	// Delta is the change in bytes its address stores (for quotas).
	Delta int64 `json:"delta,omitempty"`
	// From names the instance that made the change.
	From string `json:"from,omitempty"`
}

// bus keeps the last changes in a ring and fans them out to watchers.
// Alone, it numbers events itself under a random epoch (a cursor from
// another run of the hub cannot be resumed, and the watcher is told to
// re-list); with an EventLog, the log numbers them and names the epoch,
// and the bus delivers what the log delivers (deliver).
type bus struct {
	mu     sync.Mutex
	epoch  string
	seq    uint64  // the last event's number
	first  uint64  // no event before it is held (a gap in the log, or where following began)
	ring   []Event // the last len(ring) events, ring[seq % len] = event seq
	subs   map[*sub]struct{}
	closed bool
}

type sub struct {
	match func(Event) bool
	after uint64     // events up to it are not sent (a cursor ahead of this instance)
	ch    chan Event // closed when the watcher falls too far behind
}

func newBus(backlog int, epoch string) *bus {
	if epoch == "" {
		e := make([]byte, 8)
		rand.Read(e)
		epoch = hex.EncodeToString(e)
	}
	return &bus{epoch: epoch, first: 1, ring: make([]Event, backlog), subs: make(map[*sub]struct{})}
}

// publish numbers ev as the next event and delivers it (a hub alone).
func (b *bus) publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ev.Seq = b.seq + 1
	b.add(ev)
}

// deliver takes an event numbered by the log; an event already seen is
// dropped, and one after a gap makes the ring start there.
func (b *bus) deliver(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ev.Seq <= b.seq {
		return
	}
	if ev.Seq != b.seq+1 {
		b.first = ev.Seq
	}
	b.add(ev)
}

func (b *bus) add(ev Event) {
	b.seq = ev.Seq
	b.ring[b.seq%uint64(len(b.ring))] = ev
	for s := range b.subs {
		if ev.Seq <= s.after || !s.match(ev) {
			continue
		}
		select {
		case s.ch <- ev:
		default: // too slow: drop it; it resumes from its cursor
			close(s.ch)
			delete(b.subs, s)
		}
	}
}

// resumeFrom says how a cursor (epoch, after) resumes here.
type resumeFrom int

const (
	resumeNow   resumeFrom = iota // the backlog after it is here
	resumeReset                   // what followed it is gone: list again
	resumeAhead                   // it is beyond this instance's last event: later ones are skipped up to it (if the log has it)
)

// subscribe registers a watcher and returns the events after cursor seq
// still in the ring, or how else the cursor resumes.
func (b *bus) subscribe(match func(Event) bool, epoch string, after uint64, resume bool) (s *sub, backlog []Event, how resumeFrom) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s = &sub{match: match, ch: make(chan Event, subBuffer)}
	if !b.closed {
		b.subs[s] = struct{}{}
	} else {
		close(s.ch)
	}
	if !resume {
		return s, nil, resumeNow
	}
	oldest := b.first
	if b.seq >= uint64(len(b.ring)) {
		oldest = max(oldest, b.seq-uint64(len(b.ring))+1)
	}
	switch {
	case epoch != b.epoch || after+1 < oldest:
		return s, nil, resumeReset
	case after > b.seq:
		s.after = after
		return s, nil, resumeAhead
	}
	for q := after + 1; q <= b.seq; q++ {
		if ev := b.ring[q%uint64(len(b.ring))]; match(ev) {
			backlog = append(backlog, ev)
		}
	}
	return s, backlog, resumeNow
}

// unskip makes s get every event from now on (its cursor was reset).
func (b *bus) unskip(s *sub) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s.after = 0
}

func (b *bus) unsubscribe(s *sub) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.ch)
	}
}

// cursor is the cursor of the last event, or of after if that is later.
func (b *bus) cursor(after uint64) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.epoch + "." + strconv.FormatUint(max(b.seq, after), 10)
}

func (b *bus) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		close(s.ch)
		delete(b.subs, s)
	}
}

// MaxFollows bounds the address/prefix pairs one watch may follow.
const MaxFollows = 5000

// subBuffer is how many events may wait for one watcher; one that falls
// further behind is disconnected and resumes from its cursor.
const subBuffer = 256

// Default watch limits (Config.MaxWatches and the others): about 30 KB of
// memory per open stream and 200 bytes per follow, so at most ~80 MB.
const (
	DefaultMaxWatches      = 1000
	DefaultMaxWatchesPerIP = 32
	DefaultMaxWatchFollows = 250_000
	DefaultMaxFollowsPerIP = 50_000
)

// watchLimits counts open streams and their follows, overall and per IP.
type watchLimits struct {
	mu               sync.Mutex
	watches, follows int
	perIP            map[string]*ipWatches
}

type ipWatches struct{ watches, follows int }

// acquireWatch takes a place for a stream of n follows from ip, or says
// which limit refuses it: per IP (429) before overall (503).
func (s *Server) acquireWatch(ip string, n int) (release func(), err error) {
	l, cfg := s.watches, s.cfg
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.perIP[ip]
	if w == nil {
		w = &ipWatches{}
	}
	switch {
	case w.watches+1 > cfg.MaxWatchesPerIP || w.follows+n > cfg.MaxWatchFollowsPerIP:
		s.metrics.refused.WithLabelValues("per_ip").Inc()
		return nil, fail(hub.ErrRateLimited,
			"this client holds %d watch streams following %d addresses; at most %d streams and %d follows per client", w.watches, w.follows, cfg.MaxWatchesPerIP, cfg.MaxWatchFollowsPerIP)
	case l.watches+1 > cfg.MaxWatches || l.follows+n > cfg.MaxWatchFollows:
		s.metrics.refused.WithLabelValues("overall").Inc()
		return nil, fail(hub.ErrBusy, "this hub serves as many watch streams as it can; try again later")
	}
	w.watches, w.follows = w.watches+1, w.follows+n
	l.perIP[ip] = w
	l.watches, l.follows = l.watches+1, l.follows+n
	s.metrics.watchers.Inc()
	s.metrics.follows.Add(float64(n))
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		w.watches, w.follows = w.watches-1, w.follows-n
		if w.watches == 0 {
			delete(l.perIP, ip)
		}
		l.watches, l.follows = l.watches-1, l.follows-n
		s.metrics.watchers.Dec()
		s.metrics.follows.Sub(float64(n))
	}, nil
}

type follow struct {
	Address string `json:"address"`
	Prefix  string `json:"prefix"`
}

// watch streams changes as Server-Sent Events. The watcher names what it
// follows as repeated follow=ADDRESS or follow=ADDRESS:PREFIX query
// parameters (GET), or as {"follow":[{"address","prefix"}], "cursor"} in a
// POST body for long lists. To resume, it sends the last event id it saw
// (Last-Event-ID header or cursor parameter): it then gets every change
// since, or an event "reset" when that is impossible, after which it must
// re-list what it follows. An event "ready" marks the end of the backlog.
// Arrivals in an inbox are events with path "_inbox/ID", sent only to a
// watcher whose Authorization token is the inbox owner's (and, for a
// native token with scopes, has the inbox scope). Streams and follows are
// limited per client IP and overall (acquireWatch).
func (s *Server) watch(c echo.Context) error {
	var req struct {
		Follow []follow `json:"follow"`
		Cursor string   `json:"cursor"`
	}
	for _, f := range c.QueryParams()["follow"] {
		a, p, _ := strings.Cut(f, ":")
		req.Follow = append(req.Follow, follow{Address: a, Prefix: p})
	}
	req.Cursor = c.QueryParam("cursor")
	if c.Request().Method == http.MethodPost {
		if err := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, 1<<20)).Decode(&req); err != nil {
			return fail(hub.ErrBadRequest, "Invalid JSON: %v", err)
		}
	}
	if id := c.Request().Header.Get("Last-Event-ID"); id != "" {
		req.Cursor = id
	}
	if len(req.Follow) == 0 || len(req.Follow) > MaxFollows {
		return fail(hub.ErrBadRequest, "follow 1 to %d addresses", MaxFollows)
	}
	byAddr := make(map[string][]string, len(req.Follow))
	for _, f := range req.Follow {
		if err := hub.ValidateAddress(f.Address); err != nil {
			return fail(hub.ErrBadRequest, "follow: %v", err)
		}
		byAddr[f.Address] = append(byAddr[f.Address], f.Prefix)
	}
	release, err := s.acquireWatch(sourceOf(c.RealIP()), len(req.Follow))
	if err != nil {
		return err
	}
	defer release()
	// A watcher with a token for an address also learns of arrivals in
	// that address's inbox; nobody else does, whatever prefix it follows.
	// Only the address the token claims is checked: one signature at most.
	// A token that fails for a followed address is refused (401), so that
	// its holder learns it (it was revoked, say) instead of silently
	// hearing nothing of its inbox.
	owner := ""
	if h := c.Request().Header.Get("Authorization"); h != "" {
		if a, ok := s.verify.Subject(h); ok && len(byAddr[a]) > 0 {
			g, err := s.authorize(c, a)
			if err != nil {
				return err
			}
			if g.AllowInbox() {
				owner = a
			}
		}
	}
	match := func(ev Event) bool {
		if strings.HasPrefix(ev.Path, InboxEventPrefix) && ev.Address != owner {
			return false
		}
		for _, p := range byAddr[ev.Address] {
			if strings.HasPrefix(ev.Path, p) {
				return true
			}
		}
		return false
	}
	var (
		epoch  string
		after  uint64
		resume = req.Cursor != ""
	)
	if resume {
		e, q, ok := strings.Cut(req.Cursor, ".")
		n, err := strconv.ParseUint(q, 10, 64)
		if !ok || err != nil {
			return fail(hub.ErrBadRequest, "malformed cursor %q", req.Cursor)
		}
		epoch, after = e, n
	}
	sb, backlog, how := s.events.subscribe(match, epoch, after, resume)
	defer s.events.unsubscribe(sb)
	if how == resumeAhead {
		// A cursor beyond this instance's last event: from another
		// instance that is ahead of this one, if the log has it;
		// otherwise made up, or from a log since made anew.
		last := uint64(0)
		if s.cfg.Events != nil {
			lctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
			last, err = s.cfg.Events.Last(lctx)
			cancel()
			if err != nil {
				return err
			}
		}
		if after > last {
			how = resumeReset
			s.events.unskip(sb)
		}
	}

	w := c.Response()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, id string, data any) error {
		b, _ := json.Marshal(data)
		if id != "" {
			fmt.Fprintf(w, "id: %s\n", id)
		}
		_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		return err
	}
	if how == resumeReset {
		after = 0
		if err := send("reset", "", map[string]string{"reason": "cannot resume from that cursor; list again"}); err != nil {
			return nil
		}
	}
	for _, ev := range backlog {
		if err := send("change", s.events.epoch+"."+strconv.FormatUint(ev.Seq, 10), ev); err != nil {
			return nil
		}
	}
	if cur := s.events.cursor(after); send("ready", cur, map[string]string{"cursor": cur}) != nil {
		return nil
	}
	w.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	ctx := c.Request().Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return nil
			}
			w.Flush()
		case ev, ok := <-sb.ch:
			if !ok {
				return nil // too far behind, or shutting down: the watcher resumes from its cursor
			}
			if err := send("change", s.events.epoch+"."+strconv.FormatUint(ev.Seq, 10), ev); err != nil {
				return nil
			}
			w.Flush()
		}
	}
}
