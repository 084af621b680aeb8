package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
)

var bnsdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bnsd-bin")
	if err != nil {
		panic(err)
	}
	bnsdBin = filepath.Join(dir, "bnsd")
	if out, err := exec.Command("go", "build", "-o", bnsdBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build bnsd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one bnsd node process.
type proc struct {
	home, rpc, log string
	args           []string // extra flags of bnsd start
	cmd            *exec.Cmd
	done           chan struct{} // closed when the process has exited
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bnsdBin, append([]string{"start", "--home", p.home, "--log-level", "*:error"}, p.args...)...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); f.Close(); close(done) }(p.cmd, p.done)
	t.Logf("drill: started %s (pid %d)", filepath.Base(p.home), p.cmd.Process.Pid)
}

func (p *proc) stop(t testing.TB, sig syscall.Signal) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	t.Logf("drill: stopping %s (pid %d) with %v", filepath.Base(p.home), p.cmd.Process.Pid, sig)
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

type status struct {
	Height  int64
	AppHash string
}

func getJSON(url string, v any) error {
	c := http.Client{Timeout: 3 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (p *proc) status() (status, error) {
	var r struct {
		Result struct {
			SyncInfo struct {
				Height  string `json:"latest_block_height"`
				AppHash string `json:"latest_app_hash"`
			} `json:"sync_info"`
		}
	}
	if err := getJSON(p.rpc+"/status", &r); err != nil {
		return status{}, err
	}
	h, err := strconv.ParseInt(r.Result.SyncInfo.Height, 10, 64)
	return status{h, r.Result.SyncInfo.AppHash}, err
}

// blockAt returns the block hash and app hash recorded at height h.
func (p *proc) blockAt(h int64) (blockHash, appHash string, err error) {
	var r struct {
		Result struct {
			SignedHeader struct {
				Header struct {
					AppHash string `json:"app_hash"`
				}
				Commit struct {
					BlockID struct {
						Hash string
					} `json:"block_id"`
				}
			} `json:"signed_header"`
		}
	}
	if err := getJSON(fmt.Sprintf("%s/commit?height=%d", p.rpc, h), &r); err != nil {
		return "", "", err
	}
	return r.Result.SignedHeader.Commit.BlockID.Hash, r.Result.SignedHeader.Header.AppHash, nil
}

func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {

	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func height(p *proc) int64 {
	s, err := p.status()
	if err != nil {
		return -1
	}
	return s.Height
}

// TestFourValidators runs a real 4-validator network of bnsd processes on
// 127.0.0.1 and checks liveness with one node down, safety with two down,
// and catch-up after restarts.
func TestFourValidators(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four node processes")
	}
	dir := t.TempDir()
	var out bytes.Buffer
	if code := run(context.Background(), []string{"testnet", "--validators", "4", "--output", dir, "--base-port", "0",
		"--block-time", "100ms", "--chain-id", "consensus-test"}, nil, &out, io.Discard); code != 0 {
		t.Fatalf("testnet exited %d", code)
	}
	rpcs := regexp.MustCompile(`rpc (http://\S+)`).FindAllStringSubmatch(out.String(), -1)
	if len(rpcs) != 4 {
		t.Fatalf("testnet output: %s", out.String())
	}
	nodes := make([]*proc, 4)
	for i := range nodes {
		nodes[i] = &proc{home: filepath.Join(dir, fmt.Sprintf("node%d", i)), rpc: rpcs[i][1], log: filepath.Join(dir, fmt.Sprintf("node%d.log", i))}
		nodes[i].start(t)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop(t, syscall.SIGKILL)
		}
		if t.Failed() {
			for _, n := range nodes {
				b, _ := os.ReadFile(n.log)
				t.Logf("%s log (tail):\n%s", n.home, tail(string(b), 2000))
			}
		}
	})
	for i, n := range nodes {
		waitUntil(t, fmt.Sprintf("node%d to commit block 3", i), 2*time.Minute, func() bool { return height(n) >= 3 })
	}

	ctx := context.Background()
	client := func(primary *proc, witnesses ...*proc) *lookup.Client {
		var ws []string
		for _, w := range witnesses {
			ws = append(ws, w.rpc)
		}
		c, err := lookup.New(ctx, lookup.Config{ChainID: "consensus-test", Primary: primary.rpc, Witnesses: ws})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c0 := client(nodes[0], nodes[1], nodes[2])

	// Registrations commit and are visible, verified, through any node.
	register(t, c0, "alice")
	register(t, c0, "bob")
	c2 := client(nodes[2], nodes[0], nodes[1])
	if rec, err := c2.Lookup(ctx, "bob"); err != nil || rec.Name != "bob" {
		t.Fatalf("bob through node2: %v", err)
	}

	// One validator down (crashed): the other three hold 30 of 40 votes,
	// more than 2/3, and keep committing.
	c3 := client(nodes[3], nodes[0], nodes[1], nodes[2]) // asks node3 first
	nodes[3].stop(t, syscall.SIGKILL)
	register(t, c0, "carol")
	h := height(nodes[0])
	waitUntil(t, "commits with node3 down", 2*time.Minute, func() bool { return height(nodes[0]) >= h+5 })

	// Failover: a client whose first node died goes on through the others,
	// and a new one configured with the dead node first starts anyway.
	if rec, err := c3.Lookup(ctx, "carol"); err != nil || rec.Name != "carol" {
		t.Fatalf("carol through a client whose node died: %v", err)
	}
	c3b := client(nodes[3], nodes[1], nodes[2])
	if rec, err := c3b.Lookup(ctx, "alice"); err != nil || rec.Name != "alice" {
		t.Fatalf("alice through a client configured with a dead node first: %v", err)
	}

	// Restarted, it replays and catches up to the same blocks and app hash.
	nodes[3].start(t)
	target := height(nodes[0])
	waitUntil(t, "node3 to catch up", 2*time.Minute, func() bool { return height(nodes[3]) >= target })
	sameBlocks(t, nodes, target)

	// Two validators down: 20 of 40 votes, not more than 2/3: no block
	// commits anywhere, and the two live nodes do not diverge.
	nodes[2].stop(t, syscall.SIGTERM)
	nodes[3].stop(t, syscall.SIGTERM)
	waitUntil(t, "heights to settle", time.Minute, func() bool {
		a, b := height(nodes[0]), height(nodes[1])
		return a > 0 && a == b
	})
	stalled := height(nodes[0])
	time.Sleep(2 * time.Second) // twenty block times: a live chain would commit many blocks
	for i := 0; i < 2; i++ {
		if got := height(nodes[i]); got > stalled+1 {
			t.Fatalf("node%d committed up to %d with two of four validators down (stalled at %d)", i, got, stalled)
		}
	}

	// One returns: three of four again, commits resume, and every node
	// agrees on every block.
	nodes[2].start(t)
	waitUntil(t, "commits to resume", 2*time.Minute, func() bool { return height(nodes[0]) >= stalled+3 })
	register(t, c0, "dave")
	nodes[3].start(t)
	final := height(nodes[0])
	waitUntil(t, "all nodes to reach the same height", 2*time.Minute, func() bool {
		for _, n := range nodes {
			if height(n) < final {
				return false
			}
		}
		return true
	})
	sameBlocks(t, nodes, final)
	c3 = client(nodes[3], nodes[0], nodes[1])
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		if _, err := c3.Lookup(ctx, name); err != nil {
			t.Errorf("%s through node3: %v", name, err)
		}
	}
}

