package agent

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-im/parley/internal/api"
)

// The event stream: every event the agent publishes goes into a ring of
// the last few (Options.EventBuffer); each reader of GET /v1/events reads
// the ring at its own pace. Publishing never waits for a reader: a reader
// that falls further behind than the ring holds is told so (an event of
// type reset) and goes on from the oldest event kept; one that stops
// reading is dropped once a write has waited Limits.Write.

// eventLog is the ring of recent events.
type eventLog struct {
	mu     sync.Mutex
	boot   string // this run's cursor prefix: a cursor of another run is a reset
	next   uint64 // the sequence number of the next event
	ring   []api.Event
	wake   chan struct{} // closed and replaced on every publish
	closed bool
}

func newEventLog(n int) *eventLog {
	if n <= 0 {
		n = 1024
	}
	var b [6]byte
	rand.Read(b[:])
	return &eventLog{boot: hex.EncodeToString(b[:]), ring: make([]api.Event, n), wake: make(chan struct{})}
}

// publish adds ev (its cursor and time set here).
func (l *eventLog) publish(ev api.Event, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	ev.Cursor = l.boot + "-" + strconv.FormatUint(l.next, 10)
	if ev.Time.IsZero() {
		ev.Time = now
	}
	l.ring[l.next%uint64(len(l.ring))] = ev
	l.next++
	close(l.wake)
	l.wake = make(chan struct{})
}

// start is where a reader resuming after cursor begins, and whether it
// missed events (a cursor of another run, or older than the ring).
func (l *eventLog) start(cursor string) (seq uint64, missed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cursor == "" {
		return l.next, false
	}
	boot, n, ok := strings.Cut(cursor, "-")
	s, err := strconv.ParseUint(n, 10, 64)
	if !ok || err != nil || boot != l.boot || s >= l.next {
		return l.next, true
	}
	oldest := uint64(0)
	if l.next > uint64(len(l.ring)) {
		oldest = l.next - uint64(len(l.ring))
	}
	if s+1 < oldest {
		return oldest, true
	}
	return s + 1, false
}

// read returns the events from seq on (at most max), the sequence number
// after them, whether events before them were lost meanwhile, and a
// channel closed at the next publish.
func (l *eventLog) read(seq uint64, max int) (evs []api.Event, next uint64, missed bool, wake <-chan struct{}, closed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	oldest := uint64(0)
	if l.next > uint64(len(l.ring)) {
		oldest = l.next - uint64(len(l.ring))
	}
	if seq < oldest {
		seq, missed = oldest, true
	}
	for ; seq < l.next && len(evs) < max; seq++ {
		evs = append(evs, l.ring[seq%uint64(len(l.ring))])
	}
	return evs, seq, missed, l.wake, l.closed
}

// close ends every stream.
func (l *eventLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.wake)
	}
}

// cursor is the cursor of the last event published ("" before the first).
func (l *eventLog) cursor() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.next == 0 {
		return ""
	}
	return l.boot + "-" + strconv.FormatUint(l.next-1, 10)
}

// publish adds an event to the stream.
func (a *Agent) publish(ev api.Event) { a.events.publish(ev, a.opts.Now()) }

// pingEvery is how often an idle stream says it is alive.
const pingEvery = 25 * time.Second

// serveEvents is GET /v1/events[?after=CURSOR]: NDJSON, or server-sent
// events if the caller accepts text/event-stream (Last-Event-ID resumes
// like after).
func (a *Agent) serveEvents(w http.ResponseWriter, r *http.Request) {
	a.streamsMu.Lock()
	if a.streams >= a.opts.Limits.Streams {
		a.streamsMu.Unlock()
		writeEnvelope(w, a.opts.Limits.Write, http.StatusServiceUnavailable, api.Envelope{Error: api.Errorf(api.CodeTooLarge,
			fmt.Sprintf("this agent serves at most %d event streams at once", a.opts.Limits.Streams))})
		return
	}
	a.streams++
	a.streamsMu.Unlock()
	defer func() {
		a.streamsMu.Lock()
		a.streams--
		a.streamsMu.Unlock()
	}()
	sse := strings.Contains(r.Header.Get("Accept"), api.SSE)
	after := r.URL.Query().Get("after")
	if id := r.Header.Get("Last-Event-ID"); id != "" && after == "" {
		after = id
	}
	seq, missed := a.events.start(after)
	if sse {
		w.Header().Set("Content-Type", api.SSE)
	} else {
		w.Header().Set("Content-Type", api.NDJSON)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// A stream outlives the server's read deadline (Limits.Body); a
	// reader that stops reading is dropped by the write deadline.
	rc.SetReadDeadline(time.Time{})
	write := func(ev api.Event) bool {
		b, err := json.Marshal(ev)
		if err != nil {
			return true
		}
		if sse {
			b = fmt.Appendf(nil, "id: %s\nevent: %s\ndata: %s\n\n", ev.Cursor, ev.Type, b)
		} else {
			b = append(b, '\n')
		}
		rc.SetWriteDeadline(time.Now().Add(a.opts.Limits.Write))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return true
	}
	reset := func() bool {
		return write(api.Event{Type: api.EventReset, Time: a.opts.Now(), Cursor: a.events.cursor()})
	}
	if missed && !reset() {
		return
	}
	// Where the stream begins: the first write says the agent is there.
	if !write(api.Event{Type: api.EventPing, Time: a.opts.Now(), Cursor: a.events.cursor()}) {
		return
	}
	rc.Flush()
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		evs, next, lost, wake, closed := a.events.read(seq, 256)
		if lost && !reset() {
			return
		}
		for _, ev := range evs {
			if !write(ev) {
				return
			}
		}
		seq = next
		if len(evs) > 0 {
			if rc.Flush() != nil {
				return
			}
			continue
		}
		if closed {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-wake:
		case <-ping.C:
			if !write(api.Event{Type: api.EventPing, Time: a.opts.Now()}) || rc.Flush() != nil {
				return
			}
		}
	}
}
