package lookup_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/chain/node/nodetest"
	"github.com/parley-im/parley/internal/await"
)

// startNode runs a real single-validator node in this process.
func startNode(t *testing.T) (rpcURL, chainID string) {
	return nodetest.Start(t, "lookup-test"), "lookup-test"
}

func newClient(t *testing.T, url, chainID string) *lookup.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The node needs a moment to serve its first commit.
	c := await.Value(t, 2*time.Minute, "a light client of the new node", func() (*lookup.Client, error) {
		return lookup.New(ctx, lookup.Config{ChainID: chainID, Primary: url, MaxAge: time.Nanosecond})
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func profile(seed string, hub string) bns.Profile {
	s := sha256.Sum256([]byte(seed))
	ek, err := hpke.MLKEM768X25519().DeriveKeyPair(s[:])
	if err != nil {
		panic(err)
	}
	xk, err := hpke.DHKEM(ecdhCurve()).DeriveKeyPair(s[:])
	if err != nil {
		panic(err)
	}
	return bns.Profile{
		SigningKey: bns.PublicKeyOf(ed25519.NewKeyFromSeed(s[:])),
		EncKeys: []bns.EncKey{
			{KEM: bns.KEMX25519, Key: xk.PublicKey().Bytes()},
			{KEM: bns.KEMMLKEM768X25519, Key: ek.PublicKey().Bytes()},
		},
		Hubs: []string{hub},
	}
}

// register runs preorder then register through the verified client.
func register(t *testing.T, c *lookup.Client, priv ed25519.PrivateKey, name string, p bns.Profile) {
	t.Helper()
	ctx := context.Background()
	salt := sha256.Sum256([]byte("salt" + name))
	h, err := c.Preorder(ctx, priv, name, salt)
	if err != nil {
		t.Fatalf("preorder %s: %v", name, err)
	}
	if _, err := c.Register(ctx, priv, name, salt, h, p); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
}

func TestVerifiedLookups(t *testing.T) {
	url, chainID := startNode(t)
	c := newClient(t, url, chainID)
	ctx := context.Background()
	alice := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))

	if _, err := c.Lookup(ctx, "alice"); !errors.Is(err, lookup.ErrNotFound) {
		t.Fatalf("lookup of a free name: %v", err)
	}
	p := profile("alice", "http://127.0.0.1:4000")
	register(t, c, alice, "alice", p)

	// The record is visible once the block after it is verified.
	rec := waitRecord(t, c, "alice")
	if rec.Owner != bns.PublicKeyOf(alice) || rec.Profile.SigningKey != p.SigningKey || len(rec.Profile.EncKeys) != 2 {
		t.Fatalf("record = %+v", rec)
	}

	p2 := profile("alice-2", "https://hub.example")
	if _, err := c.Submit(ctx, alice, &bns.Tx{Type: bns.TxUpdate, Name: "alice", Profile: p2}); err != nil {
		t.Fatal(err)
	}
	var entries []*bns.HistoryEntry
	await.True(t, 2*time.Minute, "alice's history of two entries", func() bool {
		var err error
		rec, entries, err = c.History(ctx, "alice")
		return err == nil && len(entries) == 2
	})
	if entries[0].Op != bns.OpRegister || entries[1].Op != bns.OpUpdate || entries[1].Profile.Hubs[0] != "https://hub.example" {
		t.Fatalf("history = %+v", entries)
	}
	if names, err := c.Names(ctx, bns.PublicKeyOf(alice)); err != nil || len(names) != 1 || names[0] != "alice" {
		t.Fatalf("names = %v, %v", names, err)
	}

	// A transaction reusing a spent nonce is refused by the chain with its
	// code. (A byte-identical replay is already dropped by the mempool's
	// cache; the app's own tests cover it reaching the app.)
	tx := &bns.Tx{Type: bns.TxRenew, Name: "alice"}
	if _, err := c.Submit(ctx, alice, tx); err != nil {
		t.Fatal(err)
	}
	replay := &bns.Tx{Type: bns.TxRevoke, Name: "alice", Nonce: tx.Nonce, ExpiresAt: tx.ExpiresAt}
	replay.Sign(chainID, alice)
	_, err := c.Broadcast(ctx, replay)
	var ce *bns.CodeError
	if !errors.As(err, &ce) || ce.Code != bns.CodeBadNonce {
		t.Fatalf("replay: %v", err)
	}
}

