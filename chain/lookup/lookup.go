// Package lookup answers name-chain queries that a client can trust without
// trusting the node it asks: every answer is checked with an ICS23 proof
// against an app hash taken from a header that CometBFT's light client has
// verified (by validator signatures, from a trusted height and hash).
//
// A query is made at height H-1, where H is the latest verified header: the
// app hash of the state after block H-1 is in the header of block H.
// The client verifies a newer header at most once per [Config.MaxAge], and
// the newest one a witness already has (see [MaxWitnessLag]), so a lookup
// may be that much behind the chain's head; while one lookup verifies a
// newer header, others answer from the last one for up to [MaxStale] more.
//
// It owns the light client's trust (its header store and trust root) and
// the checking of every answer; it must not return an unverified answer as
// data, nor hold a lookup while it verifies a newer header unless the last
// verified one is older than MaxAge + MaxStale.
package lookup

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	"github.com/cometbft/cometbft/light"
	"github.com/cometbft/cometbft/light/provider"
	lighthttp "github.com/cometbft/cometbft/light/provider/http"
	"github.com/cometbft/cometbft/light/store"
	lightdb "github.com/cometbft/cometbft/light/store/db"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	coretypes "github.com/cometbft/cometbft/rpc/core/types"
	jsonrpcclient "github.com/cometbft/cometbft/rpc/jsonrpc/client"
	"github.com/cometbft/cometbft/types"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/proof"
)

// Errors. Refusals by the chain are *bns.CodeError.
var (
	// ErrNotFound: the name (or key) is proved absent.
	ErrNotFound = errors.New("lookup: not found")
	// ErrUnverified: an answer failed verification; the node is wrong or
	// lying. Never shown to a user as data.
	ErrUnverified = errors.New("lookup: answer failed verification")
	// ErrUnreachable: no configured node answered (no connection, a
	// timeout): nothing was learned, nothing was refused.
	ErrUnreachable = errors.New("lookup: no chain node answers")
	// ErrTooLarge: a node answered more than the client reads (see
	// Config.MaxAnswerBytes and MaxHistory); the answer was dropped
	// unread.
	ErrTooLarge = errors.New("lookup: answer too large")
	// ErrTrustExpired: the newest header this client verified is older
	// than the trusting period, so the validators that signed it may have
	// left and signed anything since. The client never falls back to
	// trusting a node: a recent header must be pinned again (out of band).
	ErrTrustExpired = errors.New("lookup: the trusted header is older than the trusting period")
	// ErrRootPruned: the nodes no longer keep the trust root's block and
	// the header store holds nothing newer to verify from: a recent header
	// must be pinned again.
	ErrRootPruned = errors.New("lookup: the nodes no longer keep the trusted header's block")
	// ErrStale: the newest header the nodes let the client verify is
	// older than Config.MaxLag: they are behind, the chain has stopped,
	// or a node hides the blocks after it (and with them a key change or
	// a revocation). Nothing is answered from so old a state. A *StaleError
	// wraps it, and ErrUnreachable: as when no node answers, what the
	// caller holds serves reading, never a new write.
	ErrStale = errors.New("lookup: the chain state the nodes give is stale")
)

// StaleError reports a newest verified header older than Config.MaxLag.
type StaleError struct {
	Height int64
	Time   time.Time     // the header's time
	Lag    time.Duration // how far behind the client's clock it is
	Max    time.Duration // Config.MaxLag
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("the newest block the nodes give (height %d) is from %s, %s ago, more than the %s allowed: they are behind, the chain stopped, a node hides newer blocks, or this device's clock is wrong",
		e.Height, e.Time.UTC().Format(time.RFC3339), e.Lag.Round(time.Second), e.Max)
}

func (e *StaleError) Unwrap() []error { return []error{ErrStale, ErrUnreachable} }

// Defaults and bounds.
const (
	// DefaultTrustPeriod is the trusting period when Config has none.
	DefaultTrustPeriod = 168 * time.Hour
	// DefaultMaxAnswerBytes bounds the HTTP body of every node answer.
	DefaultMaxAnswerBytes = 4 << 20
	// MaxHistory is the longest key history History reads (entries).
	MaxHistory = 1000
	// maxValueBytes bounds a proven query's value: a record, a nonce, an
	// owner's names, the params.
	maxValueBytes = 64 << 10
	// MaxWitnessLag is how many blocks a witness may be behind the node
	// that answers queries and still cross-check its headers: the client
	// verifies the newest header a witness has, so a lookup may be that
	// much older than the chain's head.
	MaxWitnessLag = 10
	// StoreHeaders is how many verified headers the header store keeps;
	// older ones are pruned after each update.
	StoreHeaders = 32
	// DefaultMaxLag is how far behind the client's clock the newest
	// verified header may be when Config has no MaxLag: a chain makes a
	// block every second or so, empty ones included, so a header this
	// old means the nodes hold back what came after it.
	DefaultMaxLag = 10 * time.Minute
)

