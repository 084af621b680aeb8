package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/parley-im/parley/chain/bns"
)

// Offline use. A chain node or hub that does not answer (no connection, a
// timeout) makes no command fail that can do without it: what the device
// holds is used instead (the state's copy of the user's hubs, the records
// the user confirmed for each contact, the history fetched so far, the
// profiles last read), messages are sealed and queued, and the client
// remembers what did not answer, for the caller to say so once (Offline).
//
// A message to a contact leaves the outbox only once the contact's keys
// are checked against the chain's latest verified state (keysChecked):
// with the chain down it waits, queued, rather than go out on keys that
// may have changed.

// ErrOffline is wrapped by every error that comes from a chain node or a
// hub that did not answer (see OfflineError).
var ErrOffline = errors.New("client: not answering")

// OfflineError reports that a chain node or a hub did not answer.
type OfflineError struct {
	What string // "the chain", or "hub URL"
	Err  error  // the transport's error
}

func (e *OfflineError) Error() string {
	return fmt.Sprintf("%s does not answer (%s)", e.What, Cause(e.Err))
}

func (e *OfflineError) Unwrap() []error { return []error{ErrOffline, e.Err} }

// Cause says in a few words why a connection failed: "connection
// refused", "timed out", "no such host", or else the innermost error.
func Cause(err error) string {
	var (
		dns *net.DNSError
		ne  net.Error
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.As(err, &dns):
		return "no such host: " + dns.Name
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// IsOffline reports whether err says that a chain node or hub did not
// answer (rather than answered with a refusal).
func IsOffline(err error) bool { return errors.Is(err, ErrOffline) }

// transportDown tells an error of a connection (refused, reset, timed out,
// no such host) from an answer and from the caller's own cancellation.
func transportDown(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var (
		op *net.OpError
		ne net.Error
	)
	return errors.As(err, &op) || (errors.As(err, &ne) && ne.Timeout()) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// offlineTransport turns a hub's connection errors into *OfflineError.
type offlineTransport struct{ base http.RoundTripper }

func (t offlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(req)
	if transportDown(req.Context(), err) {
		return nil, &OfflineError{What: "hub " + req.URL.Scheme + "://" + req.URL.Host, Err: err}
	}
	return res, err
}

// offlineHTTP is hc (or hubclient's default) with its transport's
// connection errors made *OfflineError.
func offlineHTTP(hc *http.Client) *http.Client {
	out := &http.Client{Timeout: 30 * time.Second} // as hubclient's default
	if hc != nil {
		c := *hc
		out = &c
	}
	base := out.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	out.Transport = offlineTransport{base}
	return out
}

// noteOffline remembers that what did not answer, if err says so, and
// returns err.
func (c *Client) noteOffline(err error) error {
	var oe *OfflineError
	if errors.As(err, &oe) {
		c.offMu.Lock()
		if !slices.ContainsFunc(c.offline, func(o *OfflineError) bool { return o.What == oe.What }) {
			c.offline = append(c.offline, oe)
		}
		c.offMu.Unlock()
	}
	return err
}

// Offline returns the chain and each hub that did not answer since the
// last call, each once, and forgets them.
func (c *Client) Offline() []*OfflineError {
	c.offMu.Lock()
	defer c.offMu.Unlock()
	out := c.offline
	c.offline = nil
	return out
}

// lookup asks the directory for name's verified record, noting a chain
// that does not answer.
func (c *Client) lookup(ctx context.Context, name string) (*bns.Record, error) {
	rec, err := c.dir.Lookup(ctx, name)
	return rec, c.noteOffline(err)
}
