package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
)

// TestFourValidators: the drills of a chain's operators, on four validator
// processes (100 ms blocks, a 300 ms propose timeout, each keeping 30
// heights and serving a snapshot every 10) under a steady registration
// load: people registering names through verified clients, each asking
// its own node first. In turn a validator is killed and restarted, paused
// (SIGSTOP) and resumed, one is down (commits go on), two are down (the
// chain halts without forking and resumes when one returns), and one's
// data is wiped and it rejoins by state sync. After each, every running
// node has the same block and app hash at every height they all keep, and
// every registration the load saw acknowledged is found (verified)
// through the node the drill hit. 'make drill' runs it verbosely: each
// step says what it kills, pauses or restarts.
func TestFourValidators(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four node processes")
	}
	net := startNetwork(t, "consensus-test", 4, nil, snapshotArgs)
	nodes := net.nodes
	load := startLoad(t, net, 6)
	defer load.stopAll()
	load.waitMore(t, 3, "the first registrations")
	ctx := context.Background()

	// check is what every drill ends with: one chain, and every
	// acknowledged registration there, through node i.
	check := func(i int) {
		t.Helper()
		top := sameChain(t, nodes)
		acked := load.acked()
		c := net.client(i, (i+1)%4, (i+2)%4)
		// The client reads a state at least as new as the newest of them
		// (the load goes on meanwhile, through other nodes).
		var newest int64
		for _, r := range acked {
			newest = max(newest, r.height)
		}
		waitUntil(t, fmt.Sprintf("node%d's client to verify a header above %d", i, newest), time.Minute, func() bool {
			lb, err := c.Latest(ctx)
			return err == nil && lb.Height > newest
		})
		for name, r := range acked {
			rec, err := c.Lookup(ctx, name)
			if err != nil || rec.Owner != r.owner {
				t.Fatalf("acknowledged registration %s through node%d: %v", name, i, err)
			}
		}
		t.Logf("drill: checked: the running nodes agree on every block and app hash up to %d; all %d acknowledged registrations found through node%d", top, len(acked), i)
	}
	caughtUp := func(i int) {
		t.Helper()
		target := height(nodes[(i+1)%4])
		waitUntil(t, fmt.Sprintf("node%d to catch up to %d", i, target), 2*time.Minute, func() bool { return height(nodes[i]) >= target })
	}
	commitsGoOn := func(what string) {
		t.Helper()
		live := 0
		for live < 4 && (nodes[live].cmd == nil || nodes[live].paused) {
			live++
		}
		h := height(nodes[live])
		waitUntil(t, "commits with "+what, 2*time.Minute, func() bool { return height(nodes[live]) >= h+10 })
		load.waitMore(t, 2, "registrations with "+what)
		t.Logf("drill: with %s the chain went from %d to %d, registrations acknowledged meanwhile", what, h, height(nodes[live]))
	}

	t.Run("kill and restart", func(t *testing.T) {
		// A client that asks node3 first, made while it runs.
		c3 := net.client(3, 0, 1, 2)
		nodes[3].stop(t, syscall.SIGKILL)
		commitsGoOn("node3 killed")
		// Failover: that client goes on through the others, and a new one
		// configured with the dead node first starts anyway.
		for name := range load.acked() {
			if _, err := c3.Lookup(ctx, name); err != nil {
				t.Fatalf("%s through a client whose node died: %v", name, err)
			}
			break
		}
		if _, err := net.client(3, 1, 2).Lookup(ctx, "nobody-yet"); err != nil && !isNotFound(err) {
			t.Fatalf("a client configured with a dead node first: %v", err)
		}
		nodes[3].start(t)
		caughtUp(3)
		check(3)
	})

	t.Run("pause and resume", func(t *testing.T) {
		nodes[2].pause(t)
		commitsGoOn("node2 paused")
		nodes[2].resume(t)
		caughtUp(2)
		check(2)
	})

	t.Run("two down", func(t *testing.T) {
		nodes[2].stop(t, syscall.SIGTERM)
		nodes[3].stop(t, syscall.SIGTERM)
		waitUntil(t, "the two live nodes to settle at one height", time.Minute, func() bool {
			a, b := height(nodes[0]), height(nodes[1])
			return a > 0 && a == b
		})
		stalled := height(nodes[0])
		acked := len(load.acked())
		// Thirty block times: a live chain would commit many blocks.
		time.Sleep(3 * time.Second)
		for i := range 2 {
			if got := height(nodes[i]); got > stalled+1 {
				t.Fatalf("node%d committed up to %d with two of four validators down (stalled at %d)", i, got, stalled)
			}
		}
		if got := len(load.acked()); got > acked+load.workers {
			t.Fatalf("%d registrations acknowledged while the chain was halted", got-acked)
		}
		sameChain(t, nodes)
		t.Logf("drill: with two of four down the chain halted at %d and the two live nodes agree", stalled)
		nodes[2].start(t)
		commitsGoOn("node2 back, node3 still down")
		nodes[3].start(t)
		caughtUp(3)
		check(3)
	})

	t.Run("wiped and rejoined by state sync", func(t *testing.T) {
		p := nodes[1]
		p.stop(t, syscall.SIGKILL)
		wipe(t, p.home)
		t.Logf("drill: wiped node1's data (kept its keys and data/priv_validator_state.json)")
		var out bytes.Buffer
		if code := run(ctx, []string{"join", "--home", p.home, "--rpc-servers", nodes[0].rpc + "," + nodes[2].rpc}, nil, &out, &out); code != 0 {
			t.Fatalf("join exited %d: %s", code, out.String())
		}
		t.Logf("drill: bnsd join --home node1: %s", strings.TrimSpace(out.String()))
		commitsGoOn("node1 wiped")
		p.start(t)
		caughtUp(1)
		if _, earliest, err := p.heights(); err != nil || earliest <= 1 {
			t.Fatalf("node1 keeps blocks from %d (%v): it did not restore a snapshot", earliest, err)
		}
		check(1)
	})

	load.stopAll()
	for i := range nodes {
		check(i)
	}
	t.Logf("drill: %d registrations acknowledged, %d attempts failed during the drills", len(load.acked()), load.failures())
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, lookup.ErrNotFound) }

