package app

import (
	"bytes"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cosmos/iavl"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-im/parley/chain/bns"
)

// Metric names and label values. Every label has a fixed set of values
// (none comes from a transaction or a query), so the number of series is
// bounded: docs/operators.md lists them.
const metricsNamespace, metricsSubsystem = "parley", "bns"

// Stages of a transaction, the "stage" label of parley_bns_txs_total.
const (
	stageCheck = "check" // CheckTx of a new transaction (rechecks are not counted)
	stageBlock = "block" // FinalizeBlock: the result recorded in the block
)

// queryPaths are the "path" label values of the query histogram; any
// other path is "other".
var queryPaths = map[string]bool{
	bns.QueryName: true, bns.QueryHistory: true, bns.QueryOwner: true,
	bns.QueryNonce: true, bns.QueryParams: true,
}

// metrics are the application's Prometheus metrics. A nil *metrics
// records nothing.
type metrics struct {
	txs         *prometheus.CounterVec   // stage, type, code
	queries     *prometheus.HistogramVec // path, proved
	blocks      *prometheus.HistogramVec // phase
	pruned      *prometheus.CounterVec   // kind
	names       *prometheus.GaugeVec     // state
	stateKeys   prometheus.Gauge
	height      prometheus.Gauge
	collectors  []prometheus.Collector
	nameCounter nameCounts
}

// newMetrics makes the metrics and registers them with reg; dir is the
// directory of the state database ("" in memory), whose size is measured
// when scraped.
func newMetrics(reg prometheus.Registerer, dir string) (*metrics, error) {
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help}
	}
	m := &metrics{
		txs: prometheus.NewCounterVec(prometheus.CounterOpts(opts("txs_total",
			"Transactions by stage (check: CheckTx of a new transaction; block: its result in a block), type and result code.")),
			[]string{"stage", "type", "code"}),
		queries: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "query_duration_seconds",
			Help:    "Time to answer an ABCI query, by path and whether a proof was asked for.",
			Buckets: []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1},
		}, []string{"path", "proved"}),
		blocks: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "block_duration_seconds",
			Help:    "Time the application spends on a block, by phase (finalize: executing it; commit: saving the state version).",
			Buckets: []float64{1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10},
		}, []string{"phase"}),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts(opts("pruned_total",
			"Entries dropped from the state at the start of blocks: expired preorders (kind preorder) and idle accounts (kind account).")),
			[]string{"kind"}),
		names: prometheus.NewGaugeVec(prometheus.GaugeOpts(opts("names",
			"Names in the state at the last committed height, by state: live (resolving), grace (expired, renewable by the owner only), expired (free to register again), revoked.")),
			[]string{"state"}),
		stateKeys: prometheus.NewGauge(prometheus.GaugeOpts(opts("state_keys",
			"Entries (IAVL leaves) in the state at the last committed height."))),
		height: prometheus.NewGauge(prometheus.GaugeOpts(opts("height",
			"Last committed height of the application's state."))),
	}
	m.collectors = []prometheus.Collector{m.txs, m.queries, m.blocks, m.pruned, m.names, m.stateKeys, m.height}
	if dir != "" {
		m.collectors = append(m.collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("state_disk_bytes",
			"Bytes on disk of the state database (every kept version), measured when scraped.")),
			func() float64 { return float64(dirSize(dir)) }))
	}
	for _, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			for _, done := range m.collectors {
				reg.Unregister(done)
			}
			return nil, err
		}
	}
	for _, kind := range []string{"preorder", "account"} {
		m.pruned.WithLabelValues(kind)
	}
	return m, nil
}

// stateDir is the directory of the state database in dir, as
// idb.NewDB("bns", "goleveldb", dir) makes it ("" for "").
func stateDir(dir string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "bns.db")
}

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// tx counts the result of the raw transaction at stage.
func (m *metrics) tx(stage string, raw []byte, code uint32) {
	if m == nil {
		return
	}
	typ := "unknown"
	if len(raw) >= 2 { // version, type, ...
		if s := bns.TxType(raw[1]).String(); !strings.HasPrefix(s, "tx(") {
			typ = s
		}
	}
	m.txs.WithLabelValues(stage, typ, codeLabel(code)).Inc()
}

// codeLabel is the name of a result code; a code outside the protocol's
// list (which CheckTx and FinalizeBlock never return) is "other".
func codeLabel(code uint32) string {
	if s := bns.Code(code).String(); !strings.HasPrefix(s, "code(") {
		return s
	}
	return "other"
}

