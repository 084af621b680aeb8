package node

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	abci "github.com/cometbft/cometbft/abci/types"
	cfg "github.com/cometbft/cometbft/config"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/viper"

	"github.com/parley-im/parley/chain/app"
)

// KeepRecent is how many recent heights a node keeps by default: versions
// of the state, queryable (and provable), and CometBFT's blocks, from
// which light clients verify forward.
const KeepRecent = 10000

// StartOptions adjust a node that Start runs.
type StartOptions struct {
	// KeepRecent is how many recent heights the node keeps (0: the
	// package's KeepRecent). Below it the application prunes its state
	// versions and tells CometBFT (the commit's retain height) to prune
	// its blocks.
	KeepRecent int64
	// SnapshotInterval makes the node take a state sync snapshot every
	// that many heights and serve it to joining nodes (0: none).
	SnapshotInterval int64
	// SnapshotKeep is how many snapshots the node keeps (0: the
	// application's default, 2). It keeps the blocks from the oldest on.
	SnapshotKeep int
	// DevicesHeight is the height at which a chain whose genesis predates
	// application protocol 3 takes devices on (app.Config.DevicesHeight;
	// 0: a new chain takes them from genesis on, a chain that has not yet
	// reached a devices height never does).
	DevicesHeight int64
	// App, if set, runs instead of the name chain, and CloseApp (if set)
	// is called when the node stops. Benchmarks use it to measure
	// CometBFT with another application on the same configuration
	// (scripts/chainbench runs CometBFT's stock kvstore); bnsd never sets
	// it.
	App      abci.Application
	CloseApp func() error
	// Metrics, if set, is the address (host:port) on which the node serves
	// Prometheus metrics, CometBFT's and the application's, overriding
	// config.toml's [instrumentation] section. With neither, there are
	// none.
	Metrics string
	// Logger receives the name-chain application's own logs (nil:
	// warnings and errors as text on standard error). CometBFT's go to
	// the logger given to Start; [CometLogger] makes one of a slog.Logger,
	// so that both are one stream.
	Logger *slog.Logger
}

// ErrNoHome is wrapped when a directory holds no node: it has no
// config/config.toml.
var ErrNoHome = errors.New("node: no node home")

// LoadConfig reads home/config/config.toml over CometBFT's defaults;
// [ErrNoHome] if there is none.
func LoadConfig(home string) (*cfg.Config, error) {
	path := filepath.Join(home, "config", "config.toml")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %s has no config/config.toml: %w", ErrNoHome, home, err)
	}
	v := viper.New()
	v.SetConfigFile(path)
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("node: read %s: %w", path, err)
	}
	c := cfg.DefaultConfig()
	if err := v.Unmarshal(c); err != nil {
		return nil, fmt.Errorf("node: parse %s: %w", path, err)
	}
	c.SetRoot(home)
	if err := c.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("node: %s: %w", path, err)
	}
	return c, nil
}

// Node is a running CometBFT node with its application.
type Node struct {
	*nm.Node
	closeApp func() error
}

// Start runs the node of home, with the name chain's application, in this
// process; opts, if given, adjust it.
func Start(home string, logger cmtlog.Logger, opts ...StartOptions) (*Node, error) {
	var o StartOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.KeepRecent <= 0 {
		o.KeepRecent = KeepRecent
	}
	c, err := LoadConfig(home)
	if err != nil {
		return nil, err
	}
	if o.Metrics != "" {
		c.Instrumentation.Prometheus, c.Instrumentation.PrometheusListenAddr = true, o.Metrics
	}
	g, err := types.GenesisDocFromFile(c.GenesisFile())
	if err != nil {
		return nil, fmt.Errorf("node: genesis: %w", err)
	}
	application, closeApp := o.App, o.CloseApp
	if closeApp == nil {
		closeApp = func() error { return nil }
	}
	if application == nil {
		if o.Logger == nil {
			o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
		ac := app.Config{
			ChainID:          g.ChainID,
			Dir:              c.DBDir(),
			KeepRecent:       o.KeepRecent,
			Logger:           o.Logger,
			SnapshotDir:      filepath.Join(c.DBDir(), "snapshots"),
			SnapshotInterval: o.SnapshotInterval,
			SnapshotKeep:     o.SnapshotKeep,
			DevicesHeight:    o.DevicesHeight,
		}
		if c.Instrumentation.IsPrometheusEnabled() {
			// CometBFT registers its metrics with, and serves, the
			// default registry: the application's join them there.
			ac.Metrics = prometheus.DefaultRegisterer
		}
		a, err := app.New(ac)
		if err != nil {
			return nil, err
		}
		application, closeApp = a, a.Close
	}
	nodeKey, err := p2p.LoadNodeKey(c.NodeKeyFile())
	if err != nil {
		closeApp()
		return nil, fmt.Errorf("node: node key: %w", err)
	}
	pv := privval.LoadFilePV(c.PrivValidatorKeyFile(), c.PrivValidatorStateFile())
	n, err := nm.NewNode(c, pv, nodeKey, proxy.NewConnSyncLocalClientCreator(application),
		func() (*types.GenesisDoc, error) { return g, nil },
		cfg.DefaultDBProvider, nm.DefaultMetricsProvider(c.Instrumentation), logger)
	if err != nil {
		closeApp()
		return nil, fmt.Errorf("node: %w", err)
	}
	if err := n.Start(); err != nil {
		closeApp()
		return nil, fmt.Errorf("node: start: %w", err)
	}
	return &Node{Node: n, closeApp: closeApp}, nil
}

// Stop stops the node, waits for it and closes the application's state.
func (n *Node) Stop() error {
	err := n.Node.Stop()
	n.Node.Wait()
	return errors.Join(err, n.closeApp())
}
