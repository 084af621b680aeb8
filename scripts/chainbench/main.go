// Command chainbench measures the name chain on a real 4-validator
// testnet of bnsd processes on 127.0.0.1, next to CometBFT's stock kvstore
// application on the same testnet configuration, in the same run:
//
//   - committed registrations per second (register transactions whose
//     preorders were committed beforehand), against kvstore transactions
//     of the same size;
//   - the CPU time (user and system, from /proc) the validators and the
//     load generator spend per committed transaction in each run: unlike
//     the rates, it hardly moves with other work on the machine, so the
//     ratio of these costs is the load-independent figure;
//   - verified lookups per second, with p50 and p99 latency (each lookup is
//     an ABCI query with an ICS23 proof checked against a header verified
//     by the light client).
//
// It prints a Markdown table for docs/benchmarks.md, with the machine's
// load average before and after (other work on the machine shifts both
// rates; compare them only within one run).
//
// The kvstore nodes are this program itself, started again with the hidden
// flag -kvstore-node: the baseline runs CometBFT's node code and
// configuration exactly as bnsd does, without bnsd carrying a benchmark
// mode. With -cpuprofile FILE, node0 of the name chain serves CometBFT's
// pprof endpoint and CPU profiles of it during the registration load are
// written to FILE.1, FILE.2, ... (`go tool pprof -top FILE.*`).
//
// It measures only: it must not be used to run a chain (its kvstore nodes
// serve its own baseline), and its figures are for docs/benchmarks.md,
// never asserted in tests.
package main

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/chain/node"
)

var (
	bnsdPath    = flag.String("bnsd", "bin/bnsd", "path to the bnsd binary")
	validators  = flag.Int("validators", 4, "validators in the testnet")
	txCount     = flag.Int("txs", 6000, "transactions per throughput run")
	blockTime   = flag.Duration("block-time", time.Second, "timeout_commit of the testnet")
	workers     = flag.Int("workers", 64, "concurrent submitters")
	mempoolSize = flag.Int("mempool", 50000, "mempool size (transactions) of every node")
	lookupDur   = flag.Duration("duration", 10*time.Second, "length of the lookup run")
	lookupConc  = flag.Int("lookup-workers", 8, "concurrent lookups")
	baseline    = flag.Bool("kvstore", true, "measure the stock kvstore first (the baseline of the ratio)")
	duringLoad  = flag.Bool("lookups-during-load", false, "run the lookups while the registrations are submitted and committed, not after")
	cpuProfile  = flag.String("cpuprofile", "", "write CPU profiles of the name chain's node0 during the registration load to FILE.1, FILE.2, ...")
	kvNode      = flag.String("kvstore-node", "", "internal: run the kvstore node of this home until SIGTERM")
)

const chainID = "bench"

// The applications a testnet runs.
const (
	appKVStore = "kvstore"
	appBNS     = "bns"
)

