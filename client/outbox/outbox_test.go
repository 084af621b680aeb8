package outbox_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/client/outbox"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/internal/await"
)

// fakeHub is a hub in memory: what the user's bucket holds, the order of
// the writes, and a failure to give instead of writing.
type fakeHub struct {
	mu      sync.Mutex
	objects map[string][]byte
	writes  []string
	down    error
	// stall, if not nil, is closed by the test to let a Put through;
	// stalled is told when a Put waits on it.
	stall, stalled chan struct{}
}

func newHub() *fakeHub { return &fakeHub{objects: map[string][]byte{}} }

var errDown = errors.New("hub down")

func (h *fakeHub) Put(ctx context.Context, path string, blob []byte, ifNoneMatch bool, expires time.Time) error {
	h.mu.Lock()
	stall := h.stall
	h.mu.Unlock()
	if stall != nil {
		h.stalled <- struct{}{}
		<-stall
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down != nil {
		return h.down
	}
	if _, ok := h.objects[path]; ok && ifNoneMatch {
		return fmt.Errorf("put %s: %w", path, hub.ErrPrecondition)
	}
	h.objects[path] = blob
	h.writes = append(h.writes, path)
	return nil
}

func (h *fakeHub) ETag(ctx context.Context, path string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.objects[path]
	if !ok {
		return "", hub.ErrNotFound
	}
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:]), nil
}

func (h *fakeHub) setDown(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down = err
}

func (h *fakeHub) written() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.writes...)
}

var (
	now      = time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	indexKey = [32]byte{1}
)

const indexPath = "x/index"

// options flushes to the hubs, all the user's.
func options(hubs map[string]*fakeHub, urls ...string) outbox.FlushOptions {
	return outbox.FlushOptions{
		URLs:      urls,
		Own:       urls,
		Dial:      func(url string) (outbox.Hub, error) { return hubs[url], nil },
		IndexPath: indexPath,
		IndexKey:  indexKey,
		Now:       now,
	}
}

// add writes n messages to s.
func add(s *outbox.Stream, n int) {
	for range n {
		seq := s.Next()
		s.Add(seq, fmt.Sprintf("m/%d", seq), []byte(fmt.Sprintf("blob %d", seq)), time.Time{})
	}
}

// index opens the index the hub h holds.
func index(t *testing.T, h *fakeHub) wire.Index {
	t.Helper()
	h.mu.Lock()
	blob := h.objects[indexPath]
	h.mu.Unlock()
	x, err := wire.OpenIndex(indexKey, indexPath, blob)
	if err != nil {
		t.Fatalf("index: %v", err)
	}
	return *x
}

// TestFlushInOrder: each hub gets the messages in order, then the index;
// a hub that is down keeps its messages in the outbox until it is back;
// a message leaves the outbox once every hub has it.
func TestFlushInOrder(t *testing.T) {
	ctx := context.Background()
	a, b := newHub(), newHub()
	hubs := map[string]*fakeHub{"a": a, "b": b}
	var s outbox.Stream
	add(&s, 3)
	b.setDown(errDown)
	changed, failed, err := s.Flush(ctx, options(hubs, "a", "b"))
	if err != nil || !changed {
		t.Fatalf("Flush: changed %v, %v", changed, err)
	}
	if len(failed) != 1 || failed[0].URL != "b" || !errors.Is(failed[0].Err, errDown) {
		t.Fatalf("failures %+v, want hub b's", failed)
	}
	if got, want := a.written(), []string{"m/0", "m/1", "m/2", indexPath}; !reflect.DeepEqual(got, want) {
		t.Fatalf("hub a got %v, want %v", got, want)
	}
	if x := index(t, a); x.Count != 3 {
		t.Fatalf("hub a's index counts %d, want 3", x.Count)
	}
	for seq := range uint64(3) {
		if s.Queued(seq) || !s.InOutbox(seq) {
			t.Fatalf("message %d: queued %v, in the outbox %v; want held by a, waiting for b", seq, s.Queued(seq), s.InOutbox(seq))
		}
	}
	if got := s.Waiting("b"); got != 3 {
		t.Fatalf("waiting for b: %d, want 3", got)
	}

	b.setDown(nil)
	if _, failed, err := s.Flush(ctx, options(hubs, "a", "b")); err != nil || len(failed) > 0 {
		t.Fatalf("Flush: %v %+v", err, failed)
	}
	if got, want := b.written(), []string{"m/0", "m/1", "m/2", indexPath}; !reflect.DeepEqual(got, want) {
		t.Fatalf("hub b got %v, want %v", got, want)
	}
	if got := a.written(); len(got) != 4 {
		t.Fatalf("hub a was written to again: %v", got)
	}
	if s.Pending() {
		t.Fatalf("the outbox holds %+v, every hub has it", s.State().Outbox)
	}
	// Nothing new: nothing written.
	if changed, _, _ := s.Flush(ctx, options(hubs, "a", "b")); changed {
		t.Fatal("a Flush with nothing to do changed the stream")
	}
}

