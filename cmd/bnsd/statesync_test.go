package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/node"
	"github.com/parley-im/parley/internal/chainload"
)

// snapshotArgs make validators keep 30 heights and serve a snapshot every
// 10 (keeping 2), so a chain a few seconds old has pruned its first blocks
// and a node can only join it by state sync.
var snapshotArgs = []string{"--keep-recent", "30", "--snapshot-interval", "10", "--snapshot-keep", "2"}

// TestStateSyncJoin: a new node joins a 4-validator chain that has pruned
// its early blocks, with bnsd join (the chain's genesis file, its peers,
// two RPC servers and a trust root cross-checked between them) and bnsd
// start: it restores a validator's snapshot instead of replaying blocks
// (its first block is past the snapshot), then answers verified lookups of
// names registered before it joined, agrees with the validators on every
// block and app hash it has, and keeps up with the chain: a name registered
// afterwards is found through it too.
func TestStateSyncJoin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five node processes")
	}
	net := startNetwork(t, "sync-test", 4, nil, snapshotArgs)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c0 := net.client(0, 1, 2)
	register(t, c0, "alice")
	load := registerMany(t, ctx, net, "early", 200)

	// The chain forgets its first blocks.
	waitUntil(t, "the validators to prune their first blocks", 2*time.Minute, func() bool {
		for _, p := range net.nodes {
			if _, earliest, err := p.heights(); err != nil || earliest <= 1 {
				return false
			}
		}
		return true
	})

	ports, err := node.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(net.dir, "joiner")
	var out bytes.Buffer
	args := []string{"join", "--home", home, "--genesis", filepath.Join(net.nodes[0].home, "config", "genesis.json"),
		"--peers", strings.Join(net.peers(), ","), "--rpc-servers", net.nodes[0].rpc + "," + net.nodes[1].rpc,
		"--p2p-port", fmt.Sprint(ports[0].P2P), "--rpc-port", fmt.Sprint(ports[0].RPC)}
	if code := run(ctx, args, nil, &out, io.Discard); code != 0 {
		t.Fatalf("join exited %d: %s", code, out.String())
	}
	if !strings.Contains(out.String(), "trusting sync-test at height") {
		t.Fatalf("join did not say what it trusts: %s", out.String())
	}
	joiner := &proc{home: home, rpc: fmt.Sprintf("http://127.0.0.1:%d", ports[0].RPC), log: filepath.Join(net.dir, "joiner.log")}
	net.nodes = append(net.nodes, joiner) // stopped (and its log shown) with the others
	t.Logf("node joins at height %d of the chain", height(net.nodes[0]))
	joiner.start(t)
	started := time.Now()
	target := height(net.nodes[0])
	waitUntil(t, "the new node to catch up", 2*time.Minute, func() bool { return height(joiner) >= target })
	t.Logf("the new node reached height %d %v after it started (5 s of it discovering snapshots)", target, time.Since(started).Round(100*time.Millisecond))
	_, earliest, err := joiner.heights()
	if err != nil {
		t.Fatal(err)
	}
	if earliest <= 1 {
		t.Fatalf("the new node keeps blocks from %d: it replayed the chain rather than restoring a snapshot", earliest)
	}
	t.Logf("restored a snapshot and synced blocks from %d on", earliest)

	// Verified lookups through the new node, cross-checked with two
	// validators: names registered before it joined.
	cj := net.client(4, 0, 1)
	for _, name := range []string{"alice", load[0].Name, load[len(load)-1].Name} {
		if _, err := cj.Lookup(ctx, name); err != nil {
			t.Fatalf("%s through the new node: %v", name, err)
		}
	}

	// It keeps up: a name registered now (through a validator) is found
	// through it, and it agrees with the validators on every block.
	register(t, c0, "bob")
	waitUntil(t, "bob through the new node", time.Minute, func() bool {
		rec, err := cj.Lookup(ctx, "bob")
		return err == nil && rec.Name == "bob"
	})
	sameChain(t, net.nodes)
}

