package client_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/clienttest"
	"github.com/parley-im/parley/client/wire"
)

// connCounter is an HTTP transport that counts requests and the TCP
// connections it holds open.
type connCounter struct {
	requests atomic.Int64
	open     atomic.Int64
	rt       http.RoundTripper
}

type countedConn struct {
	net.Conn
	c    *connCounter
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.c.open.Add(-1) })
	return c.Conn.Close()
}

func newConnCounter() *connCounter {
	cc := &connCounter{}
	d := &net.Dialer{}
	cc.rt = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			cc.open.Add(1)
			return &countedConn{Conn: conn, c: cc}, nil
		},
		IdleConnTimeout: 2 * time.Second, // idle pooled connections go; streams stay
	}
	return cc
}

func (cc *connCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	cc.requests.Add(1)
	return cc.rt.RoundTrip(r)
}

// BenchmarkFollowThousand: one reader following 1,000 contacts whose hubs
// are two. Reported: the TCP connections the reader holds and the requests
// it makes per minute while nothing changes (the thesis's design polls an
// index per contact per round: 1,000 requests a round), then the latency
// from a contact's Send returning to the reader's watcher seeing it
// (p50/p99 over b.N messages from random contacts). Run with -benchtime 200x.
func BenchmarkFollowThousand(b *testing.B) {
	const contacts = 1000
	w := newWorld(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cc := newConnCounter()
	w.opts = []client.Option{client.WithHTTPClient(&http.Client{Transport: cc})}
	bob := w.user("bob", w.hubs[0])
	w.opts = nil
	shared := w.directory()
	w.settle("bob")

	// 1,000 contacts, half on each hub; each introduces itself to bob
	// (case 1: their names sort before his) and says hello.
	cs, err := clienttest.Contacts(ctx, shared, w.hubs[:2], contacts, "bob", "hello bob")
	if err != nil {
		b.Fatal(err)
	}
	w.settle(fmt.Sprintf("a%04d", contacts-1))
	for _, c := range cs {
		if err := bob.Introduce(ctx, c.Name, ""); err != nil {
			b.Fatal(err)
		}
	}

	arrived := make(chan time.Time, 1024)
	hellos := make(chan struct{}, contacts)
	go bob.Watch(ctx, func(n client.Notice) {
		if n.Kind != client.NoticeMessage || n.Event.Kind != wire.KindText {
			return // receipts, reported after every (re)connection
		}
		m := n.Event
		if m.Text == "hello bob" {
			hellos <- struct{}{}
			return
		}
		arrived <- time.Now()
	}, func(err error) { b.Error(err) })
	for range contacts { // the catch-up after connecting
		<-hellos
	}

	// Idle: nothing changes for a while.
	time.Sleep(3 * time.Second) // pooled connections from the catch-up close (IdleConnTimeout 2 s)
	before := cc.requests.Load()
	const idle = 10 * time.Second
	time.Sleep(idle) // the measurement is of what happens during this window
	perMinute := float64(cc.requests.Load()-before) * float64(time.Minute) / float64(idle)
	conns := cc.open.Load()

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		from := cs[(i*7919)%contacts]
		if err := from.Send(ctx, "bob", fmt.Sprint("message ", i)); err != nil {
			b.Fatal(err)
		}
		sent := time.Now()
		select {
		case at := <-arrived:
			lat = append(lat, max(0, at.Sub(sent)))
		case <-time.After(30 * time.Second):
			b.Fatalf("message %d never arrived", i)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(conns), "idle-conns")
	b.ReportMetric(perMinute, "idle-req/min")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