// Config configures a Client.
type Config struct {
	// ChainID the client expects.
	ChainID string
	// Primary is the RPC URL of the node that answers queries.
	Primary string
	// Witnesses are RPC URLs of other nodes the light client cross-checks
	// headers with. With none, the primary is its own witness: acceptable
	// for a one-node development network only.
	Witnesses []string
	// TrustHeight and TrustHash are the trust root: a header known (from
	// out of band) to be on the chain. If TrustHeight is 0 and the header
	// store is empty, the root is taken on first use from the primary;
	// TrustRoot reports it so it can be shown and pinned. A root newer
	// than the store's newest header replaces the store (a re-pin).
	TrustHeight int64
	TrustHash   []byte
	// TrustPeriod bounds how old the newest verified header may be
	// (default DefaultTrustPeriod).
	TrustPeriod time.Duration
	// MaxAge is how long a verified latest header is reused before the
	// light client is asked for a newer one (default 1s). While another
	// lookup verifies a newer one, a lookup answers from the last header
	// if it was verified less than MaxAge + MaxStale ago; never from an
	// older one, and never from one that misses a transaction this
	// client committed.
	MaxAge time.Duration
	// MaxLag bounds how far behind Now the newest header the nodes let
	// the client verify may be (default DefaultMaxLag): an older one is
	// refused with a *StaleError, so a node that holds back newer blocks
	// hides a change (a revocation, new keys) for at most that long. A
	// negative MaxLag accepts any (for looking at a stopped chain).
	MaxLag time.Duration
	// StoreDir keeps verified headers on disk (a goleveldb database,
	// "light.db", holding the newest StoreHeaders), so the next New
	// verifies forward from the newest of them, however long ago and
	// however much the nodes pruned since, as long as it is within the
	// trusting period. Empty keeps them in memory. One process at a time.
	StoreDir string
	// MaxAnswerBytes bounds the HTTP body of every answer from a node
	// (default DefaultMaxAnswerBytes); a longer one is dropped with
	// ErrTooLarge.
	MaxAnswerBytes int64
	// Now is the clock the trusting period, MaxLag and the age of the
	// verified header (MaxAge, MaxStale) are measured with (default
	// time.Now, whose monotonic reading keeps ages true when the wall
	// clock is set); a header that seems verified in the future (a clock
	// set back) counts as too old to reuse.
	Now func() time.Time
	// OnWait, if set, is called once when New finds a chain that has no
	// block yet and waits for its first one (to tell a person why).
	OnWait func()
	// Logger for the light client; nil discards.
	Logger cmtlog.Logger
}

// Client makes verified queries.
type Client struct {
	cfg       Config
	nodes     []*rpchttp.HTTP     // every configured node; cur answers queries
	providers []provider.Provider // the light client's view of each node
	urls      []string
	cur       int
	store     store.Store // verified headers
	opts      []light.Option
	db        dbm.DB

	upd     sync.Mutex        // held by the one update of the latest header at a time
	mu      sync.Mutex        // guards what follows and cur
	backoff map[int]time.Time // nodes left out of surveys until then
	latest  *types.LightBlock
	fetched time.Time
	seen    int64 // highest height whose state this client must read (its own commits, the head at a Submit)
	params  *bns.Params
	rootH   int64
	rootK   []byte
	closed  bool
}

// New connects to the nodes and establishes the trust root (the first
// lookup verifies the newest header from it). If the primary does not answer, the next configured node
// (the witnesses, in order) takes its place; witnesses that do not answer
// or are still catching up are left out of the cross-checks. A node that
// answers is never replaced because of what it answered: a verdict (a
// refused header, a wrong chain) is returned, not retried elsewhere.
//
// With a header store (Config.StoreDir) that holds headers, the light
// client starts from the newest of them; otherwise from the configured
// trust root (or, with none, the primary's latest header). It fails with
// ErrUnreachable if no node answers, ErrTrustExpired if the newest header
// it holds is past the trusting period, ErrRootPruned if the nodes no
// longer keep the root it must start from.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.TrustPeriod == 0 {
		cfg.TrustPeriod = DefaultTrustPeriod
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = time.Second
	}
	if cfg.MaxLag == 0 {
		cfg.MaxLag = DefaultMaxLag
	}
	if cfg.MaxAnswerBytes == 0 {
		cfg.MaxAnswerBytes = DefaultMaxAnswerBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = cmtlog.NewNopLogger()
	}
	c := &Client{cfg: cfg, urls: append([]string{cfg.Primary}, cfg.Witnesses...), backoff: make(map[int]time.Time)}
	for _, u := range c.urls {
		rpc, err := dialNode(u, cfg.MaxAnswerBytes)
		if err != nil {
			return nil, fmt.Errorf("lookup: node %q: %w", u, err)
		}
		c.nodes = append(c.nodes, rpc)
		c.providers = append(c.providers, lighthttp.NewWithClient(cfg.ChainID, rpc))
	}
	live, err := c.survey(ctx)
	if err != nil {
		return nil, err
	}
	c.cur = live[0].node
	earliest := live[0].earliest // the oldest block the node that answers queries keeps

	if cfg.StoreDir == "" {
		c.db = dbm.NewMemDB()
	} else if c.db, err = dbm.NewDB("light", dbm.GoLevelDBBackend, cfg.StoreDir); err != nil {
		return nil, fmt.Errorf("lookup: header store: %w", err)
	}
	c.store = lightdb.New(c.db, cfg.ChainID)
	fail := func(err error) (*Client, error) {
		c.db.Close()
		return nil, err
	}
	last, err := c.store.LastLightBlockHeight()
	if err != nil {
		return fail(fmt.Errorf("lookup: header store: %w", err))
	}
	if last > 0 && cfg.TrustHeight > last {
		// A root newer than anything verified: the store starts over from it.
		if err := c.store.Prune(0); err != nil {
			return fail(fmt.Errorf("lookup: header store: %w", err))
		}
		last = -1
	}
	c.opts = []light.Option{light.Logger(cfg.Logger), light.MaxRetryAttempts(3), light.PruningSize(StoreHeaders)}

	if last > 0 {
		// Verify forward from the newest header verified before.
		lb, err := c.store.LightBlock(last)
		if err != nil {
			return fail(fmt.Errorf("lookup: header store: %w", err))
		}
		if cfg.TrustHeight > 0 {
			if root, err := c.store.LightBlock(cfg.TrustHeight); err == nil && !bytes.Equal(root.Hash(), cfg.TrustHash) {
				return fail(fmt.Errorf("lookup: the header store holds another header at height %d than the trust root %X", cfg.TrustHeight, cfg.TrustHash))
			}
		}
		if end := lb.Time.Add(cfg.TrustPeriod); !end.After(cfg.Now()) {
			return fail(fmt.Errorf("%w: the newest header this client verified (height %d, %s) expired at %s (trusting period %s)",
				ErrTrustExpired, lb.Height, lb.Time.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), cfg.TrustPeriod))
		}
		c.rootH, c.rootK = cfg.TrustHeight, bytes.Clone(cfg.TrustHash)
		if c.rootH == 0 {
			c.rootH, c.rootK = lb.Height, lb.Hash()
		}
		return c, nil
	}

	if cfg.TrustHeight == 0 {
		// Trust on first use: a commit of the primary's, once there is
		// one, at the newest height a witness also has, so that the
		// witnesses can cross-check it at once.
		if live, err = waitFirstBlock(ctx, c, live); err != nil {
			return fail(fmt.Errorf("lookup: fetch trust root from %s: %w", c.urls[c.cur], err))
		}
		h, err := c.target(live)
		if err != nil {
			return fail(err)
		}
		res, err := c.nodes[live[0].node].Commit(ctx, &h)
		if err != nil || res.SignedHeader.Header == nil || res.SignedHeader.Commit == nil {
			if err == nil {
				err = fmt.Errorf("no commit at height %d", h)
			}
			return fail(fmt.Errorf("lookup: fetch trust root from %s: %w", c.urls[live[0].node], err))
		}
		if res.ChainID != cfg.ChainID {
			return fail(fmt.Errorf("lookup: node %s is on chain %q, want %q", c.urls[live[0].node], res.ChainID, cfg.ChainID))
		}
		cfg.TrustHeight, cfg.TrustHash = res.Height, res.Hash()
	} else if cfg.TrustHeight < earliest {
		return fail(fmt.Errorf("%w: %s keeps blocks from height %d on, the trust root is at height %d", ErrRootPruned, c.urls[c.cur], earliest, cfg.TrustHeight))
	}
	c.rootH, c.rootK = cfg.TrustHeight, bytes.Clone(cfg.TrustHash)
	primary, witnesses := c.lightProviders(live, cfg.TrustHeight)
	if _, err = light.NewClient(ctx, cfg.ChainID,
		light.TrustOptions{Period: cfg.TrustPeriod, Height: cfg.TrustHeight, Hash: cfg.TrustHash},
		primary, witnesses, c.store, c.opts...); err != nil {
		return fail(fmt.Errorf("lookup: light client: %w", err))
	}
	return c, nil
}