// TestFlushDeletions: a deletion rewrites the index only; the index lists
// what was deleted and what expires, below its count.
func TestFlushDeletions(t *testing.T) {
	ctx := context.Background()
	a := newHub()
	hubs := map[string]*fakeHub{"a": a}
	var s outbox.Stream
	add(&s, 2)
	s.Add(2, "m/2", []byte("blob 2"), now.Add(time.Hour))
	if _, _, err := s.Flush(ctx, options(hubs, "a")); err != nil {
		t.Fatal(err)
	}
	if !s.Forget(0) || s.Forget(0) {
		t.Fatal("Forget: want new once, then not")
	}
	if _, _, err := s.Flush(ctx, options(hubs, "a")); err != nil {
		t.Fatal(err)
	}
	if got, want := a.written(), []string{"m/0", "m/1", "m/2", indexPath, indexPath}; !reflect.DeepEqual(got, want) {
		t.Fatalf("hub got %v, want %v", got, want)
	}
	x := index(t, a)
	if x.Count != 3 || !reflect.DeepEqual(x.Deleted, []uint64{0}) || len(x.Expiring) != 1 || x.Expiring[0].Seq != 2 {
		t.Fatalf("index %+v, want 3 messages, 0 deleted, 2 expiring", x)
	}
	if got := s.HubExpiry(2); !got.Equal(now.Add(time.Hour)) {
		t.Fatalf("HubExpiry(2) = %v", got)
	}
}

// TestFlushAfterCrash: a message found on the hub as it was written (its
// answer lost to a crash) counts as done; another blob in its place is
// ErrOccupied, and the message stays queued.
func TestFlushAfterCrash(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		there    []byte
		wantErr  error
		wantSent bool
	}{
		{"same blob", []byte("blob 0"), nil, true},
		{"another blob", []byte("someone else's"), outbox.ErrOccupied, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newHub()
			a.objects["m/0"] = tc.there
			var s outbox.Stream
			add(&s, 1)
			_, failed, err := s.Flush(ctx, options(map[string]*fakeHub{"a": a}, "a"))
			if err != nil {
				t.Fatal(err)
			}
			var got error
			if len(failed) > 0 {
				got = failed[0].Err
			}
			if !errors.Is(got, tc.wantErr) || (tc.wantErr == nil && got != nil) {
				t.Fatalf("failure %v, want %v", got, tc.wantErr)
			}
			if sent := !s.Pending(); sent != tc.wantSent {
				t.Fatalf("sent %v, want %v", sent, tc.wantSent)
			}
		})
	}
}

// TestFlushSavedFirst: nothing goes out before the caller's save is on
// disk; if that save failed, nothing goes out at all.
func TestFlushSavedFirst(t *testing.T) {
	ctx := context.Background()
	a := newHub()
	var s outbox.Stream
	add(&s, 1)
	errDisk := errors.New("disk full")
	o := options(map[string]*fakeHub{"a": a}, "a")
	o.Saved = func() error { return errDisk }
	if _, _, err := s.Flush(ctx, o); !errors.Is(err, errDisk) {
		t.Fatalf("Flush: %v, want the save's error", err)
	}
	if got := a.written(); len(got) != 0 {
		t.Fatalf("the hub got %v before the save was on disk", got)
	}
	var saves int
	o.Saved = func() error {
		if len(a.written()) > 0 {
			t.Error("Saved called after an upload")
		}
		saves++
		return nil
	}
	if _, _, err := s.Flush(ctx, o); err != nil || saves != 1 || s.Pending() {
		t.Fatalf("Flush: %v, %d saves, pending %v", err, saves, s.Pending())
	}
}

