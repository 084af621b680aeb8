package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkSaveHistory: what saving one new message costs (its history
// record and the state, each sealed and synced) as the history on the
// device grows.
func BenchmarkSaveHistory(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h, _, err := openHome(b, filepath.Join(b.TempDir(), "state"), testKeys(b))
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				h.history = append(h.history, Message{From: "bob", To: "alice", Seq: uint64(i), Time: time.Now(), Kind: "text",
					Text: "a message of an ordinary length, about as long as people write them"})
			}
			if err := h.save(); err != nil { // the checkpoint
				b.Fatal(err)
			}
			for b.Loop() {
				h.history = append(h.history, Message{From: "bob", To: "alice", Seq: uint64(len(h.history)), Time: time.Now(), Kind: "text",
					Text: "a message of an ordinary length, about as long as people write them"})
				if err := h.save(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