func main() {
	flag.Parse()
	if *kvNode != "" {
		if err := runKVStore(*kvNode); err != nil {
			fmt.Fprintf(os.Stderr, "chainbench: kvstore node: %v\n", err)
			os.Exit(1)
		}
		return
	}
	log := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "chainbench: "+format+"\n", args...) }
	loadBefore := loadAvg()
	log("load average %s", loadBefore)

	var kv, pre, reg result
	if *baseline {
		err := runNet(appKVStore, log, func(nodes []*proc) (err error) {
			kv, err = throughput(nodes, kvTxs(*txCount), log)
			return err
		})
		if err != nil {
			log("kvstore: %v", err)
			os.Exit(1)
		}
	}
	var (
		lk    lookupResult
		lkErr error
	)
	err := runNet(appBNS, log, func(nodes []*proc) error {
		first, err := status(nodes[0])
		if err != nil {
			return err
		}
		p := node.DefaultOptions().Params
		preTxs, sign, names, err := bnsTxs(*txCount, first+p.MaxTxTTL)
		if err != nil {
			return err
		}
		log("bns: committing %d preorders first", len(preTxs))
		if pre, err = throughput(nodes, preTxs, log); err != nil {
			return err
		}
		last, _ := status(nodes[0])
		// The last preorders may be revealed min_preorder_age blocks on;
		// each node's mempool checks against the block after the
		// application's last commit, which can be one behind the height
		// the node reports (a block is stored before it is committed).
		for _, n := range nodes {
			if err := waitHeight(n, last+p.MinPreorderAge, time.Minute); err != nil {
				return err
			}
		}
		heights, err := txHeights(nodes[0], first, last)
		if err != nil {
			return err
		}
		regs := make([][]byte, len(preTxs))
		for i, raw := range preTxs {
			h, ok := heights[string(raw)]
			if !ok {
				return fmt.Errorf("preorder %d not found in blocks %d..%d", i, first, last)
			}
			regs[i] = sign[i](h)
		}
		var (
			stop = make(chan struct{})
			prof = make(chan error, 1)
		)
		if *cpuProfile != "" {
			go func() { prof <- profile(nodes[0], *cpuProfile, stop, log) }()
		} else {
			prof <- nil
		}
		if *duringLoad {
			// Lookups while the registrations are submitted and committed.
			done := make(chan struct{})
			var loadDone atomic.Bool
			go func() {
				defer close(done)
				lk, lkErr = lookups(nodes, names, log, loadDone.Load)
			}()
			reg, err = throughput(nodes, regs, log)
			loadDone.Store(true)
			<-done
		} else {
			reg, err = throughput(nodes, regs, log)
		}
		close(stop)
		if perr := <-prof; err == nil && perr != nil {
			err = fmt.Errorf("profile: %w", perr)
		}
		if err != nil || *duringLoad {
			return err
		}
		// A lookup failure is reported after the throughput figures.
		lk, lkErr = lookups(nodes, names, log, nil)
		return nil
	})
	if err != nil {
		log("bns: %v", err)
		os.Exit(1)
	}

	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }
	fmt.Printf("| measure (%d validators, timeout_commit %v, %d txs, %s, %d CPUs) | value |\n| --- | --- |\n",
		*validators, *blockTime, *txCount, runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU())
	fmt.Printf("| load average before / after (1, 5, 15 min) | %s / %s |\n", loadBefore, loadAvg())
	if *baseline {
		fmt.Printf("| stock kvstore, committed tx/s | %.0f |\n", kv.rate)
	}
	fmt.Printf("| name chain, committed preorders/s | %.0f |\n", pre.rate)
	fmt.Printf("| name chain, committed registrations/s | %.0f |\n", reg.rate)
	if *baseline {
		fmt.Printf("| **ratio registrations / kvstore (goal >= 0.6)** | **%.2f** |\n", reg.rate/kv.rate)
	}
	fmt.Printf("| validators' CPU ms per tx (sum of %d): kvstore / preorder / registration | %s / %s / %s |\n", *validators, ms(kv.nodeCPU), ms(pre.nodeCPU), ms(reg.nodeCPU))
	fmt.Printf("| load generator's CPU ms per tx: kvstore / preorder / registration | %s / %s / %s |\n", ms(kv.genCPU), ms(pre.genCPU), ms(reg.genCPU))
	if *baseline {
		fmt.Printf("| CPU ratio kvstore / registration, validators and generator | %.2f |\n",
			float64(kv.nodeCPU+kv.genCPU)/float64(reg.nodeCPU+reg.genCPU))
	}
	if lkErr != nil {
		fmt.Printf("| verified lookups/s (%d workers) | failed: %v |\n", *lookupConc, lkErr)
		log("lookups: %v", lkErr)
		os.Exit(1)
	}
	fmt.Printf("| verified lookups/s (%d workers) | %.0f |\n", *lookupConc, lk.rate)
	fmt.Printf("| lookup latency p50 / p99 | %v / %v |\n", lk.p50.Round(10*time.Microsecond), lk.p99.Round(10*time.Microsecond))
}

type proc struct {
	home, rpc string
	pprof     string // host:port of the pprof endpoint, or ""
	cmd       *exec.Cmd
}

