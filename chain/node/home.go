// Package node creates name-chain node homes (one validator, or a testnet of
// N validators wired as peers on 127.0.0.1) and runs a real CometBFT node
// with the name-chain application in-process.
//
// A home is a standard CometBFT home: config/config.toml, config/genesis.json
// (whose app_state holds the bns.Params), the validator and node keys, and
// data/, where data/bns.db holds the application's IAVL state.
//
// It owns node homes and starting a node; it must not hold the
// application's rules (package app does) or be imported by a client.
package node

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	cfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"
	cmttime "github.com/cometbft/cometbft/types/time"

	"github.com/parley-im/parley/chain/bns"
)

// Options shape the homes made by Init and Testnet.
type Options struct {
	// ChainID of the new chain.
	ChainID string
	// Params go into genesis app_state.
	Params bns.Params
	// BlockTime is the consensus timeout_commit: the pause after a block
	// commits before the next one is proposed.
	BlockTime time.Duration
	// TxIndex is the CometBFT transaction indexer, "null" (default: the
	// chain's own state answers every lookup, with proofs) or "kv".
	TxIndex string
	// TimeoutPropose is how long validators wait for a round's proposal
	// before voting nil and moving to the next round (zero: CometBFT's
	// 3s). A short one gets past a validator that is down sooner; on a
	// real network it must exceed the time a proposal takes to spread.
	TimeoutPropose time.Duration
	// Hosts, if set, put the validators of a testnet on different machines:
	// Hosts[i] is the host name or IP address at which the others reach
	// validator i (its external address, and their persistent peer). A
	// node whose host is an IP address listens on it; one named by a host
	// name listens on every interface (0.0.0.0). Empty: every validator on
	// 127.0.0.1.
	Hosts []string
}

// DefaultOptions are for a local network: one-second blocks, local params.
func DefaultOptions() Options {
	return Options{ChainID: "parley-local", Params: bns.LocalParams(), BlockTime: time.Second, TxIndex: "null"}
}

// Ports of one node.
type Ports struct {
	P2P, RPC int
}

// Validator describes one validator home of a testnet.
type Validator struct {
	Home   string
	Host   string // where the others reach it ("" is 127.0.0.1)
	Ports  Ports
	NodeID string
}

func (v Validator) host() string {
	if v.Host == "" {
		return "127.0.0.1"
	}
	return v.Host
}

// RPCURL is the node's CometBFT RPC address.
func (v Validator) RPCURL() string {
	return "http://" + net.JoinHostPort(v.host(), strconv.Itoa(v.Ports.RPC))
}

// P2PAddress is the address its peers dial, HOST:PORT.
func (v Validator) P2PAddress() string { return net.JoinHostPort(v.host(), strconv.Itoa(v.Ports.P2P)) }

func baseConfig(home string, o Options, moniker string, ports Ports) *cfg.Config {
	c := cfg.DefaultConfig()
	c.SetRoot(home)
	c.Moniker = moniker
	c.ProxyApp = "bns" // in-process; recorded for operators
	c.P2P.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", ports.P2P)
	c.RPC.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", ports.RPC)
	c.P2P.AddrBookStrict = false
	c.P2P.AllowDuplicateIP = true
	c.P2P.PexReactor = false
	c.Consensus.TimeoutCommit = o.BlockTime
	if o.TimeoutPropose > 0 {
		c.Consensus.TimeoutPropose = o.TimeoutPropose
	}
	c.Consensus.PeerGossipSleepDuration = 10 * time.Millisecond
	c.TxIndex.Indexer = o.TxIndex
	c.Instrumentation.Prometheus = false
	c.LogLevel = "info"
	return c
}

func (o Options) validate() error {
	if o.ChainID == "" || len(o.ChainID) > bns.MaxChainIDLen {
		return fmt.Errorf("node: chain ID %q must have 1 to %d characters", o.ChainID, bns.MaxChainIDLen)
	}
	if o.TxIndex != "null" && o.TxIndex != "kv" {
		return fmt.Errorf("node: tx index %q must be \"null\" or \"kv\"", o.TxIndex)
	}
	if o.BlockTime <= 0 {
		return fmt.Errorf("node: block time %v must be positive", o.BlockTime)
	}
	if o.TimeoutPropose < 0 {
		return fmt.Errorf("node: propose timeout %v must not be negative", o.TimeoutPropose)
	}
	for _, h := range o.Hosts {
		if err := CheckHost(h); err != nil {
			return err
		}
	}
	return o.Params.Validate()
}

// makeHome writes a home's directories, config and keys, and returns its
// validator key file.
func makeHome(c *cfg.Config) (*privval.FilePV, *p2p.NodeKey, error) {
	if _, err := os.Stat(c.GenesisFile()); err == nil {
		return nil, nil, fmt.Errorf("node: %s already holds a node (found %s)", c.RootDir, c.GenesisFile())
	}
	for _, d := range []string{filepath.Join(c.RootDir, "config"), filepath.Join(c.RootDir, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, nil, fmt.Errorf("node: %w", err)
		}
	}
	pv := privval.GenFilePV(c.PrivValidatorKeyFile(), c.PrivValidatorStateFile())
	pv.Save()
	nk, err := p2p.LoadOrGenNodeKey(c.NodeKeyFile())
	if err != nil {
		return nil, nil, fmt.Errorf("node: node key: %w", err)
	}
	return pv, nk, nil
}

func genesis(o Options, vals []types.GenesisValidator) (*types.GenesisDoc, error) {
	state, err := json.Marshal(o.Params)
	if err != nil {
		return nil, err
	}
	g := &types.GenesisDoc{
		ChainID:         o.ChainID,
		GenesisTime:     cmttime.Now(),
		InitialHeight:   1,
		ConsensusParams: types.DefaultConsensusParams(),
		Validators:      vals,
		AppState:        state,
	}
	g.ConsensusParams.Block.MaxBytes = 4 << 20
	return g, g.ValidateAndComplete()
}