// nodeStatus is what a node that answers says of itself.
type nodeStatus struct {
	node             int // index in c.nodes
	height, earliest int64
}

// surveyTimeout bounds how long survey waits for a node's status: a node
// that hangs (stopped, overloaded) is left out of that update instead of
// holding it for the RPC client's 15 s.
const surveyTimeout = 3 * time.Second

// surveyBackoff is how long a node that gave no status within
// surveyTimeout is left out of surveys.
const surveyBackoff = 10 * time.Second

// survey asks every configured node for its status at once and returns
// those that answer and have caught up, the node that answers queries (or,
// if it does not, the next one in order) first. It fails with
// ErrUnreachable if none does, or if witnesses are configured and none of
// them does (nothing could cross-check the first), and with the node's
// error if one answers with an error.
func (c *Client) survey(ctx context.Context) ([]nodeStatus, error) {
	c.mu.Lock()
	start := c.cur
	c.mu.Unlock()
	type answer struct {
		i   int
		st  *coretypes.ResultStatus
		err error
	}
	answers := make([]*answer, len(c.nodes))
	ch := make(chan answer, len(c.nodes))
	sctx, cancel := context.WithTimeout(ctx, surveyTimeout)
	defer cancel()
	// A node that gave no status in time before is left alone for
	// surveyBackoff (a paused or hung node would cost every update
	// surveyTimeout), unless nothing else could serve.
	c.mu.Lock()
	skip := make([]bool, len(c.nodes))
	asking := 0
	for i := range c.nodes {
		if skip[i] = time.Now().Before(c.backoff[i]); !skip[i] {
			asking++
		}
	}
	c.mu.Unlock()
	if asking < min(2, len(c.nodes)) {
		clear(skip)
	}
	asked := 0
	for i, n := range c.nodes {
		if skip[i] {
			answers[i] = &answer{i: i, err: fmt.Errorf("%w: gave no status within %v lately", ErrUnreachable, surveyTimeout)}
			continue
		}
		asked++
		go func() {
			st, err := n.Status(sctx)
			ch <- answer{i, st, err}
		}()
	}
wait:
	for got := asked; got > 0; got-- {
		select {
		case a := <-ch:
			answers[a.i] = &a
		case <-sctx.Done():
			break wait
		}
	}
	c.mu.Lock()
	for i, a := range answers {
		switch {
		case a == nil, a.err != nil && sctx.Err() != nil && ctx.Err() == nil && !skip[i]:
			answers[i] = &answer{i: i, err: fmt.Errorf("%w: no status in %v", ErrUnreachable, surveyTimeout)}
			c.backoff[i] = time.Now().Add(surveyBackoff)
		case a.err == nil:
			delete(c.backoff, i)
		}
	}
	c.mu.Unlock()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var (
		live []nodeStatus
		down []error
	)
	for k := range c.nodes {
		i := (start + k) % len(c.nodes)
		a, u := *answers[i], c.urls[i]
		switch {
		case a.err != nil && !unreachable(a.err):
			return nil, fmt.Errorf("lookup: status of %s: %w", u, a.err)
		case a.err != nil:
			down = append(down, fmt.Errorf("%s: %w", u, a.err))
		case a.st.SyncInfo.CatchingUp:
			down = append(down, fmt.Errorf("%s is catching up", u))
		default:
			live = append(live, nodeStatus{node: i, height: a.st.SyncInfo.LatestBlockHeight, earliest: a.st.SyncInfo.EarliestBlockHeight})
		}
	}
	if len(live) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, errors.Join(down...))
	}
	if len(c.cfg.Witnesses) > 0 && len(live) < 2 {
		return nil, fmt.Errorf("%w: no witness answers to cross-check %s with: %w", ErrUnreachable, c.urls[live[0].node], errors.Join(down...))
	}
	return live, nil
}

