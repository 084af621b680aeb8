package client

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-im/parley/client/group"
	"github.com/parley-im/parley/client/keystore"
)

// BenchmarkSaveHistory: what saving one new message costs (its history
// record and the state, each sealed and synced) as the history on the
// device grows.
func BenchmarkSaveHistory(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			id, err := keystore.New()
			if err != nil {
				b.Fatal(err)
			}
			c := &Client{Name: "alice", id: id, contacts: map[string]*Contact{}, blocked: map[string]bool{},
				uploads: map[string]*pendingUpload{}, book: group.New("alice"), groupOut: map[string]*stream{}, now: time.Now,
				statePath: filepath.Join(b.TempDir(), "state")}
			for i := range n {
				c.history = append(c.history, Message{From: "bob", To: "alice", Seq: uint64(i), Time: time.Now(), Kind: "text",
					Text: "a message of an ordinary length, about as long as people write them"})
			}
			if err := c.save(); err != nil { // the checkpoint
				b.Fatal(err)
			}
			for b.Loop() {
				c.history = append(c.history, Message{From: "bob", To: "alice", Seq: uint64(len(c.history)), Time: time.Now(), Kind: "text",
					Text: "a message of an ordinary length, about as long as people write them"})
				if err := c.save(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
