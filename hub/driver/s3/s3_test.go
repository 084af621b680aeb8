package s3_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/driver/s3"
	"github.com/parley-im/parley/hub/drivertest"
)

// versitygwPath finds the versitygw binary: $VERSITYGW, PATH, or GOPATH/bin
// (where 'make tools' installs it from the Go module proxy).
func versitygwPath(t *testing.T) string {
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

// startS3 runs a real S3 server (versitygw, posix backend) on a free port.
func startS3(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	root := t.TempDir()
	cmd := exec.Command(versitygwPath(t), "--access", "parleytest", "--secret", "parleytestsecret", "--port", addr, "posix", root)
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
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not start: %s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConformance(t *testing.T) {
	addr := startS3(t)
	var n atomic.Int32
	drivertest.Run(t, func(t *testing.T) hub.Driver {
		d, err := s3.New(context.Background(), s3.Config{
			Endpoint: addr, AccessKey: "parleytest", SecretKey: "parleytestsecret",
			Bucket: fmt.Sprintf("hub-%d", n.Add(1)), Region: "us-east-1", TempDir: t.TempDir(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}
