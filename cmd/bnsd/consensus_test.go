package main

import (
	"context"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/internal/await"
)

var bnsdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bnsd-bin")
	if err != nil {
		panic(err)
	}
	bnsdBin = filepath.Join(dir, "bnsd")
	if out, err := exec.Command("go", "build", "-o", bnsdBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build bnsd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one bnsd node process.
type proc struct {
	home, rpc, log string
	args           []string // extra flags of bnsd start
	peer           string   // ID@HOST:PORT
	paused         bool     // stopped with SIGSTOP
	cmd            *exec.Cmd
	done           chan struct{} // closed when the process has exited
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bnsdBin, append([]string{"start", "--home", p.home, "--log-level", "*:error"}, p.args...)...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); f.Close(); close(done) }(p.cmd, p.done)
	t.Logf("drill: started %s (pid %d)", filepath.Base(p.home), p.cmd.Process.Pid)
}

func (p *proc) stop(t testing.TB, sig syscall.Signal) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	t.Logf("drill: stopping %s (pid %d) with %v", filepath.Base(p.home), p.cmd.Process.Pid, sig)
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

// pause stops the process with SIGSTOP: it holds its connections and
// answers nothing, as a hung machine does.
func (p *proc) pause(t testing.TB) {
	t.Logf("drill: pausing %s (pid %d) with SIGSTOP", filepath.Base(p.home), p.cmd.Process.Pid)
	p.cmd.Process.Signal(syscall.SIGSTOP)
	p.paused = true
}

// resume continues a paused process with SIGCONT.
func (p *proc) resume(t testing.TB) {
	t.Logf("drill: resuming %s (pid %d) with SIGCONT", filepath.Base(p.home), p.cmd.Process.Pid)
	p.cmd.Process.Signal(syscall.SIGCONT)
	p.paused = false
}

type status struct {
	Height  int64
	AppHash string
}

func getJSON(url string, v any) error {
	c := http.Client{Timeout: 3 * time.Second}
	res, err := c.Get(url)
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

func (p *proc) status() (status, error) {
	var r struct {
		Result struct {
			SyncInfo struct {
				Height  string `json:"latest_block_height"`
				AppHash string `json:"latest_app_hash"`
			} `json:"sync_info"`
		}
	}
	if err := getJSON(p.rpc+"/status", &r); err != nil {
		return status{}, err
	}
	h, err := strconv.ParseInt(r.Result.SyncInfo.Height, 10, 64)
	return status{h, r.Result.SyncInfo.AppHash}, err
}

func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	await.True(t, limit, what, cond)
}

func height(p *proc) int64 {
	s, err := p.status()
	if err != nil {
		return -1
	}
	return s.Height
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var accounts = map[string]ed25519.PrivateKey{}

func register(t *testing.T, c *lookup.Client, name string) {

	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	seed := sha256.Sum256([]byte(name))
	priv := ed25519.NewKeyFromSeed(seed[:])
	accounts[name] = priv
	owner := bns.PublicKeyOf(priv)
	salt := sha256.Sum256([]byte("salt" + name))
	preHeight, err := c.Preorder(ctx, priv, name, salt)
	if err != nil {
		t.Fatalf("preorder %s: %v", name, err)
	}
	xk, _ := hpke.DHKEM(ecdhX25519()).DeriveKeyPair(seed[:])
	p := bns.Profile{SigningKey: owner, EncKeys: []bns.EncKey{{KEM: bns.KEMX25519, Key: xk.PublicKey().Bytes()}}, Hubs: []string{"http://127.0.0.1:4000"}}
	if _, err := c.Register(ctx, priv, name, salt, preHeight, p); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	if rec, err := c.Lookup(ctx, name); err != nil || rec.Owner != owner {
		t.Fatalf("lookup %s after register: %v", name, err)
	}
}