// sameBlocks checks that every node has the same block and app hash at
// every height from 1 to h: nothing forked.
func sameBlocks(t *testing.T, nodes []*proc, h int64) {
	t.Helper()
	for height := int64(1); height <= h; height++ {
		var wantB, wantA string
		for i, n := range nodes {
			if n.cmd == nil {
				continue
			}
			b, a, err := n.blockAt(height)
			if err != nil {
				t.Fatalf("node%d block %d: %v", i, height, err)
			}
			if wantB == "" {
				wantB, wantA = b, a
			} else if b != wantB || a != wantA {
				t.Fatalf("height %d: node%d has block %s app %s, others %s %s", height, i, b, a, wantB, wantA)
			}
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var accounts = map[string]ed25519.PrivateKey{}

func register(t *testing.T, c *lookup.Client, name string) {

	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	seed := sha256.Sum256([]byte(name))
	priv := ed25519.NewKeyFromSeed(seed[:])
	accounts[name] = priv
	owner := bns.PublicKeyOf(priv)
	salt := sha256.Sum256([]byte("salt" + name))
	preHeight, err := c.Preorder(ctx, priv, name, salt)
	if err != nil {
		t.Fatalf("preorder %s: %v", name, err)
	}
	xk, _ := hpke.DHKEM(ecdhX25519()).DeriveKeyPair(seed[:])
	p := bns.Profile{SigningKey: owner, EncKeys: []bns.EncKey{{KEM: bns.KEMX25519, Key: xk.PublicKey().Bytes()}}, Hubs: []string{"http://127.0.0.1:4000"}}
	if _, err := c.Register(ctx, priv, name, salt, preHeight, p); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	if rec, err := c.Lookup(ctx, name); err != nil || rec.Owner != owner {
		t.Fatalf("lookup %s after register: %v", name, err)
	}
}
