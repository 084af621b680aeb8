// Package nodetest starts a real single-validator name-chain node in the
// test's process, for tests of what is built on the chain.
package nodetest

import (
	"testing"
	"time"

	cmtlog "github.com/cometbft/cometbft/libs/log"

	"github.com/parley-im/parley/chain/node"
)

// Start runs a node with 50 ms blocks and a cheap proof-of-work stamp on
// free ports until the test ends, and returns its RPC URL.
func Start(t testing.TB, chainID string) string {
	t.Helper()
	return StartWith(t, chainID, nil)
}

// StartWith is Start with options adjusted by tweak (genesis params, say
// short name lifetimes) after Start's own.
func StartWith(t testing.TB, chainID string, tweak func(*node.Options)) string {
	t.Helper()
	ports, err := node.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	o := node.DefaultOptions()
	o.ChainID, o.BlockTime, o.Params.PowDifficulty = chainID, 50*time.Millisecond, 4
	if tweak != nil {
		tweak(&o)
	}
	v, err := node.Init(t.TempDir(), o, ports[0])
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Start(v.Home, node.AppBNS, cmtlog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	return v.RPCURL()
}
