package lookup_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
)

// hugeAnswer is a node's RPC that answers one query path with a body of
// size bytes (a JSON-RPC answer whose value never ends), streamed from a
// small buffer, and passes everything else to the real node.
type hugeAnswer struct {
	node *httputil.ReverseProxy
	path string
	size int
}

func (p *hugeAnswer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var call struct {
		ID     json.RawMessage
		Method string
		Params struct{ Path string }
	}
	json.Unmarshal(body, &call)
	if call.Method != "abci_query" || call.Params.Path != p.path {
		p.node.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(call.ID)+`,"result":{"response":{"code":0,"height":"1","value":"`)
	chunk := bytes.Repeat([]byte("A"), 64<<10)
	for sent := 0; sent < p.size; sent += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
	io.WriteString(w, `"}}}`)
}

// TestHugeAnswerIsBounded: a node answers a history query with 64 MiB.
// The client reads at most Config.MaxAnswerBytes of it and says so
// (ErrTooLarge); before the bound, the same answer cost the client about
// 845 MB. The test logs the bytes allocated while History ran.
func TestHugeAnswerIsBounded(t *testing.T) {
	url0, chainID := startNode(t)
	honest := newClient(t, url0, chainID)
	alice := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	register(t, honest, alice, "alice", profile("alice", "http://127.0.0.1:4000"))
	waitRecord(t, honest, "alice")

	target, _ := url.Parse(url0)
	srv := httptest.NewServer(&hugeAnswer{node: httputil.NewSingleHostReverseProxy(target), path: bns.QueryHistory, size: 64 << 20})
	defer srv.Close()
	h, hash := honest.TrustRoot()
	c, err := lookup.New(context.Background(), lookup.Config{ChainID: chainID, Primary: srv.URL, TrustHeight: h, TrustHash: hash, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Lookup(context.Background(), "alice"); err != nil { // the header, verified before measuring
		t.Fatal(err)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err = c.History(context.Background(), "alice")
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("a 64 MiB history answer: %d MiB allocated (limit %d MiB)", allocated>>20, lookup.DefaultMaxAnswerBytes>>20)
	if !errors.Is(err, lookup.ErrTooLarge) {
		t.Fatalf("a 64 MiB history answer: %v, want ErrTooLarge", err)
	}
	if allocated > 32<<20 {
		t.Fatalf("a 64 MiB history answer cost %d MiB", allocated>>20)
	}
}