func waitRecord(t *testing.T, c *lookup.Client, name string) *bns.Record {
	t.Helper()
	var rec *bns.Record
	await.True(t, 2*time.Minute, "the record of "+name, func() bool {
		var err error
		rec, err = c.Lookup(context.Background(), name)
		if err != nil && !errors.Is(err, lookup.ErrNotFound) {
			t.Fatalf("lookup %s: %v", name, err)
		}
		return err == nil
	})
	return rec
}

// tamper is a JSON-RPC proxy in front of a node that rewrites the results
// of one method.
type tamper struct {
	target string
	method atomic.Value // string
	edit   atomic.Value // func(result map[string]any)
}

func (p *tamper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req, _ := http.NewRequest(r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	var call struct{ Method string }
	json.Unmarshal(body, &call)
	if m, _ := p.method.Load().(string); m != "" && (call.Method == m || strings.HasSuffix(r.URL.Path, "/"+m)) {
		var msg map[string]any
		if json.Unmarshal(out, &msg) == nil {
			if result, ok := msg["result"].(map[string]any); ok {
				p.edit.Load().(func(map[string]any))(result)
				out, _ = json.Marshal(msg)
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func flipB64(s string) string {
	b, _ := base64.StdEncoding.DecodeString(s)
	if len(b) == 0 {
		return s
	}
	b[len(b)/2] ^= 1
	return base64.StdEncoding.EncodeToString(b)
}

func TestTamperedAnswersAreRefused(t *testing.T) {
	url, chainID := startNode(t)
	honest := newClient(t, url, chainID)
	alice := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	register(t, honest, alice, "alice", profile("alice", "http://127.0.0.1:4000"))
	waitRecord(t, honest, "alice")

	px := &tamper{target: url}
	px.method.Store("")
	srv := httptest.NewServer(px)
	defer srv.Close()
	h, hash := honest.TrustRoot()
	c, err := lookup.New(context.Background(), lookup.Config{ChainID: chainID, Primary: srv.URL, TrustHeight: h, TrustHash: hash, MaxAge: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Lookup(context.Background(), "alice"); err != nil {
		t.Fatalf("untampered lookup through the proxy: %v", err)
	}

	response := func(r map[string]any) map[string]any { return r["response"].(map[string]any) }
	for _, tc := range []struct {
		name   string
		method string
		query  string
		edit   func(map[string]any)
	}{
		{"altered record", "abci_query", "alice", func(r map[string]any) {
			response(r)["value"] = flipB64(response(r)["value"].(string))
		}},
		{"altered proof", "abci_query", "alice", func(r map[string]any) {
			ops := response(r)["proofOps"].(map[string]any)["ops"].([]any)
			op := ops[0].(map[string]any)
			op["data"] = flipB64(op["data"].(string))
		}},
		{"proof for another key", "abci_query", "alice", func(r map[string]any) {
			response(r)["key"] = base64.StdEncoding.EncodeToString(bns.RecordKey("alicf"))
		}},
		{"answer from another height", "abci_query", "alice", func(r map[string]any) {
			response(r)["height"] = "1"
		}},
		{"record hidden as absent", "abci_query", "alice", func(r map[string]any) {
			delete(response(r), "value")
		}},
		{"absent name shown as present", "abci_query", "bob", func(r map[string]any) {
			response(r)["value"] = base64.StdEncoding.EncodeToString((&bns.Record{Name: "bob"}).Marshal())
		}},
		{"altered header", "commit", "alice", func(r map[string]any) {
			hdr := r["signed_header"].(map[string]any)["header"].(map[string]any)
			hdr["app_hash"] = strings.Repeat("AB", 32)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The chain moves past the newest header the client verified,
			// so the lookup must verify a new one (a tampered header is
			// read, not a stored one reused).
			lb, err := c.Latest(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			await.True(t, 2*time.Minute, "a block past the stale one", func() bool {
				next, err := honest.Latest(context.Background())
				return err == nil && next.Height > lb.Height
			})
			px.edit.Store(tc.edit)
			px.method.Store(tc.method)
			defer px.method.Store("")
			rec, err := c.Lookup(context.Background(), tc.query)
			if err == nil {
				t.Fatalf("tampered answer accepted: %+v", rec)
			}
			if errors.Is(err, lookup.ErrNotFound) {
				t.Fatalf("tampered answer read as not found: %v", err)
			}
			if tc.method == "abci_query" && !errors.Is(err, lookup.ErrUnverified) {
				t.Fatalf("tampered query answer refused, but not as unverified: %v", err)
			}
		})
	}
}
