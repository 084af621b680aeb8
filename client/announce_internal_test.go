package client

import (
	"fmt"
	"testing"
)

// TestAnnouncedRequestsBounded: a running watch remembered the ID of every
// contact request it had announced, for as long as it ran. Requests come
// and go (declined, accepted, posted again by a registered pest, each with
// a new ID), so a watch of weeks grew without end: 20,000 requests made
// 20,000 entries. It now holds at most maxAnnounced, never announcing
// twice a request still in an inbox.
func TestAnnouncedRequestsBounded(t *testing.T) {
	a := &announcer{seen: map[string]bool{}}
	var announced int
	for batch := range 200 {
		var pending []Pending
		for i := range 100 {
			pending = append(pending, Pending{ID: fmt.Sprintf("%d-%d", batch, i), hub: "http://hub"})
		}
		announced += len(a.fresh(pending))
		if again := a.fresh(pending); len(again) != 0 {
			t.Fatalf("batch %d: %d requests announced twice", batch, len(again))
		}
		if len(a.seen) > maxAnnounced {
			t.Fatalf("after %d requests the watch remembers %d, want at most %d", (batch+1)*100, len(a.seen), maxAnnounced)
		}
	}
	if announced != 20_000 {
		t.Fatalf("%d of 20,000 requests announced", announced)
	}
}
