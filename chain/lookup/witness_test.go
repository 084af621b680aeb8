package lookup_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/internal/await"
)

// laggard is a witness in front of a real node that is always behind it,
// as a loaded validator is: it says its head is behind the node's (by lag
// blocks, or frozen at a height) and refuses a header above that head the
// way CometBFT does. It can also drop the connection of the next requests
// of a method, as a node whose keep-alive connection closes does.
type laggard struct {
	node string
	lag  int64

	mu      sync.Mutex
	frozen  int64          // if > 0, the head stays here
	drop    map[string]int // method -> requests still to drop
	refused int            // headers asked above the head it reported
}

func (p *laggard) head(ctx context.Context) (int64, error) {
	p.mu.Lock()
	frozen := p.frozen
	p.mu.Unlock()
	if frozen > 0 {
		return frozen, nil
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.node+"/status", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var st struct {
		Result struct {
			SyncInfo struct {
				Height string `json:"latest_block_height"`
			} `json:"sync_info"`
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return 0, err
	}
	h, err := strconv.ParseInt(st.Result.SyncInfo.Height, 10, 64)
	return h - p.lag, err
}

func (p *laggard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var call struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params map[string]any  `json:"params"`
	}
	json.Unmarshal(body, &call)
	p.mu.Lock()
	if p.drop[call.Method] > 0 {
		p.drop[call.Method]--
		p.mu.Unlock()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	p.mu.Unlock()
	head, err := p.head(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	switch call.Method {
	case "commit", "validators", "block":
		h, _ := strconv.ParseInt(fmt.Sprint(call.Params["height"]), 10, 64)
		if h > head {
			p.mu.Lock()
			p.refused++
			p.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32603,"message":"Internal error","data":"height %d must be less than or equal to the current blockchain height %d"}}`, call.ID, h, head)
			return
		}
		if h <= 0 { // the latest: the head it reports
			if call.Params == nil {
				call.Params = map[string]any{}
			}
			call.Params["height"] = strconv.FormatInt(head, 10)
			body, _ = json.Marshal(map[string]any{"jsonrpc": "2.0", "id": call.ID, "method": call.Method, "params": call.Params})
		}
	}
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.node+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if call.Method == "status" {
		var msg map[string]any
		if json.Unmarshal(out, &msg) == nil {
			if si, ok := msg["result"].(map[string]any)["sync_info"].(map[string]any); ok {
				si["latest_block_height"] = strconv.FormatInt(head, 10)
				out, _ = json.Marshal(msg)
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func (p *laggard) refusals() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

// lookupsAcrossBlocks looks name up until the chain has moved n blocks
// past where it was, so each lookup of a new block verifies a new header
// (MaxAge is a nanosecond), and returns the first error.
func lookupsAcrossBlocks(t *testing.T, c, honest *lookup.Client, name string, n int64) error {
	t.Helper()
	ctx := context.Background()
	start, err := honest.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Lookups back to back (a load, not a poll), bounded: a chain that
	// stops making blocks fails the test instead of hanging it.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := c.Lookup(ctx, name); err != nil {
			return err
		}
		lb, err := honest.Latest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if lb.Height >= start.Height+n {
			return nil
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 2m0s for %d blocks past %d: at %d", n, start.Height, lb.Height)
		}
	}
}

// TestWitnessBehindThePrimary: under load a witness is often a block or
// two behind the node a client asks. The client verifies the newest header
// a witness already has, so it never asks a witness for one it does not
// have: CometBFT's light client then waits 2 x max_clock_drift +
// max_block_lag (30 s) for the witness, holding every lookup (chainbench's
// "211/s, 32 s for a 10 s window"). A witness that stopped altogether is
// reported as such, and a second, live witness carries on without it.
func TestWitnessBehindThePrimary(t *testing.T) {
	url, chainID := startNode(t)
	honest := newClient(t, url, chainID)
	alice := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	register(t, honest, alice, "alice", profile("alice", "http://127.0.0.1:4000"))

	lag := &laggard{node: url, lag: 2}
	srv := httptest.NewServer(lag)
	defer srv.Close()
	c, err := lookup.New(context.Background(), lookup.Config{ChainID: chainID, Primary: url, Witnesses: []string{srv.URL}, MaxAge: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Its view is as old as the witness's: alice appears once the witness
	// has her block.
	waitRecord(t, c, "alice")
	if err := lookupsAcrossBlocks(t, c, honest, "alice", 20); err != nil {
		t.Fatalf("lookup with a witness two blocks behind: %v", err)
	}
	if n := lag.refusals(); n != 0 {
		t.Fatalf("the client asked the lagging witness %d times for a header it did not have yet", n)
	}

	// The witness stops: no newer header can be cross-checked, and the
	// client says which nodes it could not use.
	h, err := lag.head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	lag.mu.Lock()
	lag.frozen = h
	lag.mu.Unlock()
	await.True(t, 2*time.Minute, "the chain to pass the stopped witness by more than its lag", func() bool {
		lb, err := honest.Latest(context.Background())
		return err == nil && lb.Height > h+lookup.MaxWitnessLag+1
	})
	_, err = c.Lookup(context.Background(), "alice")
	if !errors.Is(err, lookup.ErrUnreachable) {
		t.Fatalf("lookup with the only witness stopped %d blocks behind: %v, want ErrUnreachable", lookup.MaxWitnessLag, err)
	}

	// With a live witness beside it, the stopped one sits out.
	c2, err := lookup.New(context.Background(), lookup.Config{ChainID: chainID, Primary: url, Witnesses: []string{srv.URL, url}, MaxAge: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := lookupsAcrossBlocks(t, c2, honest, "alice", 5); err != nil {
		t.Fatalf("lookup with a stopped witness and a live one: %v", err)
	}
}

// TestWitnessDropsAConnection: a witness whose connection drops once (a
// keep-alive connection closed by a loaded node) is used again at the
// next header. CometBFT's light client drops a witness that errs for good,
// and once none is left every later lookup failed ("no witnesses
// connected"), as chainbench saw ("755 lookups failed").
func TestWitnessDropsAConnection(t *testing.T) {
	url, chainID := startNode(t)
	honest := newClient(t, url, chainID)
	alice := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))
	register(t, honest, alice, "alice", profile("alice", "http://127.0.0.1:4000"))

	px := &laggard{node: url}
	srv := httptest.NewServer(px)
	defer srv.Close()
	c, err := lookup.New(context.Background(), lookup.Config{ChainID: chainID, Primary: url, Witnesses: []string{srv.URL}, MaxAge: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := lookupsAcrossBlocks(t, c, honest, "alice", 3); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"commit", "validators"} {
		px.mu.Lock()
		px.drop = map[string]int{method: 1}
		px.mu.Unlock()
		if err := lookupsAcrossBlocks(t, c, honest, "alice", 10); err != nil {
			t.Fatalf("lookups after the witness dropped a %s request: %v", method, err)
		}
		px.mu.Lock()
		left := px.drop[method]
		px.mu.Unlock()
		if left != 0 {
			t.Fatalf("no %s request reached the witness", method)
		}
	}
}