// runNet makes a fresh testnet running app, calls f, and stops it.
func runNet(app string, log func(string, ...any), f func([]*proc) error) error {
	dir, err := os.MkdirTemp("", "chainbench-")
	if err != nil {
		return err
	}
	if os.Getenv("CHAINBENCH_KEEP") == "" {
		defer os.RemoveAll(dir)
	} else {
		log("keeping %s", dir)
	}
	ports, err := node.FreePorts(*validators)
	if err != nil {
		return err
	}
	o := node.DefaultOptions()
	o.ChainID, o.BlockTime = chainID, *blockTime
	vals, err := node.Testnet(dir, *validators, o, ports, nil)
	if err != nil {
		return err
	}
	pprof := make([]string, len(vals))
	for i, v := range vals {
		// Same configuration for both applications: a mempool large enough
		// that offered load is never shed (a full CometBFT v0.38 mempool
		// can answer CheckTx with code 0 and still drop the transaction),
		// and optionally CometBFT's pprof endpoint on node0.
		path := filepath.Join(v.Home, "config", "config.toml")
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		b = bytes.Replace(b, []byte("\nsize = 5000\n"), []byte(fmt.Sprintf("\nsize = %d\n", *mempoolSize)), 1)
		if *cpuProfile != "" && app == appBNS && i == 0 {
			free, err := node.FreePorts(1)
			if err != nil {
				return err
			}
			pprof[i] = fmt.Sprintf("127.0.0.1:%d", free[0].RPC)
			b = bytes.Replace(b, []byte(`pprof_laddr = ""`), []byte(`pprof_laddr = "`+pprof[i]+`"`), 1)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return err
		}
	}
	var nodes []*proc
	defer func() {
		for _, p := range nodes {
			p.cmd.Process.Signal(syscall.SIGTERM)
			p.cmd.Wait()
		}
	}()
	for i, v := range vals {
		logf, err := os.Create(filepath.Join(v.Home, "bnsd.log"))
		if err != nil {
			return err
		}
		cmd := exec.Command(*bnsdPath, "start", "--home", v.Home, "--log-level", "*:error")
		if app == appKVStore {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			cmd = exec.Command(self, "-kvstore-node", v.Home)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return err
		}
		nodes = append(nodes, &proc{home: v.Home, rpc: v.RPCURL(), pprof: pprof[i], cmd: cmd})
	}
	log("%s: %d validators up, waiting for block 2", app, len(nodes))
	for _, p := range nodes {
		if err := waitHeight(p, 2, time.Minute); err != nil {
			return err
		}
	}
	return f(nodes)
}

func status(p *proc) (int64, error) {
	var r struct {
		Result struct {
			SyncInfo struct {
				Height string `json:"latest_block_height"`
			} `json:"sync_info"`
		}
	}
	if err := getJSON(p.rpc+"/status", &r); err != nil {
		return 0, err
	}
	return strconv.ParseInt(r.Result.SyncInfo.Height, 10, 64)
}

