// Command hubbench measures a hubd process on the disk driver, with the
// load generator on the same machine:
//
//   - authenticated 1 KiB writes per second at a given concurrency, each
//     durable (fsynced) before the hub acknowledges it, with p50/p99;
//   - reads per second of those objects, with p50/p99;
//   - 1 MiB blob throughput, writing and reading.
//
// It prints a Markdown table for docs/benchmarks.md. With -multi it
// compares one instance with two on one S3 bucket instead (multi.go).
//
// It measures only: it must not be used to run a hub, and its figures are
// for docs/benchmarks.md, never asserted in tests.
package main

import (
	"bytes"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/parley-im/parley/hub/auth"
)

var (
	hubdPath = flag.String("hubd", "bin/hubd", "path to the hubd binary")
	conc     = flag.Int("c", 32, "concurrent clients")
	dur      = flag.Duration("duration", 10*time.Second, "length of each small-object run")
	bigN     = flag.Int("big", 64, "number of 1 MiB blobs")
	multiRun = flag.Bool("multi", false, "compare one hubd instance with two on one S3 bucket (versitygw, NATS): writes, reads, notification latency")
	latN     = flag.Int("lat", 500, "writes timed for notification latency (-multi)")
)

func main() {
	flag.Parse()
	if *multiRun {
		multi()
		return
	}
	dir, err := os.MkdirTemp("", "hubbench-")
	check(err)
	defer os.RemoveAll(dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(*hubdPath, "--data", dir, "--listen", addr, "--public-url", "http://"+addr, "--server-name", "bench", "--log-level", "warn")
	cmd.Stderr = os.Stderr
	check(cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	url := "http://" + addr
	for i := 0; ; i++ {
		if res, err := http.Get(url + "/healthz"); err == nil {
			res.Body.Close()
			break
		}
		if i > 500 {
			check(fmt.Errorf("hubd did not start"))
		}
		time.Sleep(10 * time.Millisecond)
	}

	key, _ := secp256k1.GeneratePrivateKey()
	bucket := auth.GaiaAddress(key.PubKey().SerializeCompressed())
	tok := "bearer v1:" + auth.MakeGaia(key, auth.GaiaClaims{GaiaChallenge: auth.Challenge("bench")})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc * 2, MaxConnsPerHost: *conc * 2}}

	payload := make([]byte, 1024)
	rand.Read(payload)
	var written atomic.Int64
	w := run(*conc, *dur, func(worker, i int) error {
		path := fmt.Sprintf("w%d/o%d", worker, i)
		req, _ := http.NewRequest("POST", url+"/store/"+bucket+"/"+path, bytes.NewReader(payload))
		req.Header.Set("Authorization", tok)
		req.Header.Set("Content-Type", "application/octet-stream")
		if err := do(client, req, 202); err != nil {
			return err
		}
		written.Add(1)
		return nil
	})
	perWorker := make([]int64, *conc) // objects each worker wrote, to read back
	for i := range perWorker {
		perWorker[i] = w.perWorker[i]
	}
	r := run(*conc, *dur, func(worker, i int) error {
		n := max(perWorker[worker], 1)
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/read/%s/w%d/o%d", url, bucket, worker, int64(i)%n), nil)
		return do(client, req, 200)
	})

	big := make([]byte, 1<<20)
	rand.Read(big)
	t0 := time.Now()
	bw := run(8, 0, func(worker, i int) error {
		if worker*(*bigN/8)+i >= *bigN || i >= *bigN/8 {
			return errDone
		}
		req, _ := http.NewRequest("POST", fmt.Sprintf("%s/store/%s/big/%d-%d", url, bucket, worker, i), bytes.NewReader(big))
		req.Header.Set("Authorization", tok)
		return do(client, req, 202)
	})
	bigWrite := float64(bw.n) / time.Since(t0).Seconds()
	t0 = time.Now()
	br := run(8, 0, func(worker, i int) error {
		if i >= *bigN/8 {
			return errDone
		}
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/read/%s/big/%d-%d", url, bucket, worker, i), nil)
		return do(client, req, 200)
	})
	bigRead := float64(br.n) / time.Since(t0).Seconds()

	fmt.Printf("| measure (disk driver, concurrency %d, load generator on the same machine) | value |\n| --- | --- |\n", *conc)
	fmt.Printf("| authenticated 1 KiB writes/s (fsync before 202) | %.0f |\n", w.rate)
	fmt.Printf("| write latency p50 / p99 | %v / %v |\n", w.p50, w.p99)
	fmt.Printf("| 1 KiB reads/s | %.0f |\n", r.rate)
	fmt.Printf("| read latency p50 / p99 | %v / %v |\n", r.p50, r.p99)
	fmt.Printf("| 1 MiB blobs: write / read MiB/s (8 clients) | %.0f / %.0f |\n", bigWrite, bigRead)
	if w.errs+r.errs+bw.errs+br.errs > 0 {
		fmt.Fprintf(os.Stderr, "hubbench: %d errors\n", w.errs+r.errs+bw.errs+br.errs)
		os.Exit(1)
	}
}

var errDone = fmt.Errorf("done")

func do(c *http.Client, req *http.Request, want int) error {
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: status %d", req.Method, req.URL.Path, res.StatusCode)
	}
	return nil
}

type result struct {
	n, errs   int64
	rate      float64
	p50, p99  time.Duration
	perWorker []int64
}

// run calls f from conc workers until d passes (or, with d = 0, until f
// returns errDone) and summarizes successful calls.
func run(conc int, d time.Duration, f func(worker, i int) error) result {
	var (
		mu   sync.Mutex
		lat  []time.Duration
		res  = result{perWorker: make([]int64, conc)}
		wg   sync.WaitGroup
		stop = time.Now().Add(d)
	)
	t0 := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var mine []time.Duration
			var errs int64
			for i := 0; d == 0 || time.Now().Before(stop); i++ {
				s := time.Now()
				err := f(w, i)
				if err == errDone {
					break
				}
				if err != nil {
					errs++
					if errs < 3 {
						fmt.Fprintln(os.Stderr, "hubbench:", err)
					}
					continue
				}
				mine = append(mine, time.Since(s))
			}
			mu.Lock()
			lat = append(lat, mine...)
			res.errs += errs
			res.perWorker[w] = int64(len(mine))
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	el := time.Since(t0)
	slices.Sort(lat)
	res.n = int64(len(lat))
	if res.n > 0 {
		res.rate = float64(res.n) / el.Seconds()
		res.p50 = lat[len(lat)/2].Round(10 * time.Microsecond)
		res.p99 = lat[len(lat)*99/100].Round(10 * time.Microsecond)
	}
	return res
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubbench:", err)
		os.Exit(1)
	}
}