// TestFlushExpired: a message whose hub expiry is a minute away or past
// is not uploaded; the index says it expired.
func TestFlushExpired(t *testing.T) {
	ctx := context.Background()
	a := newHub()
	var s outbox.Stream
	s.Add(0, "m/0", []byte("blob 0"), now.Add(30*time.Second))
	if _, _, err := s.Flush(ctx, options(map[string]*fakeHub{"a": a}, "a")); err != nil {
		t.Fatal(err)
	}
	if got, want := a.written(), []string{indexPath}; !reflect.DeepEqual(got, want) {
		t.Fatalf("hub got %v, want %v", got, want)
	}
	if x := index(t, a); x.Count != 1 || len(x.Expiring) != 1 {
		t.Fatalf("index %+v", x)
	}
}

// TestSlowHubDoesNotBlockTheStream: while an upload hangs, the stream is
// read and written to (its lock is not held across a hub call), and what
// is added meanwhile goes out with the next Flush.
func TestSlowHubDoesNotBlockTheStream(t *testing.T) {
	ctx := context.Background()
	a := newHub()
	a.stall, a.stalled = make(chan struct{}), make(chan struct{}, 1)
	var s outbox.Stream
	add(&s, 1)
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Flush(ctx, options(map[string]*fakeHub{"a": a}, "a"))
		done <- err
	}()
	<-a.stalled // the upload is under way, and waits
	used := make(chan struct{})
	go func() {
		defer close(used)
		add(&s, 1)
		s.Queued(0)
		s.State()
	}()
	await.True(t, time.Minute, "the stream used while a hub hangs", func() bool {
		select {
		case <-used:
			return true
		default:
			return false
		}
	})
	a.mu.Lock()
	release := a.stall
	a.stall = nil // later uploads go through
	a.mu.Unlock()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Flush(ctx, options(map[string]*fakeHub{"a": a}, "a")); err != nil {
		t.Fatal(err)
	}
	if got, want := a.written(), []string{"m/0", indexPath, "m/1", indexPath}; !reflect.DeepEqual(got, want) {
		t.Fatalf("hub got %v, want %v", got, want)
	}
}

// TestStateRoundTrip: State gives back what Load took.
func TestStateRoundTrip(t *testing.T) {
	want := outbox.State{
		Next:     4,
		Outbox:   []outbox.Entry{{Seq: 3, Path: "m/3", Blob: []byte("b"), Done: []string{"a"}, Expires: now}},
		Deleted:  []uint64{1},
		Indexed:  map[string]outbox.Mark{"a": {Count: 3, Deleted: 1}},
		Expiring: []wire.Expiry{{Seq: 3, At: now}},
		Awaiting: []uint64{2},
		Withheld: []uint64{0},
	}
	var s outbox.Stream
	s.Load(want)
	if got := s.State(); !reflect.DeepEqual(got, want) {
		t.Fatalf("State() = %+v, want %+v", got, want)
	}
	s.Rekeyed()
	if got := s.State().Indexed; got != nil {
		t.Fatalf("after Rekeyed, indexed %v", got)
	}
}

// TestWithhold: messages no hub holds yet leave the outbox for good, are
// listed as deleted in the next index and remembered as withheld; one a
// hub holds already stays (copying it to another hub tells nobody
// anything new).
func TestWithhold(t *testing.T) {
	ctx := context.Background()
	a := newHub()
	hubs := map[string]*fakeHub{"a": a}
	var s outbox.Stream
	add(&s, 1)
	if _, _, err := s.Flush(ctx, options(hubs, "a")); err != nil {
		t.Fatal(err)
	}
	s.Add(1, "m/1", []byte("blob 1"), time.Time{})
	s.Add(2, "m/2", []byte("blob 2"), time.Time{})
	if got := s.Withhold(); !reflect.DeepEqual(got, []uint64{1, 2}) {
		t.Fatalf("Withhold() = %v, want [1 2]", got)
	}
	if s.Unsent() || !s.Withheld(1) || !s.Withheld(2) || s.Withheld(0) {
		t.Fatalf("after Withhold: unsent %v, withheld 0/1/2 %v/%v/%v", s.Unsent(), s.Withheld(0), s.Withheld(1), s.Withheld(2))
	}
	if _, _, err := s.Flush(ctx, options(hubs, "a")); err != nil {
		t.Fatal(err)
	}
	if got, want := a.written(), []string{"m/0", indexPath, indexPath}; !reflect.DeepEqual(got, want) {
		t.Fatalf("hub got %v, want %v: a withheld message went out", got, want)
	}
	if x := index(t, a); x.Count != 3 || !reflect.DeepEqual(x.Deleted, []uint64{1, 2}) {
		t.Fatalf("index %+v, want 3 messages, 1 and 2 deleted", x)
	}
}
