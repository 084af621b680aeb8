package client

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parley-im/parley/client/store"
	"github.com/parley-im/parley/client/wire"
)

// Disappearing messages. With a conversation's timer on, a message
// disappears from the sender's device the timer after it was sent, and
// from each reader's device the timer after that reader read it (as in
// Signal; see MarkRead). Its blob is written with a hub expiry, so the
// sender's hubs delete it on their own, even while the sender's device is
// off: the expiry is a maximum lifetime for an undelivered message, the
// longer of the timer and the delivery window (WithDeliveryWindow,
// DefaultDeliveryWindow), so a reader who comes back within it still gets
// the message. The sender's index lists such messages with their expiry
// (wire.Index.Expiring): a reader who finds one missing after it takes it
// as expired, not withheld. When the sender's timer runs out and the
// contact's receipt says the message was fetched, the sender's device
// deletes the blob at once (groups leave it to the hubs).

// DefaultDeliveryWindow is how long, at least, a disappearing message
// waits on its sender's hubs for readers who are offline.
const DefaultDeliveryWindow = 14 * 24 * time.Hour

// WithDeliveryWindow sets how long, at least, a disappearing message
// waits on the sender's hubs for readers (DefaultDeliveryWindow).
func WithDeliveryWindow(d time.Duration) Option { return func(c *Client) { c.window = d } }