func waitHeight(p *proc, h int64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if got, err := status(p); err == nil && got >= h {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not reach height %d in %v", p.rpc, h, limit)
}

func getJSON(url string, v any) error {
	res, err := http.Get(url)
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

// committed counts transactions with code 0 in blocks (from, to] of p.
func committed(p *proc, from, to int64) (ok, failed int, err error) {
	for h := from + 1; h <= to; h++ {
		var r struct {
			Result *struct {
				TxsResults []struct {
					Code int `json:"code"`
				} `json:"txs_results"`
			}
			Error any
		}
		if err := getJSON(fmt.Sprintf("%s/block_results?height=%d", p.rpc, h), &r); err != nil {
			return 0, 0, err
		}
		if r.Result == nil {
			return 0, 0, fmt.Errorf("block_results %d: %v", h, r.Error)
		}
		var cm struct {
			Result struct {
				SignedHeader struct {
					Commit struct {
						Round int `json:"round"`
					} `json:"commit"`
				} `json:"signed_header"`
			}
		}
		if err := getJSON(fmt.Sprintf("%s/commit?height=%d", p.rpc, h), &cm); err == nil && cm.Result.SignedHeader.Commit.Round > 0 {
			fmt.Fprintf(os.Stderr, "chainbench: block %d committed in round %d\n", h, cm.Result.SignedHeader.Commit.Round)
		}
		fmt.Fprintf(os.Stderr, "chainbench: block %d: %d txs\n", h, len(r.Result.TxsResults))
		for _, t := range r.Result.TxsResults {
			if t.Code == 0 {
				ok++
			} else {
				failed++
			}
		}
	}
	return ok, failed, nil
}

// result is what one throughput run measured.
type result struct {
	rate float64 // committed transactions per second
	// nodeCPU is the CPU time (user and system) the validators used from
	// the first submission to the commit of the last, summed over all of
	// them, per committed transaction; genCPU the same for this process,
	// the load generator. Unlike the rate, they hardly depend on what else
	// runs on the machine.
	nodeCPU, genCPU time.Duration
}

// throughput submits txs round-robin to every node from several workers
// and returns committed transactions per second, from the first submission
// to the commit of the last, and the CPU time spent per transaction.
func throughput(nodes []*proc, txs [][]byte, log func(string, ...any)) (result, error) {
	clients := make([]*rpchttp.HTTP, len(nodes))
	for i, p := range nodes {
		c, err := rpchttp.New(p.rpc, "/websocket")
		if err != nil {
			return result{}, err
		}
		clients[i] = c
	}
	start, err := status(nodes[0])
	if err != nil {
		return result{}, err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	cpu0, gen0 := nodesCPU(nodes), selfCPU()
	if os.Getenv("CHAINBENCH_TRACE") != "" {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(500 * time.Millisecond):
				}
				line := fmt.Sprintf("t=%5.1fs submitted=%5d mempools:", time.Since(t0).Seconds(), min(next.Load(), int64(len(txs))))
				for _, p := range nodes {
					var r struct {
						Result struct {
							N string `json:"n_txs"`
						}
					}
					getJSON(p.rpc+"/num_unconfirmed_txs", &r)
					line += " " + r.Result.N
				}
				h, _ := status(nodes[0])
				log("%s height=%d", line, h)
			}
		}()
	}
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(txs)) {
					return
				}
				c := clients[int(i)%len(clients)]
				for attempt := 0; ; attempt++ {
					res, err := c.BroadcastTxSync(context.Background(), txs[i])
					if err == nil && res.Code == 0 {
						break
					}
					if err == nil {
						log("tx %d refused: code %d %s", i, res.Code, res.Log)
						break
					}
					if attempt > 200 {
						log("tx %d: %v", i, err)
						break
					}
					time.Sleep(20 * time.Millisecond) // mempool full: back off
				}
			}
		}(w)
	}
	wg.Wait()
	// Follow the chain until every transaction is committed.
	seen, total, failed := start, 0, 0
	deadline := time.Now().Add(90 * time.Second)
	var tEnd time.Time
	for total+failed < len(txs) {
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("only %d of %d transactions committed (%d failed)", total, len(txs), failed)
		}
		h, err := status(nodes[0])
		if err != nil || h == seen {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		ok, bad, err := committed(nodes[0], seen, h)
		if err != nil { // results of the newest block not stored yet: retry
			time.Sleep(10 * time.Millisecond)
			continue
		}
		total, failed, seen, tEnd = total+ok, failed+bad, h, time.Now()
	}
	cpu1, gen1 := nodesCPU(nodes), selfCPU()
	if failed > 0 {
		return result{}, fmt.Errorf("%d transactions failed in blocks", failed)
	}
	r := result{
		rate:    float64(total) / tEnd.Sub(t0).Seconds(),
		nodeCPU: (cpu1 - cpu0) / time.Duration(total),
		genCPU:  (gen1 - gen0) / time.Duration(total),
	}
	log("%d txs committed in %v: %.0f tx/s (blocks %d..%d); CPU per tx: validators %v, load generator %v",
		total, tEnd.Sub(t0).Round(time.Millisecond), r.rate, start+1, seen, r.nodeCPU, r.genCPU)
	return r, nil
}

