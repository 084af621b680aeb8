package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/hubapi"
)

// ExpiresHeader carries an object's expiry: on a write, when the object
// is to go (decimal Unix seconds, in the future, at most MaxExpiry ahead);
// on a read, when it will.
const ExpiresHeader = hubapi.ExpiresHeader

// MaxExpiry is how far ahead an expiry may be.
const MaxExpiry = 10 * 366 * 24 * time.Hour

// expiryOf reads the expiry of a write (zero if none).
func (s *Server) expiryOf(h http.Header) (time.Time, error) {
	v := h.Get(ExpiresHeader)
	if v == "" {
		return time.Time{}, nil
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil || strings.TrimLeft(v, "0123456789") != "" {
		return time.Time{}, fail(hub.ErrBadRequest, "%s must be Unix seconds, got %q", ExpiresHeader, v)
	}
	now := s.cfg.Now()
	t := time.Unix(sec, 0)
	switch {
	case !t.After(now):
		return time.Time{}, fail(hub.ErrBadRequest, "%s %d is not in the future (the hub's clock says %d)", ExpiresHeader, sec, now.Unix())
	case t.After(now.Add(MaxExpiry)):
		return time.Time{}, fail(hub.ErrBadRequest, "%s %d is more than %d days ahead", ExpiresHeader, sec, int(MaxExpiry/(24*time.Hour)))
	}
	return t, nil
}

// sweeper deletes expired objects every interval until stop closes.
func (s *Server) sweeper(interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), interval*10)
		if n, err := s.Sweep(ctx); err != nil {
			s.log.Warn("sweeping expired objects", "err", err, "deleted", n)
		} else if n > 0 {
			s.log.Debug("swept expired objects", "deleted", n)
		}
		cancel()
	}
}

// Sweep deletes the objects that have expired from the driver, and tells
// watchers (a delete change for each) and the quota (the address is
// counted again); hubd runs it every --sweep-every. It returns how many it
// deleted.
func (s *Server) Sweep(ctx context.Context) (int, error) {
	n := 0
	err := s.cfg.Driver.Sweep(ctx, func(address string, obj hub.Object) {
		n++
		if s.quota != nil {
			s.quota.forget(address)
		}
		if !strings.HasPrefix(address, "_") { // internal objects make no events
			s.changed(ctx, Event{Address: address, Path: obj.Path, Op: "delete"}, -obj.Size)
		}
	})
	return n, err
}
