package main

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/internal/screen"
)

// chainDir is the client's Directory: chain/lookup's verified lookups,
// connected on first use, so that a command that needs no record never
// waits for the chain. A chain that does not answer is a
// *client.OfflineError (the client then uses the records it holds), and
// is not asked again for chainRetry.
type chainDir struct {
	h *home

	mu     sync.Mutex
	d      *lookup.Client
	err    error     // why it did not open
	failed time.Time // when
}

// chainRetry is how long a chain that did not answer is not asked again.
const chainRetry = 30 * time.Second

// open returns the verified directory, connecting on first use.
func (c *chainDir) open(ctx context.Context) (*lookup.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.d != nil {
		return c.d, nil
	}
	if c.err != nil && time.Since(c.failed) < chainRetry {
		return nil, c.err
	}
	d, err := c.h.directory(ctx)
	if err != nil {
		c.err, c.failed = c.h.offline(err), time.Now()
		return nil, c.err
	}
	c.d, c.err = d, nil
	return d, nil
}

// Lookup implements client.Directory.
func (c *chainDir) Lookup(ctx context.Context, name string) (*bns.Record, error) {
	d, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := d.Lookup(ctx, name)
	return rec, c.h.offline(err)
}

// History gives the client the reason of a key change.
func (c *chainDir) History(ctx context.Context, name string) (*bns.Record, []*bns.HistoryEntry, error) {
	d, err := c.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	rec, hist, err := d.History(ctx, name)
	return rec, hist, c.h.offline(err)
}

// chain returns the verified directory for the commands that need the
// chain itself (name, status, renew, ...).
func (h *home) chain(ctx context.Context) (*lookup.Client, error) {
	if h.lazy == nil {
		h.lazy = &chainDir{h: h}
	}
	return h.lazy.open(ctx)
}

// offline makes a chain that does not answer a *client.OfflineError
// naming the node this device asks.
func (h *home) offline(err error) error {
	if !errors.Is(err, lookup.ErrUnreachable) || client.IsOffline(err) {
		return err
	}
	what := "chain node " + h.cfg.Node
	if len(h.cfg.Witnesses) > 0 {
		what += " (and its witnesses)"
	}
	// A node this device does not use (settings node URL) is named itself.
	if ue := (*url.Error)(nil); errors.As(err, &ue) && !slices.ContainsFunc(append([]string{h.cfg.Node}, h.cfg.Witnesses...),
		func(n string) bool { return origin(n) == origin(ue.URL) }) {
		what = "chain node " + origin(ue.URL)
	}
	return &client.OfflineError{What: what, Err: err}
}

// plainOffline shows an error that comes down to a node or hub that did
// not answer as just that ("hub URL does not answer (connection
// refused)"), without the layers it came through.
func plainOffline(h *home, err error) error {
	var oe *client.OfflineError
	if errors.As(h.offline(err), &oe) {
		return oe
	}
	return err
}

// offlineErrors makes every command of the tree under cmd return
// plainOffline errors.
func offlineErrors(h *home, cmd *cobra.Command) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(cmd *cobra.Command, args []string) error { return plainOffline(h, run(cmd, args)) }
	}
	for _, sub := range cmd.Commands() {
		offlineErrors(h, sub)
	}
}

// sayOffline tells, in one line, what the command could not refresh: the
// chain and the hubs that did not answer. Each is named once.
func (h *home) sayOffline() {
	if h.c == nil {
		return
	}
	var what []string
	for _, oe := range h.c.Offline() {
		what = append(what, oe.Error())
	}
	if len(what) == 0 {
		return
	}
	screen.Printf(h.stderr, "parley: offline: %s; shown as this device has it, and what you send waits and goes out with a later parley command\n",
		strings.Join(what, "; "))
}

// quiet drops an error that only says a node or hub did not answer, or
// that this device no longer writes to the user's hubs (the command goes
// on with what the device holds; sayOffline and saySuperseded tell it).
func quiet(err error) error {
	if client.IsOffline(err) || errors.Is(err, client.ErrRestoredElsewhere) {
		return nil
	}
	return err
}

// saySuperseded tells, once, that the identity was restored on another
// device and this one no longer writes to the user's hubs.
func (h *home) saySuperseded() {
	if h.c == nil {
		return
	}
	if err := h.c.Superseded(); err != nil {
		screen.Printf(h.stderr, "parley: %v\nparley: hint: %s\n", err, h.restoredHint())
	}
}
