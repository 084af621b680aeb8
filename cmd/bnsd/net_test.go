package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/lookup"
)

// network is a testnet of bnsd processes on 127.0.0.1.
type network struct {
	t       *testing.T
	dir     string
	chainID string
	nodes   []*proc
}

// startNetwork makes an n-validator testnet with bnsd testnet (free ports,
// 100 ms blocks, a 300 ms propose timeout, and the extra testnet flags
// given), starts every node with the start flags given and waits for block
// 3 everywhere. The nodes are killed when the test ends; their logs are
// shown if it failed.
func startNetwork(t *testing.T, chainID string, n int, testnetArgs, startArgs []string) *network {
	t.Helper()
	dir := t.TempDir()
	var out bytes.Buffer
	args := append([]string{"testnet", "--validators", fmt.Sprint(n), "--output", dir, "--base-port", "0",
		"--block-time", "100ms", "--timeout-propose", "300ms", "--chain-id", chainID}, testnetArgs...)
	if code := run(context.Background(), args, nil, &out, io.Discard); code != 0 {
		t.Fatalf("testnet exited %d", code)
	}
	rpcs := regexp.MustCompile(`rpc (http://\S+)`).FindAllStringSubmatch(out.String(), -1)
	if len(rpcs) != n {
		t.Fatalf("testnet output: %s", out.String())
	}
	net := &network{t: t, dir: dir, chainID: chainID}
	for i := range n {
		p := &proc{home: filepath.Join(dir, fmt.Sprintf("node%d", i)), rpc: rpcs[i][1], log: filepath.Join(dir, fmt.Sprintf("node%d.log", i)), args: startArgs}
		net.nodes = append(net.nodes, p)
		p.start(t)
	}
	t.Cleanup(func() {
		for _, p := range net.nodes {
			p.stop(t, syscall.SIGKILL)
		}
		if t.Failed() {
			for _, p := range net.nodes {
				b, _ := os.ReadFile(p.log)
				t.Logf("%s log (tail):\n%s", p.home, tail(string(b), 3000))
			}
		}
	})
	for i, p := range net.nodes {
		waitUntil(t, fmt.Sprintf("node%d to commit block 3", i), 2*time.Minute, func() bool { return height(p) >= 3 })
	}
	return net
}

// client is a verified client asking nodes[primary] and cross-checking
// with the witnesses; it is closed when the test ends.
func (n *network) client(primary int, witnesses ...int) *lookup.Client {
	n.t.Helper()
	var ws []string
	for _, w := range witnesses {
		ws = append(ws, n.nodes[w].rpc)
	}
	c, err := lookup.New(context.Background(), lookup.Config{ChainID: n.chainID, Primary: n.nodes[primary].rpc, Witnesses: ws})
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { c.Close() })
	return c
}

func (n *network) urls() []string {
	var out []string
	for _, p := range n.nodes {
		out = append(out, p.rpc)
	}
	return out
}