// target is the newest height whose header the first node in live (the
// primary) has and at least one other (a witness) has too. CometBFT's
// light client cross-checks a header with every witness it is given, and
// one that does not have the header yet makes it wait 2 x max_clock_drift
// + max_block_lag (30 s) for it, then fail: under load, witnesses are often
// a block or two behind the node asked. So the header verified is one a
// witness already has, and the witnesses further behind sit this check out
// (lightProviders), as New leaves out nodes still catching up. It fails
// with ErrUnreachable if every witness is more than MaxWitnessLag blocks
// behind the primary: none can vouch for its recent headers. With no
// witness configured, the primary is its own.
func (c *Client) target(live []nodeStatus) (int64, error) {
	primary := live[0]
	if len(live) == 1 {
		return primary.height, nil
	}
	var best int64
	for _, w := range live[1:] {
		best = max(best, w.height)
	}
	if primary.height-best > MaxWitnessLag {
		return 0, fmt.Errorf("%w: the witnesses are %d blocks behind %s (at height %d), more than %d: none can cross-check its headers",
			ErrUnreachable, primary.height-best, c.urls[primary.node], primary.height, MaxWitnessLag)
	}
	return min(primary.height, best), nil
}

// lightProviders returns the light client's primary and witnesses for a
// header at height h (see target).
func (c *Client) lightProviders(live []nodeStatus, h int64) (provider.Provider, []provider.Provider) {
	primary := c.providers[live[0].node]
	var ws []provider.Provider
	for _, w := range live[1:] {
		if w.height >= h {
			ws = append(ws, c.providers[w.node])
		}
	}
	if len(ws) == 0 {
		ws = []provider.Provider{primary}
	}
	return primary, ws
}

// waitFirstBlock returns live once the chain has a block that the primary
// and a witness both have, surveying again every 100 ms and calling
// cfg.OnWait once if it has to wait.
func waitFirstBlock(ctx context.Context, c *Client, live []nodeStatus) ([]nodeStatus, error) {
	for waited := false; ; waited = true {
		if h, err := c.target(live); err != nil {
			return nil, err
		} else if h > 0 {
			return live, nil
		}
		if !waited && c.cfg.OnWait != nil {
			c.cfg.OnWait()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the chain's first block: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		var err error
		if live, err = c.survey(ctx); err != nil {
			return nil, err
		}
	}
}

// dialNode makes the RPC client of the node at u: every answer's body is
// read through a limit of max bytes.
func dialNode(u string, max int64) (*rpchttp.HTTP, error) {
	hc, err := jsonrpcclient.DefaultHTTPClient(u)
	if err != nil {
		return nil, err
	}
	hc.Timeout = 15 * time.Second
	hc.Transport = &limitTransport{base: hc.Transport, max: max}
	return rpchttp.NewWithClient(u, "/websocket", hc)
}

// limitTransport reads every answer's body through a limit.
type limitTransport struct {
	base http.RoundTripper
	max  int64
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if res.ContentLength > t.max {
		res.Body.Close()
		return nil, fmt.Errorf("%w: %s announced %d bytes, more than %d", ErrTooLarge, req.URL.Host, res.ContentLength, t.max)
	}
	res.Body = &limitedBody{rc: res.Body, left: t.max, max: t.max, host: req.URL.Host}
	return res, nil
}

// limitedBody fails once more than max bytes were read.
type limitedBody struct {
	rc        io.ReadCloser
	left, max int64
	host      string
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte // one byte more tells a body of exactly max from a longer one
		if n, err := b.rc.Read(one[:]); n == 0 {
			return 0, err
		}
		return 0, fmt.Errorf("%w: %s answered more than %d bytes", ErrTooLarge, b.host, b.max)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// rpc runs call against the node that answers queries; if that node does
// not answer (a transport error, not a refusal), the other configured
// nodes are tried in turn and the first that answers takes its place.
// Answers are verified by the caller whichever node gave them.
func (c *Client) rpc(ctx context.Context, call func(*rpchttp.HTTP) error) error {
	c.mu.Lock()
	start := c.cur
	c.mu.Unlock()
	var firstErr error
	for k := range c.nodes {
		i := (start + k) % len(c.nodes)
		err := call(c.nodes[i])
		if err == nil || !unreachable(err) || ctx.Err() != nil {
			if err == nil && i != start {
				c.mu.Lock()
				c.cur = i
				c.mu.Unlock()
			}
			return err
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, firstErr)
}

// unreachable tells a node that did not answer from one that did.
func unreachable(err error) bool {
	if err == nil || errors.Is(err, ErrTooLarge) {
		return false
	}
	if errors.Is(err, ErrUnreachable) {
		return true
	}
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &oe) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "connection reset")
}

// Close releases the header store; closing again does nothing.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.db.Close()
}

// TrustRoot returns the height and header hash the client trusts from.
func (c *Client) TrustRoot() (int64, []byte) { return c.rootH, bytes.Clone(c.rootK) }

// ChainID returns the chain the client verifies.
func (c *Client) ChainID() string { return c.cfg.ChainID }

