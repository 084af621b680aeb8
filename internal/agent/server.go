package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/parley-im/parley/internal/homedir"
)

// maxSocketPath is the longest path a Unix socket can have (Linux: 108
// bytes with the final NUL).
const maxSocketPath = 107

// SocketPath is the agent's socket in home (homedir.SocketPath).
func SocketPath(home string) string { return homedir.SocketPath(home) }

// Listen binds the home's socket, mode 0600 in the home (itself 0700); a
// socket left by an agent that died is removed first. The caller holds
// the home's lock: no other agent can be listening.
func (a *Agent) Listen() (net.Listener, error) {
	if a.opts.Lock == nil {
		return nil, errors.New("an agent listens only while it holds the home's lock")
	}
	path := SocketPath(a.home.dir)
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("the socket path %s is %d bytes, longer than a Unix socket's %d: use a home with a shorter path", path, len(path), maxSocketPath)
	}
	if fi, err := os.Stat(a.home.dir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		a.log.Warn("the home can be read by other users; the socket is 0600 and checks its callers anyway", "home", a.home.dir, "mode", fi.Mode().Perm())
	}
	os.Remove(path) // a stale socket: its agent died (it held the lock)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	return &limitListener{Listener: l, sem: make(chan struct{}, a.opts.Limits.Conns)}, nil
}

// Serve serves the API on l until ctx ends, then stops: the event streams
// end, the calls under way get a few seconds to finish, the duties stop,
// and the socket goes.
func (a *Agent) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           a,
		ConnContext:       connContext,
		ReadHeaderTimeout: a.opts.Limits.Header,
		// The body is read under this deadline before the call runs
		// (handler.go), then the deadline is lifted: a long call or an
		// event stream is not cut by it.
		ReadTimeout:    a.opts.Limits.Body,
		IdleTimeout:    60 * time.Second,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       nil,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	a.log.Info("serving the API", "socket", l.Addr().String(), "home", a.home.dir)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	a.events.close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return nil
}

// limitListener closes a connection beyond its limit at once.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
		default:
			c.Close()
		}
	}
}

// limitConn gives its slot back when closed (once).
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// connContext needs the *net.UnixConn under a limitConn.
func (c *limitConn) unwrap() net.Conn { return c.Conn }
