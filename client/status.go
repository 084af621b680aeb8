package client

import (
	"context"
	"time"

	"github.com/parley-im/parley/client/hubclient"
)

// Status is a summary of the client for a person checking that all is
// well: each of the user's hubs, what waits to go out, and settings.
type Status struct {
	Hubs         []HubStatus
	Deletions    int // blobs still to delete from some hub
	Requests     int // contact requests that reached none of the contact's hubs yet
	Contacts     int
	Blocked      int
	Groups       int
	Backup       bool
	ReadReceipts bool
}

// HubStatus is one of the user's hubs as Status found it.
type HubStatus struct {
	URL     string
	Err     error         // nil: it answered
	Latency time.Duration // of its hub_info, when it answered
	Waiting int           // messages it does not have yet
}

// Status asks each of the user's hubs for its hub_info (a new connection,
// to see the hub as it is now) and counts what waits for it.
func (c *Client) Status(ctx context.Context) Status {
	var s Status
	for _, url := range c.ownHubs() {
		start := time.Now()
		_, err := hubclient.Dial(ctx, url, nil, c.http) // hub_info only: no key needed
		hs := HubStatus{URL: url, Err: err}
		if err == nil {
			hs.Latency = time.Since(start)
		}
		s.Hubs = append(s.Hubs, hs)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.book.Groups {
		if !g.Gone {
			s.Groups++
		}
	}
	streams := c.streams()
	for i := range s.Hubs {
		for _, st := range streams {
			s.Hubs[i].Waiting += st.Waiting(s.Hubs[i].URL)
		}
	}
	s.Deletions = len(c.doomedPaths)
	s.Contacts = len(c.contacts)
	for _, ct := range c.contacts {
		if ct.request != nil {
			s.Requests++
		}
	}
	for n := range c.blocked {
		if c.contacts[n] != nil {
			s.Blocked++
		}
	}
	s.Backup = c.backup != nil
	s.ReadReceipts = c.readReceipts
	return s
}
