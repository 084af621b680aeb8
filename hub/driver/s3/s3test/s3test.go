// Package s3test runs a real S3 server (versitygw, posix backend) on
// 127.0.0.1 for tests of the S3 driver and of what runs on it.
//
// It is for tests only and must not be imported by a program.
package s3test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/hub/driver/s3"
	"github.com/parley-im/parley/internal/await"
)

// Credentials of the test server.
const (
	AccessKey = "parleytest"
	SecretKey = "parleytestsecret"
)

// Version is the versitygw release the tests run: the first this project
// found enforcing conditional writes (If-None-Match, If-Match on PUT and
// DELETE), which hub instances sharing a bucket rely on.
const Version = "v1.8.0"

// versitygwPath finds the versitygw binary: $VERSITYGW, GOPATH/bin (where
// 'make tools' installs it from the Go module proxy), or PATH; a binary
// Go built from another release is refused.
func versitygwPath(t testing.TB) string {
	p := os.Getenv("VERSITYGW")
	if p == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			if g := filepath.Join(strings.TrimSpace(string(out)), "bin", "versitygw"); fileExists(g) {
				p = g
			}
		}
	}
	if p == "" {
		p, _ = exec.LookPath("versitygw")
	}
	if p == "" {
		t.Fatalf("versitygw not found: run 'make tools' (go install github.com/versity/versitygw/cmd/versitygw@%s) or set VERSITYGW", Version)
	}
	if out, err := exec.Command("go", "version", "-m", p).Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "mod" && f[1] == "github.com/versity/versitygw" && f[2] != Version {
				t.Fatalf("%s is versitygw %s; the tests need %s: run 'make tools'", p, f[2], Version)
			}
		}
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// lockedBuffer is a buffer one goroutine writes while another reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Server is a running S3 server.
type Server struct {
	Endpoint string // host:port
	buckets  atomic.Int32
}

// Start runs versitygw until the test ends, on a port it picks itself on
// 127.0.0.1 (it is told port 0, and the port is read back from the
// kernel's list of its listening sockets): no other process can take the
// port between the test choosing it and versitygw binding it.
func Start(t testing.TB) *Server {
	t.Helper()
	root := t.TempDir()
	cmd := exec.Command(versitygwPath(t), "--access", AccessKey, "--secret", SecretKey, "--port", "127.0.0.1:0", "posix", root)
	logs := new(lockedBuffer) // written by cmd's copying goroutine while read here
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := await.Value(t, time.Minute, "versitygw to listen", func() (string, error) {
		addr, err := listening(cmd.Process.Pid)
		if err != nil {
			return "", fmt.Errorf("%w; its log: %s", err, logs.String())
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return "", fmt.Errorf("%w; its log: %s", err, logs.String())
		}
		return addr, c.Close()
	})
	return &Server{Endpoint: addr}
}

// listening returns the address of the TCP socket process pid listens on
// (Linux: its socket descriptors in /proc/PID/fd, their addresses in
// /proc/net/tcp).
func listening(pid int) (string, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return "", err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	table, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(table), "\n")[1:] {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
			continue
		}
		// It was told 127.0.0.1: the port (hex) is what is read.
		_, port, _ := strings.Cut(f[1], ":")
		p, err := strconv.ParseUint(port, 16, 16)
		if err != nil {
			return "", fmt.Errorf("/proc/net/tcp: %q: %w", f[1], err)
		}
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(p))), nil
	}
	return "", errors.New("no listening socket yet")
}

// Config returns the configuration of a driver on a new, empty bucket of
// the server, spooling uploads under the test's temporary directory.
func (s *Server) Config(t testing.TB) s3.Config {
	return s3.Config{
		Endpoint: s.Endpoint, AccessKey: AccessKey, SecretKey: SecretKey,
		Bucket: fmt.Sprintf("hub-%d", s.buckets.Add(1)), Region: "us-east-1", TempDir: t.TempDir(),
	}
}
