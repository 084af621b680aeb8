package agent

import (
	"context"
	"fmt"
	"net"

	"github.com/parley-im/parley/internal/peercred"
)

// peer is the process at the other end of a socket connection.
type peer struct {
	uid, pid int
	known    bool
}

// peerKey holds a connection's peer in its requests' contexts.
type peerKey struct{}

// connContext puts the connection's peer credentials in the context of
// every request on it (http.Server.ConnContext). Off Linux none are known,
// and every caller of the socket is refused (code forbidden), so that the
// socket's mode is never the only check (a command there finds the home
// held, as by a command that serves itself).
func connContext(ctx context.Context, c net.Conn) context.Context {
	if lc, ok := c.(interface{ unwrap() net.Conn }); ok {
		c = lc.unwrap()
	}
	cr, ok := peercred.Of(c)
	return context.WithValue(ctx, peerKey{}, peer{uid: cr.UID, pid: cr.PID, known: ok})
}

// peerAllowed reports whether the request comes from a process of the
// user the agent serves (Options.AllowUID; the agent's own uid).
func (a *Agent) peerAllowed(ctx context.Context) bool {
	p, ok := ctx.Value(peerKey{}).(peer)
	return ok && p.known && p.uid == a.allowUID
}

// peerString describes the request's peer for the log.
func peerString(ctx context.Context) string {
	p, ok := ctx.Value(peerKey{}).(peer)
	if !ok || !p.known {
		return "unknown"
	}
	return fmt.Sprintf("uid %d pid %d", p.uid, p.pid)
}
