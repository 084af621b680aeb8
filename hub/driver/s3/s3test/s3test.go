// Package s3test runs a real S3 server (versitygw, posix backend) on
// 127.0.0.1 for tests of the S3 driver and of what runs on it.
package s3test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/hub/driver/s3"
)

// Credentials of the test server.
const (
	AccessKey = "parleytest"
	SecretKey = "parleytestsecret"
)

// versitygwPath finds the versitygw binary: $VERSITYGW, PATH, or GOPATH/bin
// (where 'make tools' installs it from the Go module proxy).
func versitygwPath(t testing.TB) string {
	if p := os.Getenv("VERSITYGW"); p != "" {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("versitygw not found: run 'make tools' (go install github.com/versity/versitygw/cmd/versitygw@v1.0.14) or set VERSITYGW")
	return ""
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
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return &Server{Endpoint: addr}
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not start: %s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Config returns the configuration of a driver on a new, empty bucket of
// the server, spooling uploads under the test's temporary directory.
func (s *Server) Config(t testing.TB) s3.Config {
	return s3.Config{
		Endpoint: s.Endpoint, AccessKey: AccessKey, SecretKey: SecretKey,
		Bucket: fmt.Sprintf("hub-%d", s.buckets.Add(1)), Region: "us-east-1", TempDir: t.TempDir(),
	}
}
