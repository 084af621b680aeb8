package main

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/chain/node"
)

// TestMetrics runs a real node with --metrics, scrapes its Prometheus
// endpoint, registers a name, has a registration refused and looks the
// name up, and checks that the name chain's metrics (beside CometBFT's, on
// the same endpoint) moved as docs/operators.md says.
func TestMetrics(t *testing.T) {
	ports, err := node.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(t.TempDir(), "node")
	if code := run(context.Background(), []string{"init", "--home", home, "--chain-id", "metrics-test", "--block-time", "100ms",
		"--p2p-port", strconv.Itoa(ports[0].P2P), "--rpc-port", strconv.Itoa(ports[0].RPC)}, nil, io.Discard, io.Discard); code != 0 {
		t.Fatalf("init exited %d", code)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[1].RPC)
	p := &proc{home: home, rpc: fmt.Sprintf("http://127.0.0.1:%d", ports[0].RPC), log: home + ".log", args: []string{"--metrics", addr}}
	p.start(t)
	t.Cleanup(func() { p.stop(t, syscall.SIGTERM) })
	waitUntil(t, "block 2", 2*time.Minute, func() bool { return height(p) >= 2 })

	scrape := func() map[string]*dto.MetricFamily {
		t.Helper()
		var fams map[string]*dto.MetricFamily
		waitUntil(t, "the metrics endpoint", time.Minute, func() bool {
			res, err := http.Get("http://" + addr + "/metrics")
			if err != nil {
				return false
			}
			defer res.Body.Close()
			parser := expfmt.NewTextParser(model.UTF8Validation)
			fams, err = parser.TextToMetricFamilies(res.Body)
			return err == nil
		})
		return fams
	}
	// value returns the value of the series of name with the given labels
	// (a counter, gauge, or a histogram's count), or -1 if there is none.
	value := func(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
		f := fams[name]
		if f == nil {
			return -1
		}
	series:
		for _, m := range f.Metric {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.Label {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		return -1
	}

	before := scrape()
	if v := value(before, "cometbft_consensus_height"); v < 2 {
		t.Fatalf("CometBFT's consensus height on the endpoint: %v", v)
	}
	if v := value(before, "parley_bns_height"); v < 1 {
		t.Fatalf("parley_bns_height = %v", v)
	}
	if v := value(before, "parley_bns_names", "state", "live"); v > 0 {
		t.Fatalf("%v live names before any registration", v)
	}
	keysBefore := value(before, "parley_bns_state_keys")
	if keysBefore != 1 { // the params
		t.Fatalf("parley_bns_state_keys = %v before any transaction, want 1", keysBefore)
	}

	ctx := context.Background()
	c, err := lookup.New(ctx, lookup.Config{ChainID: "metrics-test", Primary: p.rpc, Witnesses: []string{p.rpc}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	register(t, c, "alice") // preorder, register, then a verified lookup
	// A registration without a preorder is refused by CheckTx.
	seed := sha256.Sum256([]byte("mallory"))
	mallory := ed25519.NewKeyFromSeed(seed[:])
	xk, _ := hpke.DHKEM(ecdhX25519()).DeriveKeyPair(seed[:])
	prof := bns.Profile{SigningKey: bns.PublicKeyOf(mallory), EncKeys: []bns.EncKey{{KEM: bns.KEMX25519, Key: xk.PublicKey().Bytes()}}, Hubs: []string{"http://127.0.0.1:4000"}}
	_, err = c.Submit(ctx, mallory, &bns.Tx{Type: bns.TxRegister, Name: "bob", PreorderHeight: 1, Profile: prof})
	if ce := new(bns.CodeError); !errors.As(err, &ce) || ce.Code != bns.CodePreorderNotFound {
		t.Fatalf("register without preorder: %v", err)
	}

	var after map[string]*dto.MetricFamily
	waitUntil(t, "the registration in the metrics", time.Minute, func() bool {
		after = scrape()
		return value(after, "parley_bns_names", "state", "live") == 1
	})
	for _, want := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"parley_bns_txs_total", []string{"stage", "check", "type", "preorder", "code", "ok"}, 1},
		{"parley_bns_txs_total", []string{"stage", "block", "type", "preorder", "code", "ok"}, 1},
		{"parley_bns_txs_total", []string{"stage", "check", "type", "register", "code", "ok"}, 1},
		{"parley_bns_txs_total", []string{"stage", "block", "type", "register", "code", "ok"}, 1},
		{"parley_bns_query_duration_seconds", []string{"path", "/name", "proved", "true"}, 1},
		{"parley_bns_query_duration_seconds", []string{"path", "/nonce", "proved", "true"}, 1},
		{"parley_bns_block_duration_seconds", []string{"phase", "finalize"}, 1},
		{"parley_bns_block_duration_seconds", []string{"phase", "commit"}, 1},
		{"parley_bns_state_disk_bytes", nil, 1},
		{"cometbft_mempool_size", nil, 0},
	} {
		if got := value(after, want.name, want.labels...); got < want.min {
			t.Errorf("%s%v = %v, want at least %v", want.name, want.labels, got, want.min)
		}
	}
	// The refused registration is counted by its code, and never reached
	// a block.
	if got := value(after, "parley_bns_txs_total", "stage", "check", "type", "register", "code", "preorder_not_found"); got != 1 {
		t.Errorf("refused registration counted %v times, want once", got)
	}
	if got := value(after, "parley_bns_txs_total", "stage", "block", "type", "register", "code", "preorder_not_found"); got != -1 {
		t.Errorf("refused registration in a block: %v", got)
	}
	// The name's record, its owner's account and the account's pruning
	// check joined the params.
	if got := value(after, "parley_bns_state_keys"); got != keysBefore+3 {
		t.Errorf("parley_bns_state_keys = %v after one registration, want %v", got, keysBefore+3)
	}
	if got := value(after, "parley_bns_height"); got <= value(before, "parley_bns_height") {
		t.Errorf("parley_bns_height did not move: %v", got)
	}
}