// Latest returns the latest verified light block, refreshing it if it is
// older than MaxAge. It waits until the chain has at least two blocks and
// until the state it vouches for includes every transaction this client
// broadcast (read your writes). A block older than MaxLag is refused
// (*StaleError).
func (c *Client) Latest(ctx context.Context) (*types.LightBlock, error) {
	lb, err := c.latestHeader(ctx, false)
	if err != nil {
		return nil, err
	}
	if lag := c.cfg.Now().Sub(lb.Time); c.cfg.MaxLag > 0 && lag > c.cfg.MaxLag {
		return nil, fmt.Errorf("lookup: %w", &StaleError{Height: lb.Height, Time: lb.Time, Lag: lag, Max: c.cfg.MaxLag})
	}
	return lb, nil
}

// Height returns the height of the latest verified header, as Latest
// does: every Lookup answers for the same state until it changes.
func (c *Client) Height(ctx context.Context) (int64, error) {
	lb, err := c.Latest(ctx)
	if err != nil {
		return 0, err
	}
	return lb.Height, nil
}

// latestHeader is Latest; fresh ignores MaxAge, to learn the head now.
// One update runs at a time; queries go on meanwhile: a lookup that finds
// an update under way answers from the last verified header if it was
// verified less than MaxAge + MaxStale ago, and waits for the update
// otherwise. Either way the header includes this client's own commits.
func (c *Client) latestHeader(ctx context.Context, fresh bool) (*types.LightBlock, error) {
	c.mu.Lock()
	lb, age := c.latest, c.cfg.Now().Sub(c.fetched)
	usable := !fresh && lb != nil && lb.Height > c.seen
	c.mu.Unlock()
	// A negative age (a clock set back since) counts as too old.
	switch {
	case usable && age >= 0 && age < c.cfg.MaxAge:
		return lb, nil
	case usable && age >= 0 && age < c.cfg.MaxAge+MaxStale:
		if !c.upd.TryLock() {
			// Another lookup is verifying a newer header: this one goes
			// on with the last, rather than wait for the update.
			return lb, nil
		}
	default:
		c.upd.Lock()
	}
	defer c.upd.Unlock()
	c.mu.Lock()
	if age := c.cfg.Now().Sub(c.fetched); !fresh && c.latest != nil && age >= 0 && age < c.cfg.MaxAge && c.latest.Height > c.seen {
		lb := c.latest // verified while this one waited
		c.mu.Unlock()
		return lb, nil
	}
	c.mu.Unlock()
	for failures := 0; ; {
		lb, err := c.update(ctx)
		switch {
		case err == nil:
			failures = 0
		case !transient(err) || failures >= maxUpdateRetries:
			return nil, err
		default:
			// A node that did not answer in time or dropped a connection,
			// a witness that fell behind meanwhile: survey the nodes again.
			failures++
		}
		if lb != nil && lb.Height >= 2 {
			c.mu.Lock()
			if lb.Height > c.seen {
				c.latest, c.fetched = lb, c.cfg.Now()
				c.mu.Unlock()
				return lb, nil
			}
			c.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// maxUpdateRetries is how many times in a row an update may fail for want
// of an answer before the error is returned.
const maxUpdateRetries = 3

// MaxStale is how much older than Config.MaxAge a verified header may be
// and still answer a lookup while another lookup of the same client
// verifies a newer header (a loaded witness can make an update take
// seconds). No lookup answers from a header verified longer ago.
const MaxStale = 5 * time.Second

// update verifies the newest header that the node answering queries and at
// least one witness both have (see target), with a light client made for
// this update from the header store: the nodes that answer now are its
// primary and witnesses, so a node that failed once is not dropped for
// good (CometBFT's light client removes a witness that errs, and then
// fails every update once none is left). It returns the newest verified
// header.
func (c *Client) update(ctx context.Context) (*types.LightBlock, error) {
	live, err := c.survey(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.cur = live[0].node
	c.mu.Unlock()
	last, err := c.store.LastLightBlockHeight()
	if err != nil {
		return nil, fmt.Errorf("lookup: header store: %w", err)
	}
	h, err := c.target(live)
	if err != nil {
		return nil, err
	}
	if h <= last {
		// Nothing newer to verify: the newest verified header stands, as
		// long as it is within the trusting period.
		lb, err := c.store.LightBlock(last)
		if err != nil {
			return nil, fmt.Errorf("lookup: header store: %w", err)
		}
		if end := lb.Time.Add(c.cfg.TrustPeriod); !end.After(c.cfg.Now()) {
			return nil, fmt.Errorf("%w: the newest header this client verified (height %d) expired at %s (trusting period %s)",
				ErrTrustExpired, lb.Height, end.UTC().Format(time.RFC3339), c.cfg.TrustPeriod)
		}
		return lb, nil
	}
	primary, witnesses := c.lightProviders(live, h)
	lc, err := light.NewClientFromTrustedStore(c.cfg.ChainID, c.cfg.TrustPeriod, primary, witnesses, c.store, c.opts...)
	if err != nil {
		return nil, fmt.Errorf("lookup: light client: %w", err)
	}
	lb, err := lc.VerifyLightBlockAtHeight(ctx, h, c.cfg.Now())
	if err != nil {
		var expired light.ErrOldHeaderExpired
		switch {
		case errors.As(err, &expired):
			return nil, fmt.Errorf("%w: the newest header this client verified expired at %s (trusting period %s)",
				ErrTrustExpired, expired.At.UTC().Format(time.RFC3339), c.cfg.TrustPeriod)
		case unreachable(err):
			return nil, fmt.Errorf("%w: verify header %d: %w", ErrUnreachable, h, err)
		}
		return nil, fmt.Errorf("lookup: verify header %d: %w", h, err)
	}
	return lb, nil
}

// transient tells an update that failed for want of an answer (which the
// next survey may find) from a verdict on what was answered.
func transient(err error) bool {
	return errors.Is(err, ErrUnreachable) || errors.Is(err, light.ErrNoWitnesses) ||
		errors.Is(err, light.ErrFailedHeaderCrossReferencing) || errors.Is(err, provider.ErrNoResponse) ||
		errors.Is(err, provider.ErrHeightTooHigh) || errors.Is(err, provider.ErrLightBlockNotFound)
}

// Answer is a verified query answer.
type Answer struct {
	Value  []byte // nil when the key is proved absent
	Height int64  // the state height the answer is about
}

// Query asks path with data at the latest verified height and checks that
// the answer proves key (present or absent) against the verified app hash.
func (c *Client) Query(ctx context.Context, path string, data, key []byte) (*Answer, error) {
	lb, err := c.Latest(ctx)
	if err != nil {
		return nil, err
	}
	h := lb.Height - 1
	var res *coretypes.ResultABCIQuery
	err = c.rpc(ctx, func(n *rpchttp.HTTP) (err error) {
		res, err = n.ABCIQueryWithOptions(ctx, path, data, rpcclient.ABCIQueryOptions{Height: h, Prove: true})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lookup: query %s: %w", path, err)
	}
	r := res.Response
	if r.Code != 0 {
		return nil, &bns.CodeError{Code: bns.Code(r.Code), Msg: r.Log}
	}
	if len(r.Value) > maxValueBytes {
		return nil, fmt.Errorf("%w: the value of %s is %d bytes, more than %d", ErrTooLarge, path, len(r.Value), maxValueBytes)
	}
	if r.Height != h {
		return nil, fmt.Errorf("%w: asked for height %d, answered for %d", ErrUnverified, h, r.Height)
	}
	if !bytes.Equal(r.Key, key) {
		return nil, fmt.Errorf("%w: asked for key %x, answered for %x", ErrUnverified, key, r.Key)
	}
	if len(r.Value) == 0 {
		if err := proof.VerifyAbsence(r.ProofOps, lb.AppHash, key); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnverified, err)
		}
		return &Answer{Height: h}, nil
	}
	if err := proof.VerifyValue(r.ProofOps, lb.AppHash, key, r.Value); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnverified, err)
	}
	return &Answer{Value: r.Value, Height: h}, nil
}

// Lookup returns the verified record of name, or ErrNotFound if the chain
// proves no record exists. The record may be expired or revoked: check
// Record.Live.
func (c *Client) Lookup(ctx context.Context, name string) (*bns.Record, error) {
	rec, _, err := c.lookup(ctx, name)
	return rec, err
}

func (c *Client) lookup(ctx context.Context, name string) (*bns.Record, int64, error) {
	if err := bns.ValidateName(name); err != nil {
		return nil, 0, err
	}
	a, err := c.Query(ctx, bns.QueryName, []byte(name), bns.RecordKey(name))
	if err != nil {
		return nil, 0, err
	}
	if a.Value == nil {
		return nil, a.Height, fmt.Errorf("%w: name %q (proved absent at height %d)", ErrNotFound, name, a.Height)
	}
	rec, err := bns.UnmarshalRecord(a.Value)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrUnverified, err)
	}
	if rec.Name != name {
		return nil, 0, fmt.Errorf("%w: record for %q is named %q", ErrUnverified, name, rec.Name)
	}
	return rec, a.Height, nil
}

