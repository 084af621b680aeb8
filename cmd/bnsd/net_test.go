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
	return startTestnet(t, chainID, n, append([]string{"--validators", fmt.Sprint(n), "--base-port", "0"}, testnetArgs...), startArgs)
}

// startTestnet is startNetwork with the testnet's flags given whole
// (besides its directory, the chain ID and the block times), for n nodes.
func startTestnet(t *testing.T, chainID string, n int, testnetArgs, startArgs []string) *network {
	t.Helper()
	dir := t.TempDir()
	var out bytes.Buffer
	args := append([]string{"testnet", "--output", dir,
		"--block-time", "100ms", "--timeout-propose", "300ms", "--chain-id", chainID}, testnetArgs...)
	if code := run(context.Background(), args, nil, &out, io.Discard); code != 0 {
		t.Fatalf("testnet exited %d", code)
	}
	lines := regexp.MustCompile(`\tnode (\S+)\tp2p (\S+)\trpc (http://\S+)`).FindAllStringSubmatch(out.String(), -1)
	if len(lines) != n {
		t.Fatalf("testnet output: %s", out.String())
	}
	net := &network{t: t, dir: dir, chainID: chainID}
	for i := range n {
		p := &proc{home: filepath.Join(dir, fmt.Sprintf("node%d", i)), rpc: lines[i][3], log: filepath.Join(dir, fmt.Sprintf("node%d.log", i)),
			args: startArgs, peer: lines[i][1] + "@" + lines[i][2]}
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

// minHeight is the lowest height of the nodes (-1 if one does not answer).
func (n *network) minHeight() int64 {
	low := int64(-1)
	for i, p := range n.nodes {
		if h := height(p); i == 0 || h < low {
			low = h
		}
	}
	return low
}

// peers are the nodes' persistent peer addresses, ID@HOST:PORT.
func (n *network) peers() []string {
	var out []string
	for _, p := range n.nodes {
		out = append(out, p.peer)
	}
	return out
}

func (n *network) urls() []string {
	var out []string
	for _, p := range n.nodes {
		out = append(out, p.rpc)
	}
	return out
}

// heights returns the newest and the oldest block p keeps.
func (p *proc) heights() (latest, earliest int64, err error) {
	var r struct {
		Result struct {
			SyncInfo struct {
				Latest   int64 `json:"latest_block_height,string"`
				Earliest int64 `json:"earliest_block_height,string"`
			} `json:"sync_info"`
		}
	}
	if err := getJSON(p.rpc+"/status", &r); err != nil {
		return 0, 0, err
	}
	return r.Result.SyncInfo.Latest, r.Result.SyncInfo.Earliest, nil
}

// blockMeta is what sameChain compares at each height.
type blockMeta struct{ block, app string }

// metas returns p's block hashes and app hashes for heights from..to.
func (p *proc) metas(from, to int64) (map[int64]blockMeta, error) {
	out := make(map[int64]blockMeta)
	for hi := to; hi >= from; hi -= 20 {
		lo := max(from, hi-19)
		var r struct {
			Result struct {
				BlockMetas []struct {
					BlockID struct {
						Hash string `json:"hash"`
					} `json:"block_id"`
					Header struct {
						Height int64  `json:"height,string"`
						App    string `json:"app_hash"`
					} `json:"header"`
				} `json:"block_metas"`
			}
		}
		if err := getJSON(fmt.Sprintf("%s/blockchain?minHeight=%d&maxHeight=%d", p.rpc, lo, hi), &r); err != nil {
			return nil, err
		}
		for _, m := range r.Result.BlockMetas {
			out[m.Header.Height] = blockMeta{m.BlockID.Hash, m.Header.App}
		}
		if int64(len(r.Result.BlockMetas)) != hi-lo+1 {
			return nil, fmt.Errorf("%s has %d blocks in %d..%d", p.rpc, len(r.Result.BlockMetas), lo, hi)
		}
	}
	return out, nil
}

// sameChain checks that the running nodes have the same block and the same
// app hash at every height they all keep (nothing forked, no state
// diverged) and returns the highest such height.
func sameChain(t *testing.T, nodes []*proc) int64 {
	t.Helper()
	var from, to int64 = 1, -1
	var live []*proc
	for _, p := range nodes {
		if p.cmd == nil || p.paused {
			continue
		}
		latest, earliest, err := p.heights()
		if err != nil {
			t.Fatalf("%s: %v", p.home, err)
		}
		from = max(from, earliest)
		if to < 0 || latest < to {
			to = latest
		}
		live = append(live, p)
	}
	var want map[int64]blockMeta
	for i, p := range live {
		got, err := p.metas(from, to)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			want = got
			continue
		}
		for h := from; h <= to; h++ {
			if got[h] != want[h] {
				t.Fatalf("height %d: %s has block %s app %s, %s has %s %s", h, p.home, got[h].block, got[h].app, live[0].home, want[h].block, want[h].app)
			}
		}
	}
	return to
}