// nodesCPU returns the CPU time (user and system) the node processes have
// used so far, summed, from /proc (0 where it cannot be read).
func nodesCPU(nodes []*proc) time.Duration {
	var sum time.Duration
	for _, p := range nodes {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
		if err != nil {
			continue
		}
		// Fields after the command name (which is in parentheses and may
		// hold spaces): state is field 3, utime and stime fields 14 and 15.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		sum += time.Duration(u+s) * time.Second / clockTicks
	}
	return sum
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat times
// (100 on Linux for every architecture Go supports).
const clockTicks = 100

// selfCPU returns the CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const txSize = 250 // about the size of a register transaction

func kvTxs(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		k := fmt.Sprintf("key%08d=", i)
		v := make([]byte, txSize-len(k))
		for j := range v {
			v[j] = 'a' + byte((i+j)%26)
		}
		out[i] = append([]byte(k), v...)
	}
	return out
}

// bnsTxs makes n preorders, one account each, expiring at expiry, and for
// each a function that signs its register once the preorder's height is
// known; the proof-of-work stamps are solved in advance.
func bnsTxs(n int, expiry int64) (pre [][]byte, reg []func(preorderHeight int64) []byte, names []string, err error) {
	p := node.DefaultOptions().Params
	x := ecdh.X25519()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("user-%d", i)
		seed := sha256.Sum256([]byte(name))
		priv := ed25519.NewKeyFromSeed(seed[:])
		owner := bns.PublicKeyOf(priv)
		salt := sha256.Sum256(append(seed[:], 's'))
		t1 := &bns.Tx{Type: bns.TxPreorder, Nonce: 0, ExpiresAt: expiry, Commitment: bns.PreorderCommitment(chainID, name, salt, owner)}
		if t1.PowNonce, err = bns.SolvePreorderPow(context.Background(), chainID, t1.Commitment, owner, p.PreorderPowDifficulty); err != nil {
			return nil, nil, nil, err
		}
		t1.Sign(chainID, priv)
		stamp, err := bns.SolvePow(context.Background(), chainID, name, owner, p.PowDifficulty)
		if err != nil {
			return nil, nil, nil, err
		}
		ek, err := hpke.DHKEM(x).DeriveKeyPair(seed[:])
		if err != nil {
			return nil, nil, nil, err
		}
		prof := bns.Profile{SigningKey: owner, EncKeys: []bns.EncKey{{KEM: bns.KEMX25519, Key: ek.PublicKey().Bytes()}}, Hubs: []string{"http://127.0.0.1:4000"}}
		sign := func(h int64) []byte {
			t2 := &bns.Tx{Type: bns.TxRegister, Nonce: 1, ExpiresAt: h + p.MaxTxTTL, Name: name, Salt: salt, PreorderHeight: h, Profile: prof, PowNonce: stamp}
			t2.Sign(chainID, priv)
			return t2.Marshal()
		}
		pre, reg, names = append(pre, t1.Marshal()), append(reg, sign), append(names, name)
	}
	return pre, reg, names, nil
}

// txHeights maps each transaction in blocks (from, to] to its height.
func txHeights(p *proc, from, to int64) (map[string]int64, error) {
	out := make(map[string]int64)
	for h := from + 1; h <= to; h++ {
		var r struct {
			Result struct {
				Block struct {
					Data struct {
						Txs [][]byte `json:"txs"`
					} `json:"data"`
				} `json:"block"`
			}
		}
		if err := getJSON(fmt.Sprintf("%s/block?height=%d", p.rpc, h), &r); err != nil {
			return nil, err
		}
		for _, tx := range r.Result.Block.Data.Txs {
			out[string(tx)] = h
		}
	}
	return out, nil
}

type lookupResult struct {
	rate     float64
	p50, p99 time.Duration
}