// History returns the verified record of name and its complete key
// history, checked against the record's history hash. A history longer
// than MaxHistory entries is not read (ErrTooLarge).
func (c *Client) History(ctx context.Context, name string) (*bns.Record, []*bns.HistoryEntry, error) {
	rec, entries, _, err := c.HistoryAt(ctx, name)
	return rec, entries, err
}

// HistoryAt is History, with the height of the state both were proved
// against.
func (c *Client) HistoryAt(ctx context.Context, name string) (*bns.Record, []*bns.HistoryEntry, int64, error) {
	rec, h, err := c.lookup(ctx, name)
	if err != nil {
		return nil, nil, 0, err
	}
	if rec.Seq > MaxHistory {
		return nil, nil, 0, fmt.Errorf("%w: the history of %q has %d entries, more than the %d this client reads", ErrTooLarge, name, rec.Seq, MaxHistory)
	}
	var res *coretypes.ResultABCIQuery
	err = c.rpc(ctx, func(n *rpchttp.HTTP) (err error) {
		res, err = n.ABCIQueryWithOptions(ctx, bns.QueryHistory, []byte(name), rpcclient.ABCIQueryOptions{Height: h})
		return err
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("lookup: history of %q: %w", name, err)
	}
	if res.Response.Code != 0 {
		return nil, nil, 0, &bns.CodeError{Code: bns.Code(res.Response.Code), Msg: res.Response.Log}
	}
	entries, err := bns.UnmarshalHistory(res.Response.Value)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%w: %v", ErrUnverified, err)
	}
	if err := bns.VerifyHistory(rec, entries); err != nil {
		return nil, nil, 0, fmt.Errorf("%w: %v", ErrUnverified, err)
	}
	return rec, entries, h, nil
}

// Nonce returns the verified next nonce of an account (0 if it never sent,
// or if its idle entry was pruned).
func (c *Client) Nonce(ctx context.Context, account bns.PublicKey) (uint64, error) {
	acct, err := c.account(ctx, bns.QueryNonce, account)
	if err != nil || acct == nil {
		return 0, err
	}
	return acct.Nonce, nil
}

// account returns the verified account entry of key, or nil if the chain
// proves it absent.
func (c *Client) account(ctx context.Context, path string, key bns.PublicKey) (*bns.Account, error) {
	a, err := c.Query(ctx, path, key[:], bns.AccountKey(key))
	if err != nil || a.Value == nil {
		return nil, err
	}
	acct, err := bns.UnmarshalAccount(a.Value)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnverified, err)
	}
	return acct, nil
}

