package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/chain/node"
	"github.com/parley-im/parley/chain/node/nodetest"
	"github.com/parley-im/parley/hub/server/hubtest"
)

// await polls cond until it holds, failing the test after two minutes.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited two minutes for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nodeStatus asks the node at rpc, as an operator would (out of band),
// for the oldest block it keeps and its newest header.
func nodeStatus(t *testing.T, rpc string) (earliest, height int64, hash string) {
	t.Helper()
	c, err := rpchttp.New(rpc, "/websocket")
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.SyncInfo.EarliestBlockHeight, st.SyncInfo.LatestBlockHeight, lookup.HashString(st.SyncInfo.LatestBlockHash)
}

// homeConfig reads and rewrites a home's config.json.
func homeConfig(t *testing.T, home string, edit func(*config)) config {
	t.Helper()
	var cfg config
	b, err := os.ReadFile(filepath.Join(home, "config.json"))
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&cfg)
		b, _ = json.Marshal(cfg)
		if err := os.WriteFile(filepath.Join(home, "config.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

// fails runs the CLI, expecting exit code want, and returns its stdout
// and stderr.
func fails(t *testing.T, want int, args ...string) (string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), args, nil, &out, &errb); code != want {
		t.Fatalf("parley %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out.String(), errb.String())
	}
	return out.String(), errb.String()
}

// TestOfflineLongerThanNodesKeepBlocks: alice's device last ran at height
// h; the chain moves on and its node (keeping 5 blocks) prunes everything
// below h+20. Her next commands verify forward from the headers her device
// verified before. Then, past the trusting period, parley says so and
// how to pin a new header, and trusts nothing the node says meanwhile;
// 'parley settings trust' with a recent header puts her back.
func TestOfflineLongerThanNodesKeepBlocks(t *testing.T) {
	n := nodetest.StartNode(t, "prune-cli", nil, node.StartOptions{KeepRecent: 5})
	hub := hubtest.Start(t, nil)
	t.Setenv("PARLEY_PASSPHRASE", "pw")
	alice := filepath.Join(t.TempDir(), "alice")
	initHome(t, n.URL, alice)
	parley(t, "--home", alice, "register", "alice", "--hub", hub.URL)
	h := homeConfig(t, alice, nil).TrustHeight

	await(t, "the node to prune below the height alice last verified", func() bool {
		earliest, _, _ := nodeStatus(t, n.URL)
		return earliest > h+20
	})
	if out := parley(t, "--home", alice, "name"); !strings.Contains(out, "name:     alice (verified by proof)") {
		t.Fatalf("name after the node pruned the blocks alice last saw:\n%s", out)
	}
	if out := parley(t, "--home", alice, "whois", "alice"); !strings.Contains(out, "name:     alice (verified by proof)") {
		t.Fatalf("whois after pruning:\n%s", out)
	}
	if got := homeConfig(t, alice, nil).TrustHeight; got <= h+20 {
		t.Fatalf("trust height %d after verifying forward from %d", got, h)
	}

	// Past the trusting period (here 1 ms, set by hand): refused, with the
	// way back, and nothing taken from the node.
	before := homeConfig(t, alice, func(c *config) { c.TrustPeriod = "1ms" })
	_, errs := fails(t, 1, "--home", alice, "name")
	if !strings.Contains(errs, "older than the trusting period") || !strings.Contains(errs, "hint: this device was offline longer than the trusting period") ||
		!strings.Contains(errs, "'parley settings trust --trust-height H --trust-hash HEX'") {
		t.Fatalf("past the trusting period:\n%s", errs)
	}
	if after := homeConfig(t, alice, nil); after.TrustHeight != before.TrustHeight || after.TrustHash != before.TrustHash {
		t.Fatalf("the trust root moved from %d to %d while the trusting period was over", before.TrustHeight, after.TrustHeight)
	}

	// A recent header, learned out of band, pinned again.
	homeConfig(t, alice, func(c *config) { c.TrustPeriod = "" })
	_, height, hash := nodeStatus(t, n.URL)
	if out := parley(t, "--home", alice, "settings", "trust", "--trust-height", strconv.FormatInt(height, 10), "--trust-hash", hash); !strings.Contains(out, "trusting height "+strconv.FormatInt(height, 10)) {
		t.Fatalf("settings trust: %s", out)
	}
	if out := parley(t, "--home", alice, "name"); !strings.Contains(out, "name:     alice (verified by proof)") {
		t.Fatalf("name after pinning a new header:\n%s", out)
	}
	_, errs = fails(t, 2, "--home", alice, "settings", "trust", "--trust-height", "5", "--trust-hash", "xyz")
	if !strings.Contains(errs, "64 hex digits") {
		t.Fatalf("settings trust with a bad hash: %s", errs)
	}
}
