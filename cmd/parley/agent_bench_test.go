package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/node/nodetest"
	"github.com/parley-im/parley/hub/server/hubtest"
	"github.com/parley-im/parley/internal/agent"
	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/await"
)

// BenchmarkAgentCommands measures what a person waits for, side by side:
// 'parley send' and 'parley read' as processes (parley, the front-end,
// and parley-core beside it, as make build installs them), from process
// start to exit, with no agent (one-shot: the front-end hands the command
// to parley-core, which serves itself; one-shot-core: parley-core run
// directly) and served by a running 'parley daemon' (agent: the
// front-end alone, one call on the socket); and a message sent through alice's
// agent until it is on bob's agent's event stream (agent-to-agent). Each
// reports its p50 and p99 in milliseconds. docs/benchmarks.md has the
// figures and the command.
func BenchmarkAgentCommands(b *testing.B) {
	dir := b.TempDir()
	bin, core := buildParley(b, dir) // as make build installs them
	load := func(when string) {      // the machine's load average, for the figures' record
		b.Run("machine/load-"+when, func(b *testing.B) { b.ReportMetric(loadAverage(), "load-1min") })
	}
	load("start")
	defer load("end")
	rpc := nodetest.Start(b, "bench")
	hub := hubtest.Start(b, nil).URL
	b.Setenv("PARLEY_PASSPHRASE", "a bench passphrase")
	homes := map[string]string{}
	must := func(args ...string) string {
		var out, errb bytes.Buffer
		if code := runWith(context.Background(), testRun(), args, nil, &out, &errb); code != 0 {
			b.Fatalf("parley %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
		}
		return out.String()
	}
	retry := func(what string, args ...string) {
		await.NoError(b, 2*time.Minute, what, func() error {
			var out, errb bytes.Buffer
			if runWith(context.Background(), testRun(), args, nil, &out, &errb) != 0 {
				return fmt.Errorf("%s%s", out.String(), errb.String())
			}
			return nil
		})
	}
	for _, n := range []string{"alice", "bob"} {
		homes[n] = filepath.Join(dir, n)
		retry("init "+n, "--home", homes[n], "init", "--node", rpc)
		must("--home", homes[n], "register", n, "--hub", hub)
	}
	retry("bob's name", "--home", homes["alice"], "whois", "bob")
	must("--home", homes["alice"], "contacts", "add", "bob")
	must("--home", homes["bob"], "contacts", "accept", "alice")
	must("--home", homes["bob"], "read", "alice")

	exeWith := func(bin string, args ...string) time.Duration {
		cmd := exec.Command(bin, append([]string{"--home", homes["alice"]}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("parley %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return time.Since(start)
	}
	exe := func(args ...string) time.Duration { return exeWith(bin, args...) }
	commands := func(mode string) {
		if mode == "one-shot" { // parley-core alone, as a full build installed as parley would be
			b.Run("one-shot-core/send", func(b *testing.B) {
				var d []time.Duration
				for i := 0; i < b.N; i++ {
					d = append(d, exeWith(core, "send", "bob", fmt.Sprintf("core %d", i)))
				}
				reportPercentiles(b, d)
			})
		}
		b.Run(mode+"/send", func(b *testing.B) {
			var d []time.Duration
			for i := 0; i < b.N; i++ {
				d = append(d, exe("send", "bob", fmt.Sprintf("%s %d", mode, i)))
			}
			reportPercentiles(b, d)
		})
		b.Run(mode+"/read", func(b *testing.B) {
			var d []time.Duration
			for i := 0; i < b.N; i++ {
				d = append(d, exe("read", "bob", "--last", "5"))
			}
			reportPercentiles(b, d)
		})
	}
	commands("one-shot")

	daemons := map[string]int{}
	for _, n := range []string{"alice", "bob"} {
		cmd := exec.Command(bin, "--home", homes[n], "daemon")
		var logs syncBuffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		daemons[n] = cmd.Process.Pid
		b.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		})
		await.NoError(b, 2*time.Minute, n+"'s daemon to serve", func() error {
			if _, err := api.NewUnix(agent.SocketPath(homes[n])).Agent(context.Background()); err != nil {
				return fmt.Errorf("%w; its log:\n%s", err, logs.String())
			}
			return nil
		})
	}
	commands("agent")
	b.Run("agent/api-send", func(b *testing.B) { // the call alone, on a new connection each time
		var d []time.Duration
		for i := 0; i < b.N; i++ {
			start := time.Now()
			c := api.NewUnix(agent.SocketPath(homes["alice"]))
			if _, err := c.Send(context.Background(), "bob", api.SendRequest{Text: fmt.Sprintf("api %d", i)}); err != nil {
				b.Fatal(err)
			}
			c.Close()
			d = append(d, time.Since(start))
		}
		reportPercentiles(b, d)
	})
	b.Run("agent/rss", func(b *testing.B) { // alice's agent's resident memory, after the runs above
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", daemons["alice"]))
		if err != nil {
			b.Logf("no /proc here: resident memory not measured (%v)", err)
			return
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
				kb, _ := strconv.Atoi(f[1])
				b.ReportMetric(float64(kb)/1024, "rss-MB")
			}
		}
	})
	b.Run("process/version", func(b *testing.B) { // starting the front-end at all
		var d []time.Duration
		for i := 0; i < b.N; i++ {
			d = append(d, exe("version"))
		}
		reportPercentiles(b, d)
	})
	b.Run("process/version-core", func(b *testing.B) { // starting the full build at all
		var d []time.Duration
		for i := 0; i < b.N; i++ {
			d = append(d, exeWith(core, "version"))
		}
		reportPercentiles(b, d)
	})

	b.Run("agent-to-agent", func(b *testing.B) {
		alice, bob := api.NewUnix(agent.SocketPath(homes["alice"])), api.NewUnix(agent.SocketPath(homes["bob"]))
		defer alice.Close()
		defer bob.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		got := make(chan string, 16)
		go bob.Events(ctx, "", func(ev api.Event) error {
			if ev.Type == api.EventMessage && ev.Message.From == "alice" {
				got <- ev.Message.Text
			}
			return nil
		})
		// The first message says the stream is up.
		for ready := false; !ready; {
			if _, err := alice.Send(ctx, "bob", api.SendRequest{Text: "ready?"}); err != nil {
				b.Fatal(err)
			}
			select {
			case <-got:
				ready = true
			case <-time.After(30 * time.Second):
			}
		}
		var d []time.Duration
		for i := 0; i < b.N; i++ {
			text := fmt.Sprintf("agent-to-agent %d", i)
			start := time.Now()
			if _, err := alice.Send(ctx, "bob", api.SendRequest{Text: text}); err != nil {
				b.Fatal(err)
			}
			for t := ""; t != text; {
				select {
				case t = <-got:
				case <-time.After(2 * time.Minute):
					b.Fatalf("message %d never reached bob's event stream", i)
				}
			}
			d = append(d, time.Since(start))
		}
		reportPercentiles(b, d)
	})
}

// loadAverage is the machine's load average over the last minute
// (/proc/loadavg; -1 where there is none).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		return -1
	}
	return f
}

// reportPercentiles adds the p50 and p99 of d, in milliseconds, to b's results.
func reportPercentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	at := func(p float64) float64 {
		return float64(d[min(len(d)-1, int(p*float64(len(d))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}