// Names returns the verified list of names an owner key holds.
func (c *Client) Names(ctx context.Context, owner bns.PublicKey) ([]string, error) {
	acct, err := c.account(ctx, bns.QueryOwner, owner)
	if err != nil || acct == nil {
		return nil, err
	}
	return acct.Names, nil
}

// Params returns the verified genesis parameters. They never change, so
// the first answer is kept.
func (c *Client) Params(ctx context.Context) (bns.Params, error) {
	c.mu.Lock()
	p := c.params
	c.mu.Unlock()
	if p != nil {
		return *p, nil
	}
	a, err := c.Query(ctx, bns.QueryParams, nil, bns.ParamsKey)
	if err != nil {
		return bns.Params{}, err
	}
	if a.Value == nil {
		return bns.Params{}, fmt.Errorf("%w: chain has no params", ErrUnverified)
	}
	params, err := bns.UnmarshalParams(a.Value)
	if err != nil {
		return bns.Params{}, fmt.Errorf("%w: %v", ErrUnverified, err)
	}
	c.mu.Lock()
	c.params = &params
	c.mu.Unlock()
	return params, nil
}

// Broadcast submits a signed transaction and waits until it is committed in
// a block (or refused). A refusal is a *bns.CodeError. It returns the height
// of the block that holds the transaction.
func (c *Client) Broadcast(ctx context.Context, tx *bns.Tx) (int64, error) {
	var res *coretypes.ResultBroadcastTxCommit
	err := c.rpc(ctx, func(n *rpchttp.HTTP) (err error) {
		res, err = n.BroadcastTxCommit(ctx, tx.Marshal())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("lookup: broadcast %s: %w", tx.Type, err)
	}
	if res.CheckTx.Code != 0 {
		return 0, &bns.CodeError{Code: bns.Code(res.CheckTx.Code), Msg: res.CheckTx.Log}
	}
	c.mu.Lock()
	c.seen = max(c.seen, res.Height)
	c.mu.Unlock()
	if res.TxResult.Code != 0 {
		return res.Height, &bns.CodeError{Code: bns.Code(res.TxResult.Code), Msg: res.TxResult.Log}
	}
	return res.Height, nil
}

// HashString formats a header hash as CometBFT prints it.
func HashString(h []byte) string { return fmt.Sprintf("%X", h) }

// ParseHash parses a header hash in hex (either case).
func ParseHash(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("lookup: trust hash %q is not 64 hex digits", s)
	}
	return b, nil
}

// ChainIDOf asks a node which chain it is on. The answer is not verified:
// use it only to fill in a chain ID that the light client then checks.
func ChainIDOf(ctx context.Context, nodeURL string) (string, error) {
	rpc, err := dialNode(nodeURL, DefaultMaxAnswerBytes)
	if err != nil {
		return "", fmt.Errorf("lookup: %w", err)
	}
	st, err := rpc.Status(ctx)
	if unreachable(err) {
		return "", fmt.Errorf("%w: %s: %w", ErrUnreachable, nodeURL, err)
	}
	if err != nil {
		return "", fmt.Errorf("lookup: status of %s: %w", nodeURL, err)
	}
	return st.NodeInfo.Network, nil
}

// Submit fills in the account's verified next nonce and an expiry height
// (the verified head plus the chain's max_tx_ttl), signs tx for this chain
// with priv and broadcasts it (see Broadcast).
//
// The nonce is read from the state after the newest block the light client
// verifies when Submit starts, so a transaction that another process (an
// earlier command) committed just before is counted: Submit may wait a
// block for that. That state lags the node's by a block or two: a nonce
// the node refuses (bad_nonce: the key's transaction from elsewhere, or
// its idle account pruned, in a block since) is read again from a newer
// verified header and the transaction signed again, twice at most.
func (c *Client) Submit(ctx context.Context, priv ed25519.PrivateKey, tx *bns.Tx) (int64, error) {
	for tries := 1; ; tries++ {
		h, err := c.submitOnce(ctx, priv, tx)
		var ce *bns.CodeError
		if tries < 3 && errors.As(err, &ce) && ce.Code == bns.CodeBadNonce && h == 0 {
			continue // submitOnce saw its head: the next waits for a newer one
		}
		return h, err
	}
}

func (c *Client) submitOnce(ctx context.Context, priv ed25519.PrivateKey, tx *bns.Tx) (int64, error) {
	params, err := c.Params(ctx)
	if err != nil {
		return 0, err
	}
	head, err := c.latestHeader(ctx, true)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.seen = max(c.seen, head.Height)
	c.mu.Unlock()
	n, err := c.Nonce(ctx, bns.PublicKeyOf(priv))
	if err != nil {
		return 0, err
	}
	tx.Nonce = n
	tx.ExpiresAt = head.Height + params.MaxTxTTL
	tx.Sign(c.cfg.ChainID, priv)
	return c.Broadcast(ctx, tx)
}

// Preorder commits priv's key to name with salt (the first step of a
// registration), with the proof-of-work stamp the chain asks of a
// preorder, and returns the height of the block that holds it, which the
// register must name. Keep salt secret until Register.
func (c *Client) Preorder(ctx context.Context, priv ed25519.PrivateKey, name string, salt [32]byte) (int64, error) {
	if err := bns.ValidateName(name); err != nil {
		return 0, err
	}
	params, err := c.Params(ctx)
	if err != nil {
		return 0, err
	}
	owner := bns.PublicKeyOf(priv)
	commitment := bns.PreorderCommitment(c.cfg.ChainID, name, salt, owner)
	stamp, err := bns.SolvePreorderPow(ctx, c.cfg.ChainID, commitment, owner, params.PreorderPowDifficulty)
	if err != nil {
		return 0, err
	}
	return c.Submit(ctx, priv, &bns.Tx{Type: bns.TxPreorder, Commitment: commitment, PowNonce: stamp})
}

