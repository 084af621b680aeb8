package client_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/wire"
)

// BenchmarkEndToEnd measures, on loopback with a real chain node and two
// real hubs, the time from alice's Send returning to bob's watcher
// receiving the message (p50/p99), and how many messages alice sends per
// second. Run with -benchtime 1000x for 1,000 messages.
func BenchmarkEndToEnd(b *testing.B) {
	_, alice, bob := newPair(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	connect(b, alice, bob, "hello")
	arrived := make(chan time.Time, b.N+8)
	ready := make(chan struct{})
	go bob.Watch(ctx, func(n client.Notice) {
		if n.Kind != client.NoticeMessage || n.Event.Kind != wire.KindText {
			return // receipts, reported after every (re)connection
		}
		m := n.Event
		if m.Text == "hello" {
			close(ready)
			return
		}
		arrived <- time.Now()
	}, func(err error) { b.Error(err) })
	<-ready
	// lat: from Send returning to arrival (0 if it arrived first: the hub
	// announces a write before it answers it); full: from Send starting.
	lat := make([]time.Duration, 0, b.N)
	full := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		began := time.Now()
		if err := alice.Send(ctx, "bob", fmt.Sprint("message ", i)); err != nil {
			b.Fatal(err)
		}
		sent := time.Now()
		select {
		case at := <-arrived:
			lat = append(lat, max(0, at.Sub(sent)))
			full = append(full, at.Sub(began))
		case <-time.After(30 * time.Second):
			b.Fatalf("message %d never arrived", i)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(full)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(full[len(full)/2].Microseconds())/1000, "send-start-p50-ms")
	b.ReportMetric(float64(full[len(full)*99/100].Microseconds())/1000, "send-start-p99-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkSend measures how many messages one sender can push (sealed,
// saved in memory, uploaded and acknowledged), without waiting for reads.
func BenchmarkSend(b *testing.B) {
	_, alice, bob := newPair(b)
	ctx := context.Background()
	connect(b, alice, bob, "hello")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := alice.Send(ctx, "bob", "a message of ordinary length, about sixty bytes long"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
