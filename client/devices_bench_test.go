package client_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client"
)

// BenchmarkSendToDevices is issue 15's figure, on the client's real send
// path: alice's Send (keys checked at the latest verified height, the
// event sealed in the name session and in a device-pair session with
// each of bob's other devices, saved, uploaded with each session's index,
// acknowledged) to bob with one device, then, in the same world, once
// bob has linked two more (on the chain, a real node; real hubs over
// loopback). Reported besides ns/op: the bytes alice's requests carried
// to the hub per send (blobs and indexes) and the writes.
func BenchmarkSendToDevices(b *testing.B) {
	w := newWorld(b)
	counter := &countingTransport{base: http.DefaultTransport}
	w.opts = []client.Option{client.WithHTTPClient(&http.Client{Transport: counter})}
	alice := w.user("alice", w.hubs[0])
	w.opts = nil
	bob, bobID, _ := w.userOn("bob", []string{w.hubs[1]}, "")
	w.settle("alice", "bob")
	connect(b, alice, bob, "hello")
	ctx := context.Background()
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		b.Fatal(err)
	}
	for _, devices := range []int{1, 3} {
		for len(mustLookup(b, w, "bob").AllDevices()) < devices {
			w.linkDevice("bob", "device"+string(rune('a'+len(mustLookup(b, w, "bob").AllDevices()))), bobID, w.hubs[1])
		}
		b.Run(map[int]string{1: "devices-1", 3: "devices-3"}[devices], func(b *testing.B) {
			// The first send to a new device starts its session.
			if err := alice.Send(ctx, "bob", "a message of ordinary length, about sixty bytes long"); err != nil {
				b.Fatal(err)
			}
			counter.reset()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := alice.Send(ctx, "bob", "a message of ordinary length, about sixty bytes long"); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(counter.bytes.Load())/float64(b.N), "hub-bytes/op")
			b.ReportMetric(float64(counter.writes.Load())/float64(b.N), "writes/op")
		})
	}
}

func mustLookup(tb testing.TB, w *world, name string) *bns.Record {
	tb.Helper()
	r, err := w.dirs[0].Lookup(context.Background(), name)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// countingTransport counts the writes (PUT and POST to /store/) a client
// makes and the bytes of their bodies.
type countingTransport struct {
	base          http.RoundTripper
	bytes, writes atomic.Int64
}

func (c *countingTransport) reset() { c.bytes.Store(0); c.writes.Store(0) }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if (r.Method == http.MethodPut || r.Method == http.MethodPost) && strings.Contains(r.URL.Path, "/store/") && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		c.writes.Add(1)
		c.bytes.Add(int64(len(body)))
		r.Body = io.NopCloser(strings.NewReader(string(body)))
	}
	return c.base.RoundTrip(r)
}
