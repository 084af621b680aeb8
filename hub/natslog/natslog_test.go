package natslog_test

import (
	"context"
	"testing"

	"github.com/parley-im/parley/hub/natslog"
	"github.com/parley-im/parley/hub/natslog/natstest"
	"github.com/parley-im/parley/hub/server"
)

// TestEpochAndSequence: instances opening one stream share its epoch and
// its numbering; a stream made anew has another epoch, so cursors of the
// old one are not misread.
func TestEpochAndSequence(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	open := func() *natslog.Log {
		l, err := natslog.Open(ctx, natslog.Config{URL: srv.URL, Stream: "T"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		return l
	}
	a, b := open(), open()
	if a.Epoch() == "" || a.Epoch() != b.Epoch() {
		t.Fatalf("epochs %q and %q", a.Epoch(), b.Epoch())
	}
	got := make(chan server.LogEvent, 10)
	if err := b.Follow(ctx, 10, func(ev server.LogEvent) { got <- ev }); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := a.Publish(ctx, server.LogEvent{Event: server.Event{Address: "x", Path: string(rune('a' + i)), Op: "put"}, Delta: int64(i), From: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		ev := <-got
		if ev.Seq != uint64(i+1) || ev.Path != string(rune('a'+i)) || ev.Delta != int64(i) || ev.From != "a" {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	if last, err := b.Last(ctx); err != nil || last != 3 {
		t.Fatalf("last = %d, %v", last, err)
	}
	if _, err := natslog.Open(ctx, natslog.Config{URL: srv.URL, Stream: "bad.name"}); err == nil {
		t.Fatal("a stream name with '.' was taken")
	}
}