// Init makes a single-validator home in dir.
func Init(dir string, o Options, ports Ports) (*Validator, error) {
	vals, err := Testnet(dir, 1, o, []Ports{ports}, func(int) string { return dir })
	if err != nil {
		return nil, err
	}
	return &vals[0], nil
}

// Testnet makes n validator homes, home(i) for i in [0, n), on the given
// ports, all with one genesis and each listing the others as persistent
// peers.
func Testnet(dir string, n int, o Options, ports []Ports, home func(i int) string) ([]Validator, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if n < 1 || len(ports) != n {
		return nil, fmt.Errorf("node: %d validators with %d port pairs", n, len(ports))
	}
	if home == nil {
		home = func(i int) string { return filepath.Join(dir, fmt.Sprintf("node%d", i)) }
	}
	if len(o.Hosts) != 0 && len(o.Hosts) != n {
		return nil, fmt.Errorf("node: %d validators with %d hosts", n, len(o.Hosts))
	}
	seen := make(map[string]bool)
	vals := make([]Validator, n)
	configs := make([]*cfg.Config, n)
	var gvals []types.GenesisValidator
	var peers []string
	for i := range n {
		moniker := fmt.Sprintf("node%d", i)
		if len(o.Hosts) > 0 {
			moniker = o.Hosts[i]
		}
		c := baseConfig(home(i), o, moniker, ports[i])
		v := Validator{Home: c.RootDir, Ports: ports[i]}
		if len(o.Hosts) > 0 {
			v.Host = o.Hosts[i]
			onHosts(c, v)
		}
		if seen[v.P2PAddress()] {
			return nil, fmt.Errorf("node: two validators at %s", v.P2PAddress())
		}
		seen[v.P2PAddress()] = true
		pv, nk, err := makeHome(c)
		if err != nil {
			return nil, err
		}
		pub, err := pv.GetPubKey()
		if err != nil {
			return nil, err
		}
		gvals = append(gvals, types.GenesisValidator{Address: pub.Address(), PubKey: pub, Power: 10, Name: c.Moniker})
		v.NodeID = string(nk.ID())
		vals[i] = v
		peers = append(peers, p2p.IDAddressString(nk.ID(), v.P2PAddress()))
		configs[i] = c
	}
	if len(o.Hosts) > 0 {
		// Non-routable addresses (loopback, private networks) are refused
		// by a strict address book.
		// Nodes on loopback addresses (a rehearsal on one machine) dial
		// each other from 127.0.0.1, one IP for all.
		strict, dupIP := true, false
		for _, h := range o.Hosts {
			if ip := net.ParseIP(h); ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast()) {
				strict = false
				dupIP = dupIP || ip.IsLoopback()
			}
		}
		for _, c := range configs {
			c.P2P.AddrBookStrict, c.P2P.AllowDuplicateIP = strict, dupIP
		}
	}
	g, err := genesis(o, gvals)
	if err != nil {
		return nil, fmt.Errorf("node: genesis: %w", err)
	}
	for i, c := range configs {
		var others []string
		for j, p := range peers {
			if j != i {
				others = append(others, p)
			}
		}
		c.P2P.PersistentPeers = strings.Join(others, ",")
		if err := c.ValidateBasic(); err != nil {
			return nil, fmt.Errorf("node: config: %w", err)
		}
		cfg.WriteConfigFile(filepath.Join(c.RootDir, "config", "config.toml"), c)
		if err := g.SaveAs(c.GenesisFile()); err != nil {
			return nil, fmt.Errorf("node: save genesis: %w", err)
		}
	}
	return vals, nil
}

// onHosts sets up c for a validator on a machine of its own, reached at
// v.Host: it listens on that address (every interface, for a host name),
// advertises it, and shares addresses with its peers (PEX), so a node that
// joins through one validator learns of the others.
func onHosts(c *cfg.Config, v Validator) {
	listen := "0.0.0.0"
	if net.ParseIP(v.Host) != nil {
		listen = v.Host
	}
	c.P2P.ListenAddress = "tcp://" + net.JoinHostPort(listen, strconv.Itoa(v.Ports.P2P))
	c.RPC.ListenAddress = "tcp://" + net.JoinHostPort(listen, strconv.Itoa(v.Ports.RPC))
	c.P2P.ExternalAddress = v.P2PAddress()
	c.P2P.AllowDuplicateIP = false
	c.P2P.PexReactor = true
}

// CheckHost accepts a host name or an IP address (no port, no scheme).
func CheckHost(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	if len(h) == 0 || len(h) > 253 {
		return fmt.Errorf("node: host %q: want a host name or an IP address", h)
	}
	for _, label := range strings.Split(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("node: host %q: want a host name or an IP address", h)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("node: host %q: want a host name or an IP address", h)
			}
		}
	}
	return nil
}

// FreePorts returns n port pairs that were free on 127.0.0.1 a moment ago.
// All listeners are held until every port is picked, so the pairs are
// distinct.
func FreePorts(n int) ([]Ports, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	pick := func() (int, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		ls = append(ls, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	out := make([]Ports, n)
	for i := range out {
		var err error
		if out[i].P2P, err = pick(); err != nil {
			return nil, err
		}
		if out[i].RPC, err = pick(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SequentialPorts returns n port pairs from base: node i gets P2P base+10i
// and RPC base+10i+1.
func SequentialPorts(base, n int) []Ports {
	out := make([]Ports, n)
	for i := range out {
		out[i] = Ports{P2P: base + 10*i, RPC: base + 10*i + 1}
	}
	return out
}
