package hubclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
)

// hostileHub answers hub_info correctly and everything else without end:
// a read of 1 GiB, list pages that never finish, watch streams that
// repeat "ready" or send one endless line. served counts the bytes of
// bodies it wrote.
func hostileHub(t *testing.T, served *atomic.Int64) string {
	t.Helper()
	chunk := make([]byte, 64<<10)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hub_info", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"challenge_text": `["gaiahub","0","evil","blockstack_storage_please_sign"]`,
			"latest_auth_version": "v1", "parley": map[string]any{"native_auth": auth.NativeScheme, "inbox_max_envelope_bytes": 16384}})
	})
	mux.HandleFunc("GET /read/", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < (1<<30)/len(chunk); i++ {
			n, err := w.Write(chunk)
			served.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	page := 0
	mux.HandleFunc("POST /list-files/", func(w http.ResponseWriter, r *http.Request) {
		page++
		var names []map[string]any
		for i := 0; i < 10000; i++ {
			names = append(names, map[string]any{"name": fmt.Sprintf("p%d/f%d", page, i)})
		}
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(map[string]any{"entries": names, "page": fmt.Sprint(page)})
	})
	var watches atomic.Int64
	mux.HandleFunc("POST /watch", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		line := watches.Add(1) > 1 // the first stream repeats "ready", the next sends one endless line
		for i := 0; i < 1<<20; i++ {
			var err error
			if line {
				_, err = w.Write(append([]byte("data: "), chunk...))
			} else {
				_, err = fmt.Fprintf(w, "event: ready\ndata: {\"cursor\":\"x.%d\"}\n\n", i)
			}
			if err != nil {
				return
			}
		}
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestAnswersBounded: what a hub answers is read through limits. A 1 GiB
// object errors once the limit is passed (before: read whole, 2.6 GB
// allocated and 2.7 GB peak RSS for this test; after: 64 MiB at most),
// list paging that never ends stops, and a watch stream that breaks the
// protocol (a second "ready") or sends an endless line ends
// (go test -v -run TestAnswersBounded ./client/hubclient).
func TestAnswersBounded(t *testing.T) {
	var served atomic.Int64
	url := hostileHub(t, &served)
	ctx := context.Background()
	c := dial(t, url, 1)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err := c.Get(ctx, "1Someone", "m/x")
	runtime.ReadMemStats(&after)
	if !errors.Is(err, hubclient.ErrAnswerTooLarge) {
		t.Fatalf("a 1 GiB read: %v", err)
	}
	if got := served.Load(); got > 2*hubclient.MaxObjectBytes {
		t.Fatalf("the client took %d bytes of an answer limited to %d", got, hubclient.MaxObjectBytes)
	}
	t.Logf("a 1 GiB answer: %d MiB allocated, %d MiB served before the client stopped", (after.TotalAlloc-before.TotalAlloc)>>20, served.Load()>>20)

	if _, err := c.List(ctx); !errors.Is(err, hubclient.ErrAnswerTooLarge) {
		t.Fatalf("endless list pages: %v", err)
	}

	readies := 0
	err = c.Watch(ctx, []hubclient.Follow{{Address: "1Someone"}}, "", func(ev hubclient.Event) error {
		readies++
		return nil
	})
	if !errors.Is(err, hubclient.ErrBadAnswer) || readies != 1 {
		t.Fatalf("a stream of endless ready events: %v after %d", err, readies)
	}
	err = c.Watch(ctx, []hubclient.Follow{{Address: "1Someone"}}, "", func(ev hubclient.Event) error { return nil })
	if !errors.Is(err, hubclient.ErrAnswerTooLarge) {
		t.Fatalf("a stream of one endless line: %v", err)
	}
}

// TestInboxWorkBounded: a contact's hub (hostile, or broken) says its
// inbox stamps need 64 leading zero bits: the client hashed without end
// (a contact request, or a watch flushing a queued one, spun a core for
// as long as the process ran). The client does at most
// hub.MaxInboxDifficulty bits of work and says the hub asks more.
func TestInboxWorkBounded(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hub_info", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"challenge_text": `["gaiahub","0","evil","blockstack_storage_please_sign"]`,
			"latest_auth_version": "v1", "parley": map[string]any{"native_auth": auth.NativeScheme, "inbox_stamp": hub.InboxStampVersion, "inbox_pow_difficulty": 64}})
	})
	var posts atomic.Int64
	mux.HandleFunc("POST /inbox/", func(w http.ResponseWriter, r *http.Request) { posts.Add(1) })
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	c, err := hubclient.Dial(context.Background(), ts.URL, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a stop for the unbounded client, not a timing assertion
	defer cancel()
	_, err = c.InboxPost(ctx, "1PfJpZsjreyVrqeoAfabrRwwjQyoSQMmHH", []byte("sealed"))
	if !errors.Is(err, hubclient.ErrTooMuchWork) {
		t.Fatalf("an inbox post to a hub asking 64 bits of work: %v, want ErrTooMuchWork", err)
	}
	if posts.Load() != 0 {
		t.Fatal("the client posted without a stamp of the work the hub asks")
	}
}
