package node

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	cfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/types"
)

// StateSync is how a node joins a running chain from a snapshot instead of
// replaying every block: CometBFT's light client verifies the snapshot's
// height from the trust root through the RPC servers, the application
// restores the snapshot (chunks fetched from peers) and checks it against
// the verified app hash, and the node then syncs the blocks after it.
type StateSync struct {
	// RPCServers are the RPC URLs of at least two nodes of the chain that
	// CometBFT's light client verifies headers through.
	RPCServers []string
	// TrustHeight and TrustHash are a recent header of the chain, known
	// from a source the operator trusts (or cross-checked between the RPC
	// servers when the home is made). The RPC servers must still keep its
	// block.
	TrustHeight int64
	TrustHash   []byte
	// TrustPeriod bounds how old the trusted header may be (default 168h).
	TrustPeriod time.Duration
}

// DefaultTrustPeriod is the trusting period of state sync when StateSync
// has none: about two thirds of a typical unbonding period.
const DefaultTrustPeriod = 168 * time.Hour

// JoinOptions shape a home made by Join.
type JoinOptions struct {
	// Genesis is the path of the chain's genesis.json, copied into a new
	// home (a home that has one keeps it).
	Genesis string
	// Peers are the persistent peers, "ID@HOST:PORT" (a home that has some
	// keeps them unless others are given).
	Peers []string
	// Moniker names the node (default "joined").
	Moniker string
	// Ports of a new home (on 127.0.0.1; ListenIP changes that).
	Ports Ports
	// ListenIP is the address a new home listens on (default 127.0.0.1).
	ListenIP string
	StateSync
}

// ErrHasState is returned by Join for a home whose data directory holds
// chain data: state sync starts from nothing.
var ErrHasState = errors.New("node: the home holds chain data")

// Join makes home a node that joins a running chain by state sync: a new
// home (keys, the chain's genesis, peers), or an existing one whose chain
// data was lost (its keys, genesis and data/priv_validator_state.json are
// kept, so a validator comes back as itself without signing twice). It
// fails with ErrHasState if data/ still holds chain data.
func Join(home string, o JoinOptions) (*Validator, error) {
	ss := o.StateSync
	if len(ss.RPCServers) < 2 {
		return nil, fmt.Errorf("node: state sync needs at least two RPC servers, got %d", len(ss.RPCServers))
	}
	if ss.TrustHeight < 1 || len(ss.TrustHash) != 32 {
		return nil, fmt.Errorf("node: state sync needs a trusted height and a 32-byte header hash")
	}
	if ss.TrustPeriod == 0 {
		ss.TrustPeriod = DefaultTrustPeriod
	}
	var c *cfg.Config
	if _, err := os.Stat(filepath.Join(home, "config", "config.toml")); err == nil {
		if c, err = LoadConfig(home); err != nil {
			return nil, err
		}
		for _, db := range []string{"blockstore.db", "state.db", "bns.db"} {
			if _, err := os.Stat(filepath.Join(c.DBDir(), db)); err == nil {
				return nil, fmt.Errorf("%w (%s): state sync starts from an empty data directory; move data/ away, keeping data/priv_validator_state.json", ErrHasState, filepath.Join(c.DBDir(), db))
			}
		}
	} else {
		if o.Genesis == "" {
			return nil, fmt.Errorf("node: a new home needs the chain's genesis file")
		}
		g, err := types.GenesisDocFromFile(o.Genesis)
		if err != nil {
			return nil, fmt.Errorf("node: genesis: %w", err)
		}
		if o.Moniker == "" {
			o.Moniker = "joined"
		}
		c = baseConfig(home, DefaultOptions(), o.Moniker, o.Ports)
		if o.ListenIP != "" {
			c.P2P.ListenAddress = fmt.Sprintf("tcp://%s:%d", o.ListenIP, o.Ports.P2P)
			c.RPC.ListenAddress = fmt.Sprintf("tcp://%s:%d", o.ListenIP, o.Ports.RPC)
		}
		if _, _, err := makeHome(c); err != nil {
			return nil, err
		}
		if err := g.SaveAs(c.GenesisFile()); err != nil {
			return nil, fmt.Errorf("node: save genesis: %w", err)
		}
	}
	if len(o.Peers) > 0 {
		c.P2P.PersistentPeers = strings.Join(o.Peers, ",")
	}
	c.StateSync.Enable = true
	c.StateSync.RPCServers = ss.RPCServers
	c.StateSync.TrustHeight = ss.TrustHeight
	c.StateSync.TrustHash = hex.EncodeToString(ss.TrustHash)
	c.StateSync.TrustPeriod = ss.TrustPeriod
	c.StateSync.DiscoveryTime = 5 * time.Second // the shortest CometBFT takes
	if err := c.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("node: config: %w", err)
	}
	cfg.WriteConfigFile(filepath.Join(c.RootDir, "config", "config.toml"), c)
	nk, err := p2p.LoadNodeKey(c.NodeKeyFile())
	if err != nil {
		return nil, fmt.Errorf("node: node key: %w", err)
	}
	return &Validator{Home: c.RootDir, Ports: Ports{P2P: port(c.P2P.ListenAddress), RPC: port(c.RPC.ListenAddress)}, NodeID: string(nk.ID())}, nil
}

// port is the port of a listen address such as tcp://127.0.0.1:26657 (0
// if it has none).
func port(addr string) int {
	_, p, err := net.SplitHostPort(strings.TrimPrefix(addr, "tcp://"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}
