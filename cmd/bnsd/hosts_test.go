package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/types"

	"github.com/parley-im/parley/chain/node"
)

// TestTestnetOnHosts: bnsd testnet --hosts writes the homes of validators
// on four machines: each listens where it is reached (every interface for
// a host name, the address itself for an IP), advertises the address it
// was given, lists the three others (their node IDs at their addresses) as
// persistent peers, shares addresses (PEX), and all share one genesis with
// the four as validators. A private address turns the strict address book
// off (it would refuse it). Bad --hosts are usage errors.
func TestTestnetOnHosts(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	hosts := []string{"a.example:26656", "b.example", "c.example:36656", "10.0.0.4"}
	code := run(context.Background(), []string{"testnet", "--hosts", strings.Join(hosts, ","), "--output", dir, "--chain-id", "hosts-test"}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("testnet --hosts exited %d: %s", code, errb.String())
	}
	addrs := []string{"a.example:26656", "b.example:26656", "c.example:36656", "10.0.0.4:26656"}
	listens := []string{"tcp://0.0.0.0:26656", "tcp://0.0.0.0:26656", "tcp://0.0.0.0:36656", "tcp://10.0.0.4:26656"}
	rpcs := []string{"tcp://0.0.0.0:26657", "tcp://0.0.0.0:26657", "tcp://0.0.0.0:36657", "tcp://10.0.0.4:26657"}
	urls := []string{"http://a.example:26657", "http://b.example:26657", "http://c.example:36657", "http://10.0.0.4:26657"}
	ids := make([]string, 4)
	var genesis []byte
	for i := range 4 {
		home := filepath.Join(dir, fmt.Sprintf("node%d", i))
		nk, err := p2p.LoadNodeKey(filepath.Join(home, "config", "node_key.json"))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = string(nk.ID())
		g, err := os.ReadFile(filepath.Join(home, "config", "genesis.json"))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			genesis = g
		} else if !bytes.Equal(g, genesis) {
			t.Fatalf("node%d has another genesis", i)
		}
		want := fmt.Sprintf("%s\tnode %s\tp2p %s\trpc %s", home, ids[i], addrs[i], urls[i])
		if !strings.Contains(out.String(), want) {
			t.Errorf("testnet output lacks %q:\n%s", want, out.String())
		}
	}
	doc, err := types.GenesisDocFromJSON(genesis)
	if err != nil || len(doc.Validators) != 4 {
		t.Fatalf("genesis: %v, %d validators", err, len(doc.Validators))
	}
	for i := range 4 {
		c, err := node.LoadConfig(filepath.Join(dir, fmt.Sprintf("node%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		var wantPeers []string
		for j := range 4 {
			if j != i {
				wantPeers = append(wantPeers, ids[j]+"@"+addrs[j])
			}
		}
		gotPeers := strings.Split(c.P2P.PersistentPeers, ",")
		slices.Sort(gotPeers)
		slices.Sort(wantPeers)
		for _, check := range []struct{ what, got, want string }{
			{"external address", c.P2P.ExternalAddress, addrs[i]},
			{"p2p listen address", c.P2P.ListenAddress, listens[i]},
			{"rpc listen address", c.RPC.ListenAddress, rpcs[i]},
			{"persistent peers", strings.Join(gotPeers, ","), strings.Join(wantPeers, ",")},
			{"pex", fmt.Sprint(c.P2P.PexReactor), "true"},
			{"strict address book (10.0.0.4 is private)", fmt.Sprint(c.P2P.AddrBookStrict), "false"},
			{"peers from one IP (none is on the loopback)", fmt.Sprint(c.P2P.AllowDuplicateIP), "false"},
			{"moniker", c.Moniker, strings.Split(addrs[i], ":")[0]},
		} {
			if check.got != check.want {
				t.Errorf("node%d %s = %q, want %q", i, check.what, check.got, check.want)
			}
		}
	}

	// Public hosts only: the strict address book stays on.
	dir2 := t.TempDir()
	if code := run(context.Background(), []string{"testnet", "--hosts", "a.example,b.example,203.0.113.9", "--output", dir2}, nil, io.Discard, io.Discard); code != 0 {
		t.Fatalf("testnet --hosts exited %d", code)
	}
	if c, err := node.LoadConfig(filepath.Join(dir2, "node2")); err != nil || !c.P2P.AddrBookStrict {
		t.Fatalf("public hosts: strict address book off (%v)", err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--hosts", "a.example,b.example", "--validators", "4"}, "--validators 4 with 2 --hosts"},
		{[]string{"--hosts", "a.example:x"}, "the port must be"},
		{[]string{"--hosts", "a.example:65535"}, "the port must be"},
		{[]string{"--hosts", "bad_host!,b.example"}, "want a host name or an IP address"},
		{[]string{"--hosts", "a.example,a.example:26656"}, "two validators at a.example:26656"},
		{[]string{"--hosts", "a.example", "--base-port", "1000"}, "--base-port with --hosts"},
	} {
		var errb bytes.Buffer
		code := run(context.Background(), append([]string{"testnet", "--output", t.TempDir()}, tc.args...), nil, io.Discard, &errb)
		if code == 0 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("testnet %v: exit %d, %q; want an error saying %q", tc.args, code, errb.String(), tc.want)
		}
	}
}

// TestFourHostsOnLoopback: four validators made with --hosts for
// 127.0.0.2 .. 127.0.0.5, each on its own address as on four machines,
// find each other at those addresses and make blocks; a name registered
// through one is found, verified, through another.
func TestFourHostsOnLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four node processes")
	}
	var hosts []string
	for i := 2; i <= 5; i++ {
		ip := fmt.Sprintf("127.0.0.%d", i)
		hosts = append(hosts, fmt.Sprintf("%s:%d", ip, freePortPair(t, ip)))
	}
	net := startTestnet(t, "loopback-test", len(hosts), []string{"--hosts", strings.Join(hosts, ",")}, nil)
	// Each is connected to the three others, at their own addresses.
	for i, p := range net.nodes {
		var r struct {
			Result struct {
				Peers []struct {
					NodeInfo struct {
						ID         string `json:"id"`
						ListenAddr string `json:"listen_addr"`
					} `json:"node_info"`
				} `json:"peers"`
			}
		}
		waitUntil(t, fmt.Sprintf("node%d to have three peers", i), time.Minute, func() bool {
			return getJSON(p.rpc+"/net_info", &r) == nil && len(r.Result.Peers) == 3
		})
		var got []string
		for _, peer := range r.Result.Peers {
			got = append(got, peer.NodeInfo.ID+"@"+peer.NodeInfo.ListenAddr)
		}
		var want []string
		for j, q := range net.nodes {
			if j != i {
				want = append(want, q.peer)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("node%d's peers advertise %v, want %v", i, got, want)
		}
	}
	register(t, net.client(0, 1, 2), "alice")
	if rec, err := net.client(3, 1, 2).Lookup(context.Background(), "alice"); err != nil || rec.Name != "alice" {
		t.Fatalf("alice through 127.0.0.5: %v", err)
	}
	sameChain(t, net.nodes)
}

// freePortPair returns a port p on ip such that p and p+1 were both free
// a moment ago.
func freePortPair(t *testing.T, ip string) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatalf("listen on %s (the test runs four nodes on 127.0.0.2-5, which Linux routes to the loopback): %v", ip, err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatalf("no two free ports in a row on %s", ip)
	return 0
}