func (m *metrics) query(path string, proved bool, since time.Time) {
	if m == nil {
		return
	}
	if !queryPaths[path] {
		path = "other"
	}
	m.queries.WithLabelValues(path, strconv.FormatBool(proved)).Observe(time.Since(since).Seconds())
}

func (m *metrics) block(phase string, since time.Time) {
	if m != nil {
		m.blocks.WithLabelValues(phase).Observe(time.Since(since).Seconds())
	}
}

func (m *metrics) prune(preorders, accounts int) {
	if m != nil {
		m.pruned.WithLabelValues("preorder").Add(float64(preorders))
		m.pruned.WithLabelValues("account").Add(float64(accounts))
	}
}

// committed updates the gauges for the saved version imm, given the record
// changes of its block (nil when unknown, as at startup) and the genesis
// grace period.
func (m *metrics) committed(imm *iavl.ImmutableTree, changes []nameChange, grace int64) {
	if m == nil {
		return
	}
	n := &m.nameCounter
	n.grace = grace
	if v := imm.Version(); n.height == v-1 && changes != nil {
		n.advance(v)
		for _, c := range changes {
			n.change(c, v)
		}
	} else if n.height != v {
		n.build(imm)
	}
	m.names.WithLabelValues("live").Set(float64(n.live))
	m.names.WithLabelValues("grace").Set(float64(n.inGrace))
	m.names.WithLabelValues("expired").Set(float64(n.expired))
	m.names.WithLabelValues("revoked").Set(float64(n.revoked))
	m.stateKeys.Set(float64(imm.Size()))
	m.height.Set(float64(imm.Version()))
}

// nameChange is one record a block wrote: what it was before (had: there
// was one) and after.
type nameChange struct {
	had        bool
	oldExpires int64
	oldRevoked bool
	newExpires int64
	newRevoked bool
}

// nameCounts counts the names in the state by what they are at height:
// live, in their grace period, expired (past it) or revoked. It follows
// the chain block by block (advance, then the block's changes) and is
// built again from the state when it cannot (at startup, or after a jump
// such as a state sync).
type nameCounts struct {
	height                          int64 // 0: not built
	grace                           int64
	live, inGrace, expired, revoked int64
	// byExpiry counts the names that are live or in their grace period
	// by expiry height, so that advancing one height moves those whose
	// state changes; it holds no more entries than such names.
	byExpiry map[int64]int64
}

// add counts (sign +1) or uncounts (-1) a name with the given expiry
// and revocation at height h.
func (n *nameCounts) add(expires int64, revoked bool, h, sign int64) {
	switch {
	case revoked:
		n.revoked += sign
		return
	case expires+n.grace < h:
		n.expired += sign
		return
	case expires >= h:
		n.live += sign
	default:
		n.inGrace += sign
	}
	n.byExpiry[expires] += sign
	if n.byExpiry[expires] == 0 {
		delete(n.byExpiry, expires)
	}
}

// advance moves the counts from height h-1 to h.
func (n *nameCounts) advance(h int64) {
	c := n.byExpiry[h-1] // live at h-1, not at h
	n.live -= c
	n.inGrace += c
	e := h - 1 - n.grace // in grace at h-1, not at h
	c = n.byExpiry[e]
	n.inGrace -= c
	n.expired += c
	delete(n.byExpiry, e)
	n.height = h
}

func (n *nameCounts) change(c nameChange, h int64) {
	if c.had {
		n.add(c.oldExpires, c.oldRevoked, h, -1)
	}
	n.add(c.newExpires, c.newRevoked, h, 1)
}

// build counts every record of imm.
func (n *nameCounts) build(imm *iavl.ImmutableTree) {
	*n = nameCounts{height: imm.Version(), grace: n.grace, byExpiry: make(map[int64]int64)}
	prefix := bns.RecordKey("")
	imm.IterateRange(prefix, prefixEnd(prefix), true, func(k, v []byte) bool {
		if bytes.IndexByte(k[len(prefix):], 0) >= 0 {
			return false // a history entry: name, 0, u64 seq
		}
		rec, err := bns.UnmarshalRecord(v)
		if err != nil {
			panic("app: stored record: " + err.Error())
		}
		n.add(rec.ExpiresAt, rec.Revoked, n.height, 1)
		return false
	})
}