// hubExpiry is when the hubs are to delete a disappearing message written
// at now in a conversation with this timer, to the next second.
func (c *Client) hubExpiry(now time.Time, timer time.Duration) time.Time {
	t := now.Add(max(timer, c.window))
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// timerOf returns the timer of conversation conv, 0 if off or if there is
// no such conversation.
func (c *Client) timerOf(conv Conv) time.Duration {
	d, _ := c.Timer(conv)
	return d
}

// Timer returns the disappearing-message timer of conv as last set by
// either side (SetTimer, or the other side's timer event), 0 if off. A
// contact the user does not have wraps ErrNotContact; a group the user is
// not in is an error too.
func (c *Client) Timer(conv Conv) (time.Duration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch x := c.conversationOf(conv).(type) {
	case *Contact:
		return x.timer, nil
	case groupConv:
		return time.Duration(x.g.TimerS) * time.Second, nil
	}
	if id, ok := conv.Group(); ok {
		return 0, fmt.Errorf("client: no group %s", id)
	}
	return 0, fmt.Errorf("%w: %s", ErrNotContact, conv)
}

// expiresOnHubs reports whether an event of kind, sent while a timer is
// on, is written with a hub expiry: what carries content, never what
// changes the conversation (timers, keys, groups, deletions).
func expiresOnHubs(kind string) bool {
	return kind == wire.KindText || kind == wire.KindEdit || kind == wire.KindReact
}

// untilRead makes a received disappearing message wait for its reader:
// its timer (TTL) starts when the user reads it (startTimers).
func untilRead(m *Message) {
	if m.Kind != wire.KindText || m.Expires.IsZero() {
		return
	}
	m.TTL = max(m.Expires.Sub(m.Time), time.Second)
	m.Expires = time.Time{}
}

// startTimers starts the timer of every disappearing message of
// conversation conv that the user has now read (read says up to which
// sequence number, per author), and says whether it started any; the
// caller holds c.mu and saves.
func (c *Client) startTimers(conv Conv, read func(from string) uint64) bool {
	now := c.now()
	started := false
	for i := range c.history {
		m := &c.history[i]
		if m.From == c.Name || m.TTL <= 0 || !m.Expires.IsZero() || m.Kind != wire.KindText || m.Earlier || m.Conv != conv || m.Seq >= read(m.From) {
			continue
		}
		m.Expires = now.Add(m.TTL)
		c.touchHistory(i)
		started = true
	}
	return started
}

// Expire removes the messages whose timer ran out: from the local history
// on both sides, and, for the user's own, from the user's hubs (Flush,
// which Expire runs, deletes the blobs and lists them in the index) once
// the contact has them or their hub expiry passed.
func (c *Client) Expire(ctx context.Context) error {
	_, err := c.expire(ctx)
	return err
}

// receiptEvery bounds how often expire asks a contact's hubs for the
// receipt that lets it delete a delivered disappearing message early.
const receiptEvery = time.Minute

// expire is Expire, and says whether any message left the history.
func (c *Client) expire(ctx context.Context) (bool, error) {
	c.mu.Lock()
	now := c.now()
	kept := c.history[:0]
	removed, changed := false, false
	for _, m := range c.history {
		if m.Expires.IsZero() || m.Expires.After(now) {
			kept = append(kept, m)
			continue
		}
		removed = true
		if m.From != c.Name {
			continue
		}
		conv := c.conversationOf(m.Conv)
		if conv == nil {
			continue
		}
		st := conv.outStream()
		if at := st.HubExpiry(m.Seq); !at.IsZero() && at.After(now) {
			// The hubs keep it for readers who have not fetched it yet.
			if ct, ok := conv.(*Contact); ok {
				ct.out.Await(m.Seq)
			}
			continue
		}
		c.forget(conv, &m)
	}
	clear(c.history[len(kept):])
	c.history = kept
	if removed {
		c.setHistory(kept)
	}
	// Messages whose hub expiry passed are deleted: the index says so.
	for v, conv := range c.timed() {
		st := conv.outStream()
		for _, x := range st.Expiring() {
			if !x.At.After(now) {
				c.forget(conv, &Message{From: c.Name, Conv: v, Seq: x.Seq})
				changed = true
			}
		}
	}
	var ask []string
	for name, ct := range c.contacts {
		if len(ct.out.Awaiting()) > 0 && now.Sub(c.receiptAsked[name]) >= receiptEvery {
			ask = append(ask, name)
		}
	}
	var (
		sv  *store.Save
		err error
	)
	if removed || changed {
		sv, err = c.prepare()
	}
	c.mu.Unlock()
	if err = cmp.Or(err, c.write(sv)); err != nil {
		return removed, err
	}
	// Those the contact has fetched go now.
	for _, name := range ask {
		r, rerr := c.receiptFrom(ctx, name, false) // the name session's blobs: by the name session's receipt only
		c.mu.Lock()
		c.receiptAsked[name] = now
		if ct := c.contacts[name]; ct != nil && rerr == nil {
			for _, seq := range ct.out.Awaiting() {
				if seq < r.Delivered {
					c.forget(ct, &Message{From: c.Name, Conv: ContactConv(name), Seq: seq})
					changed = true
				}
			}
		}
		c.mu.Unlock()
	}
	if !removed && !changed {
		return false, nil
	}
	return removed, c.Flush(ctx)
}

// timed returns every conversation a timer can apply to; the caller
// holds c.mu.
func (c *Client) timed() map[Conv]conversation {
	out := map[Conv]conversation{}
	for n, ct := range c.contacts {
		out[ContactConv(n)] = ct
	}
	for id, g := range c.book.Groups {
		out[GroupConv(id)] = groupConv{g, c.gstream(id)}
	}
	return out
}

// NoHubExpiryError names hubs of the user's that do not delete what they
// hold at its expiry (their hub_info does not say "expiry": true, as a
// Gaia hub's): what the user sends with a timer stays there, past the
// delivery window, until this device deletes it (Expire, when a parley
// command or a watch runs).
type NoHubExpiryError struct{ Hubs []string }

func (e *NoHubExpiryError) Error() string {
	if len(e.Hubs) == 1 {
		return fmt.Sprintf("hub %s does not delete what it holds at its expiry: what you send with a timer stays there until this device deletes it, when parley next runs", e.Hubs[0])
	}
	return fmt.Sprintf("hubs %s do not delete what they hold at its expiry: what you send with a timer stays there until this device deletes it, when parley next runs", strings.Join(e.Hubs, ", "))
}

// CheckHubExpiry says whether every hub of the user's deletes what it
// holds at its expiry, as disappearing messages rely on while the device
// is off: nil if so, else a *NoHubExpiryError naming those that do not.
// A hub that does not answer is not counted.
func (c *Client) CheckHubExpiry(ctx context.Context) error {
	c.mu.Lock()
	own := slices.Clone(c.ownHubs())
	c.mu.Unlock()
	var without []string
	for _, u := range own {
		h, err := c.dial(ctx, u)
		if err == nil && !h.Info().Parley.Expiry {
			without = append(without, u)
		}
	}
	if len(without) > 0 {
		return &NoHubExpiryError{Hubs: without}
	}
	return nil
}