// registerMany registers n names (prefix0 ...) in bulk through every node
// and returns their accounts once all are committed.
func registerMany(t *testing.T, ctx context.Context, net *network, prefix string, n int) []*chainload.Account {
	t.Helper()
	params := node.DefaultOptions().Params
	accts, err := chainload.Accounts(ctx, net.chainID, prefix, n, params)
	if err != nil {
		t.Fatal(err)
	}
	rpcs, err := chainload.Dial(net.urls()...)
	if err != nil {
		t.Fatal(err)
	}
	from, err := rpcs.Height(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	pre := make([][]byte, n)
	for i, a := range accts {
		pre[i] = a.Preorder(net.chainID, from+params.MaxTxTTL)
	}
	if err := rpcs.Submit(ctx, pre, 16); err != nil {
		t.Fatal(err)
	}
	res, err := rpcs.Follow(ctx, 0, from, pre)
	if err != nil {
		t.Fatal(err)
	}
	regs := make([][]byte, n)
	var last int64
	for i, a := range accts {
		r := res[string(pre[i])]
		if r.Code != 0 {
			t.Fatalf("preorder of %s: code %d %s", a.Name, r.Code, r.Log)
		}
		regs[i] = a.Register(net.chainID, r.Height, r.Height+params.MaxTxTTL)
		last = max(last, r.Height)
	}
	// Every node's mempool checks a register as if in the block after the
	// application's last commit, which can be one behind the height the
	// node reports (CometBFT stores a block before the application commits
	// it): the preorders must be old enough for the block after that.
	waitUntil(t, "the preorders to be old enough on every node", time.Minute, func() bool { return net.minHeight() >= last+params.MinPreorderAge })
	from, _ = rpcs.Height(ctx, 0)
	if err := rpcs.Submit(ctx, regs, 16); err != nil {
		t.Fatal(err)
	}
	if res, err = rpcs.Follow(ctx, 0, from, regs); err != nil {
		t.Fatal(err)
	}
	for i, a := range accts {
		if r := res[string(regs[i])]; r.Code != 0 {
			t.Fatalf("register of %s: code %d %s", a.Name, r.Code, r.Log)
		}
	}
	return accts
}

// TestJoinRefusals: bnsd join refuses, with what to do, a home that still
// holds chain data (state sync starts from nothing; the validator's
// signing state is kept), fewer than two RPC servers, and a new home
// without the chain's genesis.
func TestJoinRefusals(t *testing.T) {
	dir := t.TempDir()
	if code := run(context.Background(), []string{"init", "--home", dir, "--chain-id", "join-test"}, nil, io.Discard, io.Discard); code != 0 {
		t.Fatalf("init exited %d", code)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data", "blockstore.db"), 0o700); err != nil {
		t.Fatal(err)
	}
	hash := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--home", dir, "--rpc-servers", "http://127.0.0.1:1,http://127.0.0.1:2", "--trust-height", "5", "--trust-hash", hash},
			1, "state sync starts from an empty data directory; move data/ away, keeping data/priv_validator_state.json"},
		{[]string{"--home", dir, "--rpc-servers", "http://127.0.0.1:1"}, 2, "give at least two RPC URLs"},
		{[]string{"--home", filepath.Join(t.TempDir(), "new"), "--rpc-servers", "http://127.0.0.1:1,http://127.0.0.1:2", "--trust-height", "5", "--trust-hash", hash},
			1, "a new home needs the chain's genesis file"},
		{[]string{"--home", dir, "--rpc-servers", "http://127.0.0.1:1,http://127.0.0.1:2", "--trust-height", "5", "--trust-hash", "abc"},
			2, "is not 64 hex digits"},
	} {
		var errb bytes.Buffer
		code := run(context.Background(), append([]string{"join"}, tc.args...), nil, io.Discard, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("join %v: exit %d, %q; want exit %d saying %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
	}
}
