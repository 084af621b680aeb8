// Package nodetest starts a real single-validator name-chain node in the
// test's process, for tests of what is built on the chain.
//
// It is for tests only and must not be imported by a program.
package nodetest

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	cmtlog "github.com/cometbft/cometbft/libs/log"

	"github.com/parley-im/parley/chain/node"
)

// Start runs a node with 50 ms blocks and cheap proof-of-work stamps on
// free ports until the test ends, and returns its RPC URL.
func Start(t testing.TB, chainID string) string {
	t.Helper()
	return StartWith(t, chainID, nil)
}

// StartWith is Start with options adjusted by tweak (genesis params, say
// short name lifetimes) after Start's own.
func StartWith(t testing.TB, chainID string, tweak func(*node.Options)) string {
	t.Helper()
	return StartNode(t, chainID, tweak, node.StartOptions{}).URL
}

// Node is a running test node that a test can stop and start again.
type Node struct {
	URL  string // its RPC URL (the same after a restart)
	t    testing.TB
	home string
	opts node.StartOptions
	n    *node.Node
}

// StartNode is StartWith (tweak may be nil) with options for the running
// node (one that keeps only a few recent blocks, say); the node can be
// stopped and started again.
func StartNode(t testing.TB, chainID string, tweak func(*node.Options), opts node.StartOptions) *Node {
	t.Helper()
	o := node.DefaultOptions()
	o.ChainID, o.BlockTime = chainID, 50*time.Millisecond
	o.Params.PowDifficulty, o.Params.PreorderPowDifficulty = 4, 4
	if tweak != nil {
		tweak(&o)
	}
	// The ports are free when picked and bound when the node starts: a
	// test running beside this one may take one in between, so a node
	// that finds a port taken starts again on fresh ones.
	for attempt := 1; ; attempt++ {
		ports, err := node.FreePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		v, err := node.Init(t.TempDir(), o, ports[0])
		if err != nil {
			t.Fatal(err)
		}
		n := &Node{URL: v.RPCURL(), t: t, home: v.Home, opts: opts}
		err = n.start()
		if err != nil && attempt < 5 && portTaken(err) {
			t.Logf("nodetest: %v: starting again on other ports", err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Stop)
		return n
	}
}

// portTaken reports whether err says a port the node meant to listen on
// was taken.
func portTaken(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

// Stop stops the node (its RPC port then refuses connections); stopping
// a stopped node does nothing.
func (n *Node) Stop() {
	if n.n != nil {
		n.n.Stop()
		n.n = nil
	}
}

// SetOptions replaces the options the node starts with at its next
// Restart (a node restarted without a setting, say).
func (n *Node) SetOptions(opts node.StartOptions) { n.opts = opts }

// Restart starts a stopped node again on the same ports, from where it
// stopped.
func (n *Node) Restart() {
	n.t.Helper()
	if err := n.start(); err != nil {
		n.t.Fatal(err)
	}
}

func (n *Node) start() error {
	if n.n != nil {
		return nil
	}
	var err error
	n.n, err = node.Start(n.home, cmtlog.NewNopLogger(), n.opts)
	return err
}