// wipe removes a node's chain data, keeping its keys (config/) and its
// last signed height (data/priv_validator_state.json).
func wipe(t *testing.T, home string) {
	t.Helper()
	data := filepath.Join(home, "data")
	entries, err := os.ReadDir(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "priv_validator_state.json" {
			if err := os.RemoveAll(filepath.Join(data, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// regLoad registers fresh names without pause from several workers, each
// through a verified client of its own that asks one node first, and
// records every registration the chain acknowledged (Register returned:
// the name was provable through a verified header).
type regLoad struct {
	workers int
	stop    chan struct{}
	wg      sync.WaitGroup

	mu     sync.Mutex
	names  map[string]ack
	failed int
}

// ack is an acknowledged registration: its owner and the height of the
// block that holds it.
type ack struct {
	owner  bns.PublicKey
	height int64
}

func startLoad(t *testing.T, net *network, workers int) *regLoad {
	l := &regLoad{workers: workers, stop: make(chan struct{}), names: make(map[string]ack)}
	for w := range workers {
		n := len(net.nodes)
		c := net.client(w%n, (w+1)%n, (w+2)%n, (w+3)%n)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for k := 0; ; k++ {
				select {
				case <-l.stop:
					return
				default:
				}
				name := fmt.Sprintf("w%d-%d", w, k)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				owner, h, err := registerName(ctx, c, net.chainID, name)
				cancel()
				l.mu.Lock()
				if err == nil {
					l.names[name] = ack{owner, h}
				} else {
					l.failed++
				}
				l.mu.Unlock()
				if err != nil {
					select {
					case <-l.stop:
						return
					case <-time.After(200 * time.Millisecond):
					}
				}
			}
		}()
	}
	return l
}

// registerName preorders and registers name with a key of its own and
// returns the owner key and the height of the register's block.
func registerName(ctx context.Context, c *lookup.Client, chainID, name string) (bns.PublicKey, int64, error) {
	seed := sha256.Sum256([]byte(chainID + " " + name))
	priv := ed25519.NewKeyFromSeed(seed[:])
	owner := bns.PublicKeyOf(priv)
	salt := sha256.Sum256([]byte("salt " + name))
	h, err := c.Preorder(ctx, priv, name, salt)
	if err != nil {
		return owner, 0, err
	}
	xk, err := hpke.DHKEM(ecdhX25519()).DeriveKeyPair(seed[:])
	if err != nil {
		return owner, 0, err
	}
	p := bns.Profile{SigningKey: owner, EncKeys: []bns.EncKey{{KEM: bns.KEMX25519, Key: xk.PublicKey().Bytes()}}, Hubs: []string{"http://127.0.0.1:4000"}}
	h, err = c.Register(ctx, priv, name, salt, h, p)
	return owner, h, err
}

func (l *regLoad) acked() map[string]ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]ack, len(l.names))
	for k, v := range l.names {
		out[k] = v
	}
	return out
}

func (l *regLoad) failures() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// waitMore waits until n more registrations are acknowledged.
func (l *regLoad) waitMore(t *testing.T, n int, what string) {
	t.Helper()
	start := len(l.acked())
	waitUntil(t, what, 2*time.Minute, func() bool { return len(l.acked()) >= start+n })
}

// stopAll stops the workers and waits for them (a registration under way
// finishes or times out); stopping again does nothing.
func (l *regLoad) stopAll() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}
