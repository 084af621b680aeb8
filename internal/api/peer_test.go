package api

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestForeignAgentRefused: the process behind an agent socket must be
// the user's own. Another user's (a socket planted where the home's
// permissions let them, or served after the user's agent died) was sent
// every call, passphrase and message included. The kernel's peer
// credentials are checked on every connection: a socket served by another
// user is refused before a byte is written to it.
func TestForeignAgentRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Add(int64(len(b)) + 1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"result":{}}`)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	if _, err := newUnix(path, os.Getuid()).Agent(context.Background()); err != nil {
		t.Fatalf("the user's own agent: %v", err)
	}
	before := got.Load()
	err = newUnix(path, os.Getuid()+1).Unlock(context.Background(), "the passphrase")
	if !errors.Is(err, ErrForeignAgent) {
		t.Fatalf("a call to an agent served by another user: %v, want ErrForeignAgent", err)
	}
	if got.Load() != before {
		t.Fatal("the other user's agent received the call")
	}
}
