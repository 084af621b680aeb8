package server_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/parley-im/parley/hub/server"
)

// slowLog is an event log whose deliveries the test releases: it holds
// what was published, and delivers to a follower only up to where the
// test lets it (an instance behind the others).
type slowLog struct {
	mu     sync.Mutex
	events []server.LogEvent
	fn     func(server.LogEvent)
	upTo   uint64 // delivered so far
}

func (l *slowLog) Epoch() string { return "0123456789abcdef0123456789abcdef" }

func (l *slowLog) Publish(_ context.Context, ev server.LogEvent) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev.Seq = uint64(len(l.events) + 1)
	l.events = append(l.events, ev)
	return nil
}

func (l *slowLog) Follow(_ context.Context, _ int, fn func(server.LogEvent)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fn = fn
	return nil
}

func (l *slowLog) Last(context.Context) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.events)), nil
}

// deliver hands the follower the events up to seq.
func (l *slowLog) deliver(seq uint64) {
	l.mu.Lock()
	fn, evs := l.fn, l.events[l.upTo:seq]
	l.upTo = seq
	l.mu.Unlock()
	for _, ev := range evs {
		fn(ev)
	}
}

// TestCursorFromAnInstanceAhead: a watcher resumes, on an instance that
// has not yet delivered the event its cursor names (it came from an
// instance ahead), without a reset: it gets no event up to its cursor and
// every one after, as they arrive. A cursor beyond the log's last event
// is reset.
func TestCursorFromAnInstanceAhead(t *testing.T) {
	log := &slowLog{}
	e := newEnv(t, func(c *server.Config) { c.Events = log })
	for i := range 5 {
		if res, b := e.do("POST", "/store/"+e.addr+"/p"+strconv.Itoa(i), []byte("x"), "Authorization", e.tok); res.StatusCode != 202 {
			t.Fatalf("write: %d %s", res.StatusCode, b)
		}
	}
	log.deliver(2) // this instance has delivered events 1 and 2 of 5
	w := e.watch("follow="+e.addr, "Last-Event-ID", log.Epoch()+".4")
	if ev := w.next(t); ev.event != "ready" || !strings.Contains(ev.data, log.Epoch()+".4") {
		t.Fatalf("resuming from a cursor ahead of the instance: %+v, want ready at .4 (no reset)", ev)
	}
	log.deliver(5)
	if ev := w.next(t); ev.event != "change" || ev.id != log.Epoch()+".5" || !strings.Contains(ev.data, `"path":"p4"`) {
		t.Fatalf("after the instance caught up: %+v, want change 5 (p4) only", ev)
	}
	r := e.watch("follow="+e.addr, "Last-Event-ID", log.Epoch()+".99")
	if ev := r.next(t); ev.event != "reset" {
		t.Fatalf("a cursor beyond the log: %+v, want reset", ev)
	}
	o := e.watch("follow="+e.addr, "Last-Event-ID", "ffffffffffffffffffffffffffffffff.3")
	if ev := o.next(t); ev.event != "reset" {
		t.Fatalf("a cursor of another epoch: %+v, want reset", ev)
	}
}
