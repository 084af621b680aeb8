//go:build linux

package peercred

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestOf: the kernel names this process at both ends of a Unix socket;
// a TCP connection has no peer credentials.
func TestOf(t *testing.T) {
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer s.Close()
	want := Cred{UID: os.Getuid(), PID: os.Getpid()}
	for name, conn := range map[string]net.Conn{"dialled": c, "accepted": s} {
		if got, ok := Of(conn); !ok || got != want {
			t.Errorf("%s: Of = %+v, %v; want %+v, true", name, got, ok, want)
		}
	}

	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	go func() {
		if c, err := tl.Accept(); err == nil {
			c.Close()
		}
	}()
	tc, err := net.Dial("tcp", tl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if got, ok := Of(tc); ok {
		t.Errorf("a TCP connection: Of = %+v, true; want false", got)
	}
}