// Register reveals a preorder made at preorderHeight: it solves the
// proof-of-work stamp at the chain's difficulty, waits until the preorder
// is min_preorder_age blocks old, and submits the register with profile.
// It returns once the name is provable to any reader: the light client
// verified a header above the register's block and the record proved
// there names priv's key. The preorder expires preorder_ttl blocks after
// it was made.
func (c *Client) Register(ctx context.Context, priv ed25519.PrivateKey, name string, salt [32]byte, preorderHeight int64, profile bns.Profile) (int64, error) {
	// Read state that includes the preorder (and the nonce it used), even
	// in a process that did not send it (a resumed registration).
	c.mu.Lock()
	c.seen = max(c.seen, preorderHeight)
	c.mu.Unlock()
	params, err := c.Params(ctx)
	if err != nil {
		return 0, err
	}
	owner := bns.PublicKeyOf(priv)
	stamp, err := bns.SolvePow(ctx, c.cfg.ChainID, name, owner, params.PowDifficulty)
	if err != nil {
		return 0, err
	}
	// The mempool checks a transaction as if in the block after the head.
	for {
		lb, err := c.latestHeader(ctx, true)
		if err != nil {
			return 0, err
		}
		if lb.Height+1 >= preorderHeight+params.MinPreorderAge {
			break
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	height, err := c.Submit(ctx, priv, &bns.Tx{Type: bns.TxRegister, Name: name, Salt: salt, PreorderHeight: preorderHeight, Profile: profile, PowNonce: stamp})
	if err != nil {
		return height, err
	}
	// Latest now waits for a header above height, as any reader's would.
	rec, err := c.Lookup(ctx, name)
	if err != nil {
		return height, err
	}
	if rec.Owner != owner {
		return height, fmt.Errorf("%w: the register of %q committed at height %d, but the chain proves owner %s", ErrUnverified, name, height, rec.Owner)
	}
	return height, nil
}

// Link returns the verified link offer of code: the device that asks to
// join, the height of its offer and the name that took it ("" until a
// device-add does), and the only name that may take it if it is bound
// (For). ErrNotFound if the chain proves no offer has this code (never
// made, or expired and swept). The offer (with the name it is bound to)
// is checked to hash to code.
func (c *Client) Link(ctx context.Context, code bns.LinkCode) (*bns.PendingOffer, error) {
	a, err := c.Query(ctx, bns.QueryLink, code[:], bns.OfferKey(code))
	if err != nil {
		return nil, err
	}
	if a.Value == nil {
		return nil, fmt.Errorf("%w: no link offer with this code (proved absent at height %d)", ErrNotFound, a.Height)
	}
	off, err := bns.UnmarshalPendingOffer(a.Value)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnverified, err)
	}
	if !off.CheckCode(c.cfg.ChainID, code) {
		return nil, fmt.Errorf("%w: the offer stored under a link code does not hash to it", ErrUnverified)
	}
	return off, nil
}

// OfferDevice submits a link offer of dev, signed by priv, which must be
// dev's signing key (a new device's own key), with the stamp the chain
// asks of an offer. It returns the offer's code and the height of the
// block that holds it.
func (c *Client) OfferDevice(ctx context.Context, priv ed25519.PrivateKey, dev bns.Device) (bns.LinkCode, int64, error) {
	return c.OfferDeviceFor(ctx, priv, dev, "")
}

// OfferDeviceFor is OfferDevice bound to name (a link-offer-for): the
// chain lets no other name take it, and its code commits to the name.
// name "" is OfferDevice.
func (c *Client) OfferDeviceFor(ctx context.Context, priv ed25519.PrivateKey, dev bns.Device, name string) (bns.LinkCode, int64, error) {
	if name != "" {
		if err := bns.ValidateName(name); err != nil {
			return bns.LinkCode{}, 0, err
		}
	}
	if err := dev.ValidateOffer(); err != nil {
		return bns.LinkCode{}, 0, err
	}
	if bns.PublicKeyOf(priv) != dev.SigningKey {
		return bns.LinkCode{}, 0, fmt.Errorf("lookup: an offer is signed by the key it offers")
	}
	params, err := c.Params(ctx)
	if err != nil {
		return bns.LinkCode{}, 0, err
	}
	dev.AddedAt = 0
	off := bns.PendingOffer{Device: dev, For: name}
	code := off.Code(c.cfg.ChainID)
	stamp, err := bns.SolveOfferPow(ctx, c.cfg.ChainID, code, dev.SigningKey, params.PreorderPowDifficulty)
	if err != nil {
		return bns.LinkCode{}, 0, err
	}
	tx := &bns.Tx{Type: bns.TxLinkOffer, Offer: dev, PowNonce: stamp}
	if name != "" {
		tx.Type, tx.Name = bns.TxLinkOfferFor, name
	}
	h, err := c.Submit(ctx, priv, tx)
	return code, h, err
}

// AddDevice submits a device-add of the offer of code to name, signed by
// priv (the owner key or a device the record lists), and returns the
// height of its block.
func (c *Client) AddDevice(ctx context.Context, priv ed25519.PrivateKey, name string, code bns.LinkCode) (int64, error) {
	return c.Submit(ctx, priv, &bns.Tx{Type: bns.TxDeviceAdd, Name: name, Code: code})
}

// RemoveDevice submits a device-remove of the device whose signing key is
// device from name, signed by priv (the owner key or a device the record
// lists), and returns the height of its block.
func (c *Client) RemoveDevice(ctx context.Context, priv ed25519.PrivateKey, name string, device bns.PublicKey) (int64, error) {
	return c.Submit(ctx, priv, &bns.Tx{Type: bns.TxDeviceRemove, Name: name, DeviceKey: device})
}
