package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/hub/natslog/natstest"
)

// The multi-instance benchmark: hubd on S3 (versitygw, posix backend, on
// this machine), one instance alone, then two instances on one bucket
// joined by NATS (embedded nats-server), driven the same way: 1 KiB writes
// and reads per second (clients spread over the instances), and the
// latency of a change notification (from sending a write to a watcher
// hearing of it: on the same instance alone, on the other instance with
// two).

const benchURL = "http://hub.bench" // the public URL both instances serve

type benchHub struct {
	addrs []string
	procs []*exec.Cmd
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().String()
}

func waitUp(addr string) {
	for i := 0; ; i++ {
		if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
			res.Body.Close()
			return
		}
		if i > 1000 {
			check(fmt.Errorf("%s did not start", addr))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startVersitygw(dir string) (string, *exec.Cmd) {
	bin := os.Getenv("VERSITYGW")
	if bin == "" {
		out, err := exec.Command("go", "env", "GOPATH").Output()
		check(err)
		bin = filepath.Join(strings.TrimSpace(string(out)), "bin", "versitygw")
	}
	addr := freePort()
	cmd := exec.Command(bin, "--access", "bench", "--secret", "benchsecret", "--port", addr, "posix", dir)
	check(cmd.Start())
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, cmd
		}
		if i > 1000 {
			check(fmt.Errorf("versitygw did not start (run make tools)"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startHubs runs n hubd instances on bucket (with NATS if natsURL is set).
func startHubs(n int, s3addr, bucket, natsURL string) *benchHub {
	h := &benchHub{}
	for i := range n {
		addr := freePort()
		args := []string{"--driver", "s3", "--s3-endpoint", s3addr, "--s3-bucket", bucket, "--s3-tls=false", "--s3-access-key", "bench",
			"--listen", addr, "--public-url", benchURL, "--server-name", "bench", "--log-level", "warn", "--instance", fmt.Sprintf("bench-%d", i)}
		if natsURL != "" {
			args = append(args, "--nats", natsURL, "--nats-stream", strings.ToUpper(bucket))
		}
		cmd := exec.Command(*hubdPath, args...)
		cmd.Env = append(os.Environ(), "HUBD_S3_SECRET_KEY=benchsecret")
		cmd.Stderr = os.Stderr
		check(cmd.Start())
		waitUp(addr)
		h.addrs = append(h.addrs, addr)
		h.procs = append(h.procs, cmd)
	}
	return h
}

func (h *benchHub) stop() {
	for _, p := range h.procs {
		p.Process.Kill()
		p.Wait()
	}
}

// clientFor sends requests for benchURL to the instance addr.
func clientFor(addr string, conns int) *http.Client {
	d := &net.Dialer{}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
	}}
}

type multiResult struct {
	w, r           result
	n              int
	latP50, latP99 time.Duration
}

func benchInstances(n int, s3addr, bucket, natsURL string) multiResult {
	h := startHubs(n, s3addr, bucket, natsURL)
	defer h.stop()
	clients := make([]*http.Client, n)
	for i, a := range h.addrs {
		clients[i] = clientFor(a, *conc*2)
	}
	key, _ := secp256k1.GeneratePrivateKey()
	addr := auth.GaiaAddress(key.PubKey().SerializeCompressed())
	tok := "bearer v1:" + auth.MakeGaia(key, auth.GaiaClaims{GaiaChallenge: auth.Challenge("bench")})
	payload := make([]byte, 1024)
	rand.Read(payload)
	put := func(c *http.Client, path string) error {
		req, _ := http.NewRequest("POST", benchURL+"/store/"+addr+"/"+path, bytes.NewReader(payload))
		req.Header.Set("Authorization", tok)
		req.Header.Set("Content-Type", "application/octet-stream")
		return do(c, req, 202)
	}
	w := run(*conc, *dur, func(worker, i int) error { return put(clients[worker%n], fmt.Sprintf("w%d/o%d", worker, i)) })
	r := run(*conc, *dur, func(worker, i int) error {
		m := max(w.perWorker[worker], 1)
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/read/%s/w%d/o%d", benchURL, addr, worker, int64(i)%m), nil)
		return do(clients[worker%n], req, 200)
	})

	// Notification latency: a watcher on the last instance, writes one at
	// a time through the first (the same one when alone).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	body, _ := json.Marshal(map[string]any{"follow": []map[string]string{{"address": addr, "prefix": "lat/"}}})
	req, _ := http.NewRequestWithContext(ctx, "POST", benchURL+"/watch", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := clientFor(h.addrs[n-1], 4).Do(req)
	check(err)
	defer res.Body.Close()
	heard := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var ev struct{ Path string }
				if json.Unmarshal([]byte(l), &ev) == nil && ev.Path != "" {
					heard <- ev.Path
				}
			}
		}
		close(heard)
	}()
	var lat []time.Duration
	for i := range *latN {
		p := fmt.Sprintf("lat/%d", i)
		t0 := time.Now()
		check(put(clients[0], p))
		for got := range heard {
			if got == p {
				break
			}
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	if w.errs+r.errs > 0 {
		fmt.Fprintf(os.Stderr, "hubbench: %d errors\n", w.errs+r.errs)
		os.Exit(1)
	}
	return multiResult{w: w, r: r, n: n, latP50: lat[len(lat)/2].Round(10 * time.Microsecond), latP99: lat[len(lat)*99/100].Round(10 * time.Microsecond)}
}

func multi() {
	dir, err := os.MkdirTemp("", "hubbench-s3-")
	check(err)
	defer os.RemoveAll(dir)
	s3addr, gw := startVersitygw(dir)
	defer func() { gw.Process.Kill(); gw.Wait() }()
	ns, err := natstest.Run(filepath.Join(dir, ".nats"))
	check(err)
	defer ns.Shutdown()
	one := benchInstances(1, s3addr, "one", "")
	two := benchInstances(2, s3addr, "two", ns.URL)
	fmt.Printf("| measure (S3 driver on versitygw, concurrency %d, everything on this machine) | one instance | two instances + NATS |\n| --- | --- | --- |\n", *conc)
	fmt.Printf("| authenticated 1 KiB writes/s | %.0f | %.0f |\n", one.w.rate, two.w.rate)
	fmt.Printf("| write latency p50 / p99 | %v / %v | %v / %v |\n", one.w.p50, one.w.p99, two.w.p50, two.w.p99)
	fmt.Printf("| 1 KiB reads/s | %.0f | %.0f |\n", one.r.rate, two.r.rate)
	fmt.Printf("| read latency p50 / p99 | %v / %v | %v / %v |\n", one.r.p50, one.r.p99, two.r.p50, two.r.p99)
	fmt.Printf("| change notification, write sent → watcher hears (%d writes), p50 / p99 | %v / %v (same instance) | %v / %v (the other instance) |\n", *latN, one.latP50, one.latP99, two.latP50, two.latP99)
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("\nload average during the run (1, 5, 15 min): %s\n", strings.Join(strings.Fields(string(b))[:3], ", "))
	}
}