// lookups runs verified lookups of names from several workers for the
// -duration, or, if done is given, until done returns true. A name not
// registered yet is a verified answer (not found), not a failure.
func lookups(nodes []*proc, names []string, log func(string, ...any), done func() bool) (lookupResult, error) {
	cfg := lookup.Config{ChainID: chainID, Primary: nodes[0].rpc, Witnesses: []string{nodes[1].rpc, nodes[2].rpc}}
	if os.Getenv("CHAINBENCH_LIGHTLOG") != "" {
		cfg.Logger = cmtlog.NewFilter(cmtlog.NewTMLogger(cmtlog.NewSyncWriter(os.Stderr)), cmtlog.AllowInfo())
	}
	c, err := lookup.New(context.Background(), cfg)
	if err != nil {
		return lookupResult{}, err
	}
	defer c.Close()
	var mu sync.Mutex
	var lat []time.Duration
	var failures atomic.Int64
	errs := map[string]int{}
	stop := time.Now().Add(*lookupDur)
	more := func() bool { return time.Now().Before(stop) }
	if done != nil {
		more = func() bool { return !done() }
	}
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < *lookupConc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var mine []time.Duration
			for i := w; more(); i += *lookupConc {
				name := names[i%len(names)]
				s := time.Now()
				rec, err := c.Lookup(context.Background(), name)
				if done != nil && errors.Is(err, lookup.ErrNotFound) {
					err = nil // not registered yet: a verified answer
				} else if err == nil && rec.Name != name {
					err = fmt.Errorf("asked for %q, got %q", name, rec.Name)
				}
				if err != nil {
					failures.Add(1)
					mu.Lock()
					if errs[err.Error()]++; errs[err.Error()] == 1 {
						log("lookup %q failed at t=%.1fs: %v", name, time.Since(t0).Seconds(), err)
					}
					mu.Unlock()
					continue
				}
				if d := time.Since(s); d > time.Second {
					log("lookup %q took %v (started at t=%.1fs)", name, d.Round(time.Millisecond), s.Sub(t0).Seconds())
				}
				mine = append(mine, time.Since(s))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if f := failures.Load(); f > 0 {
		for e, n := range errs {
			log("%d lookups failed with: %s", n, e)
		}
		return lookupResult{}, fmt.Errorf("%d lookups failed", f)
	}
	slices.Sort(lat)
	r := lookupResult{rate: float64(len(lat)) / elapsed.Seconds(), p50: lat[len(lat)/2], p99: lat[len(lat)*99/100]}
	log("%d verified lookups in %v: %.0f/s, p50 %v, p99 %v", len(lat), elapsed.Round(time.Millisecond), r.rate, r.p50, r.p99)
	return r, nil
}

// runKVStore runs CometBFT's stock kvstore application on the node of home
// until SIGTERM or SIGINT, as bnsd start runs the name chain.
func runKVStore(home string) error {
	c, err := node.LoadConfig(home)
	if err != nil {
		return err
	}
	kv := kvstore.NewPersistentApplication(filepath.Join(c.DBDir(), "kvstore"))
	logger := cmtlog.NewFilter(cmtlog.NewTMLogger(cmtlog.NewSyncWriter(os.Stderr)), cmtlog.AllowError())
	n, err := node.Start(home, logger, node.StartOptions{App: kv, CloseApp: kv.Close})
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	return n.Stop()
}

// profile fetches CPU profiles of p, 5 seconds each, into file.1,
// file.2, ... until stop is closed, finishing the one under way (`go tool
// pprof -top file.*` reads them as one).
func profile(p *proc, file string, stop <-chan struct{}, log func(string, ...any)) error {
	for i := 1; ; i++ {
		select {
		case <-stop:
			log("profiles of node0 during the load: %s.1 to %s.%d", file, file, i-1)
			return nil
		default:
		}
		res, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=5", p.pprof))
		if err != nil {
			return err
		}
		if res.StatusCode != http.StatusOK {
			res.Body.Close()
			return fmt.Errorf("pprof answered %s", res.Status)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		if err := os.WriteFile(fmt.Sprintf("%s.%d", file, i), b, 0o644); err != nil {
			return err
		}
	}
}

// loadAvg returns the 1, 5 and 15 minute load averages of the machine, or
// "?" where they cannot be read.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
