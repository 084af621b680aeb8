// Package s3test runs a real S3 server (versitygw, posix backend) on
// 127.0.0.1 for tests of the S3 driver and of what runs on it.
//
// It is for tests only and must not be imported by a program.
package s3test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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

// Start runs versitygw on a free port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	root := t.TempDir()
	cmd := exec.Command(versitygwPath(t), "--access", AccessKey, "--secret", SecretKey, "--port", addr, "posix", root)
	logs := new(lockedBuffer) // written by cmd's copying goroutine while read here
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	await.NoError(t, time.Minute, "versitygw to listen on "+addr, func() error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return fmt.Errorf("%w; its log: %s", err, logs.String())
		}
		return c.Close()
	})
	return &Server{Endpoint: addr}
}

// Config returns the configuration of a driver on a new, empty bucket of
// the server, spooling uploads under the test's temporary directory.
func (s *Server) Config(t testing.TB) s3.Config {
	return s3.Config{
		Endpoint: s.Endpoint, AccessKey: AccessKey, SecretKey: SecretKey,
		Bucket: fmt.Sprintf("hub-%d", s.buckets.Add(1)), Region: "us-east-1", TempDir: t.TempDir(),
	}
}
