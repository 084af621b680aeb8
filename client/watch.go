package client

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub/auth"
)

// Watch reports what arrives to fn (a Notice: new messages and events
// from every contact and group, receipts, contact requests, expiries)
// until ctx ends. fn may be called from several goroutines at once (one
// per hub followed, and the maintenance): it must be safe for that, and
// not block for long.
// It holds one change-notification stream per hub the contacts write to
// (following each contact on every hub of theirs, and the user's inbox on
// every hub of the user's), following only their message paths, and
// reads a contact's hubs when a stream reports a write there. It catches
// up on every (re)connection (and after a "reset", when the hub cannot
// replay what was missed), reporting then a NoticeReceipt for each contact
// followed there (a receipt may have changed meanwhile), and while a hub
// is unreachable it polls it with back-off (1 s doubling to 30 s). A
// message that fails to open is reported through onErr and not shown.
//
// Every maintenance period (WithWatchTimings) it also expires disappearing messages
// (reporting NoticeExpired), retries queued messages, keeps the backup
// current (every backup period), and takes in contacts
// made since it started (and leaves blocked ones); every refresh period it
// looks each contact up on the chain again, so one who moved to other hubs
// is followed there (one whose keys changed is no longer followed, and
// its *KeyChange reported through onErr), and the user's own name,
// reporting through onErr an ErrNotMine if it no longer holds this
// device's keys. Any change of what
// to follow restarts the streams.
func (c *Client) Watch(ctx context.Context, fn func(Notice), onErr func(error)) error {
	if onErr == nil {
		onErr = func(error) {}
	}
	requests := &announcer{seen: map[string]bool{}}
	lastRefresh := time.Now()
	var mineDue atomic.Int64 // until when (Unix ns) the own record is looked up at every maintenance tick: a welcome was written
	for {
		c.refreshMine(ctx)
		plan, devs := c.watchPlan(), c.deviceSet()
		wctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		welcomed := func() {
			// One of the user's devices approved a new one: the chain
			// lists it (the welcome is written after the device-add
			// committed), perhaps at a height this node has not verified
			// yet, so the record is looked up at each tick for a while.
			// Only the device list changing starts the streams over: a
			// hub announcing welcome after welcome (its operator needs no
			// write) would else have every stream to every hub closed
			// and opened again, every contact read again, for each.
			due := mineDue.Swap(time.Now().Add(welcomeFollow).UnixNano())
			if time.Now().UnixNano() < due {
				return // followed already: each maintenance tick looks the record up
			}
			c.refreshMine(wctx)
			if c.deviceSet() != devs {
				cancel() // follow it now (else the tick does once this node verifies it)
			}
		}
		weight, own := c.followWeights()
		for url, names := range plan {
			// A hub takes at most 5,000 follows a stream: a contact needs
			// three, and two more for each device of theirs after the
			// first; the user's own hubs' first stream also follows the
			// inbox and the user's devices. More take more streams.
			reserve := 0
			if slices.Contains(c.ownHubs(), url) {
				reserve = own
			}
			for i, part := range splitByWeight(names, weight, 3*c.timings.ContactsPerStream, reserve) {
				inbox := reserve > 0 && i == 0
				wg.Go(func() { c.watchHub(wctx, url, part, inbox, requests, welcomed, fn, onErr) })
			}
		}
		c.maintain(wctx, plan, devs, &lastRefresh, &mineDue, requests, fn, onErr)
		cancel()
		wg.Wait()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// followWeights says how many follows a watch stream spends on each
// contact or group member (three, and two for each device of theirs after
// the first: its messages and receipts), and on the user's own (the
// inbox and welcomes, and for each other device its copies and welcomes).
func (c *Client) followWeights() (weight func(string) int, own int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := map[string]int{}
	for _, ct := range c.conversations() {
		w[ct.Name] = max(w[ct.Name], 3+2*max(len(devicesOf(ct.Record))-1, 0))
	}
	return func(n string) int { return max(w[n], 3) }, 2 + 2*max(len(devicesOf(c.mine))-1, 0)
}

// splitByWeight cuts names, in order, into parts whose weights add up to
// at most budget (the first part's after reserve); each part holds at
// least one name, and there is always a first part (perhaps empty).
func splitByWeight(names []string, weight func(string) int, budget, reserve int) [][]string {
	parts := [][]string{nil}
	used := reserve
	for _, n := range names {
		last := len(parts) - 1
		if w := weight(n); used+w > budget && len(parts[last]) > 0 {
			parts, used = append(parts, nil), 0
			last++
		}
		parts[last] = append(parts[last], n)
		used += weight(n)
	}
	return parts
}

// watchPlan maps each hub to follow to the contacts and group members
// (linked) followed there (every hub of the user's is in it, for the
// inbox).
func (c *Client) watchPlan() map[string][]string {
	plan := map[string][]string{}
	for _, url := range c.ownHubs() {
		plan[url] = nil
	}
	c.mu.Lock()
	convs := c.conversations()
	c.mu.Unlock()
	for _, ct := range convs {
		name := ct.Name
		if c.isBlocked(name) || c.closed(ct) != nil {
			continue // a blocked contact's hubs are not even followed, nor those of one whose keys changed
		}
		hubs, _ := c.whereIs(ct)
		// Every hub of theirs: while one is down, another still announces.
		for _, url := range hubs {
			if !slices.Contains(plan[url], name) { // a contact and a group link of the same name
				plan[url] = append(plan[url], name)
			}
		}
	}
	for _, names := range plan {
		slices.Sort(names)
	}
	return plan
}

// maintain runs Watch's periodic work until ctx ends or the plan of what
// to follow changes (a new contact, a contact's new hubs).
func (c *Client) maintain(ctx context.Context, plan map[string][]string, devs string, lastRefresh *time.Time, mineDue *atomic.Int64, requests *announcer, fn func(Notice), onErr func(error)) {
	t := time.NewTicker(c.timings.Maintenance)
	defer t.Stop()
	lastBackup := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if expired, err := c.expire(ctx); err != nil && ctx.Err() == nil {
			onErr(err)
		} else if expired {
			fn(Notice{Kind: NoticeExpired})
		}
		if c.hasQueued() {
			c.Flush(ctx) // what fails stays queued, as the send said
		}
		if c.groupsWaiting() { // links to open, keys to give or to get (new links' events come through the streams)
			ms, err := c.syncGroups(ctx, false, true)
			for _, m := range ms {
				c.arrived(fn, m)
			}
			if err != nil && ctx.Err() == nil {
				onErr(err)
			}
		}
		if requests.retry() { // a sender that was not provable yet may be now
			c.announceRequests(ctx, requests, fn, onErr)
		}
		if time.Since(lastBackup) >= c.timings.Backup {
			lastBackup = time.Now()
			if err := c.Backup(ctx); err != nil && ctx.Err() == nil { // a no-op unless on and changed
				onErr(err)
			}
		}
		if time.Since(*lastRefresh) >= c.timings.Refresh {
			*lastRefresh = time.Now()
			for _, n := range c.Contacts() {
				if ctx.Err() != nil {
					return
				}
				// Adopts new hubs; a key change closes the conversation, said at once.
				if err := c.CheckKeys(ctx, n); errors.Is(err, ErrKeysChanged) {
					onErr(err)
				}
			}
			c.mu.Lock()
			var linked []string
			for n := range c.links {
				if c.contacts[n] == nil {
					linked = append(linked, n)
				}
			}
			c.mu.Unlock()
			for _, n := range linked { // group members who are not contacts
				if ctx.Err() != nil {
					return
				}
				if err := c.CheckKeys(ctx, n); errors.Is(err, ErrKeysChanged) {
					onErr(err)
				}
			}
			if err := c.CheckOwnRecord(ctx); errors.Is(err, ErrNotMine) {
				onErr(err) // said at once: the user may need to act
			}
			c.refreshMine(ctx)
		}
		if time.Now().UnixNano() < mineDue.Load() {
			c.refreshMine(ctx) // a device was approved lately: follow it as soon as this node verifies it
		}
		if !maps.EqualFunc(plan, c.watchPlan(), slices.Equal) || devs != c.deviceSet() {
			return // a new contact, new hubs, or a device added or removed: follow them
		}
	}
}

// WatchTimings are the periods of Watch's work (DefaultWatchTimings).
type WatchTimings struct {
	// Maintenance is how often Watch expires disappearing messages,
	// retries queued ones, looks for new contacts and checks again
	// requests whose sender the chain did not prove yet.
	Maintenance time.Duration
	// Refresh is how often Watch looks contacts up on the chain again;
	// Backup, how often it brings the backup up to date (if it is on and
	// anything changed).
	Refresh, Backup time.Duration
	// A hub's stream that fails is replaced by polling, first after
	// PollFirst, then twice as long each time up to PollMax, while it is
	// tried again.
	PollFirst, PollMax time.Duration
	// ContactsPerStream is how many contacts one change stream follows
	// if each has one device (three follows each, under the hub's 5,000):
	// a stream takes 3 × ContactsPerStream follows, each device of a
	// contact's after the first two more.
	ContactsPerStream int
}

// defaultWatchTimings are Watch's periods unless WithWatchTimings says
// otherwise: maintenance every 5 s, contacts looked up hourly, the backup
// brought up to date every minute, polling from 1 s doubling to 30 s,
// 1,600 contacts a stream.
func defaultWatchTimings() WatchTimings {
	return WatchTimings{Maintenance: 5 * time.Second, Refresh: time.Hour, Backup: time.Minute,
		PollFirst: time.Second, PollMax: 30 * time.Second, ContactsPerStream: 1600}
}

// WithWatchTimings sets the periods of Watch's work; a field left zero
// keeps its default.
func WithWatchTimings(w WatchTimings) Option {
	return func(c *Client) {
		d := defaultWatchTimings()
		c.timings = WatchTimings{Maintenance: cmp.Or(w.Maintenance, d.Maintenance), Refresh: cmp.Or(w.Refresh, d.Refresh),
			Backup: cmp.Or(w.Backup, d.Backup), PollFirst: cmp.Or(w.PollFirst, d.PollFirst), PollMax: cmp.Or(w.PollMax, d.PollMax),
			ContactsPerStream: cmp.Or(w.ContactsPerStream, d.ContactsPerStream)}
	}
}

// A Notice is what Watch reports as it happens; Kind says what, and which
// fields are set. A message that arrived is also in the history (History,
// Conversation), unless it was an event that changed another (a reaction,
// an edit, a deletion: the history shows the message it changed).
type Notice struct {
	Kind NoticeKind
	// Conv is the conversation it concerns (zero for NoticeExpired and
	// NoticeRequest).
	Conv Conv
	// Event is what arrived (NoticeMessage), as Receive returns it.
	Event *Event
	// From, Greeting and Time are a contact request's (NoticeRequest):
	// the requester (verified), their greeting, when they asked.
	// Device is the label of the requester's device that wrote it, if
	// not their first (Pending.Device).
	From     string
	Device   string
	Greeting string
	Time     time.Time
}

// A NoticeKind says what a Notice reports.
type NoticeKind int

const (
	// NoticeMessage: a message or an event arrived in Conv (Event).
	NoticeMessage NoticeKind = iota + 1
	// NoticeReceipt: the contact of Conv may have written a new receipt:
	// read it with ReceiptFrom. (Reported after every (re)connection to a
	// hub too, as a receipt may have changed meanwhile.)
	NoticeReceipt
	// NoticeExpired: disappearing messages were removed from the history.
	NoticeExpired
	// NoticeRequest: a contact request arrived in the user's inbox
	// (From, Greeting, Time). Answer it with Answer.
	NoticeRequest
)

// arrived reports the event that brought m through fn.
func (c *Client) arrived(fn func(Notice), m Message) {
	e := m.event()
	fn(Notice{Kind: NoticeMessage, Conv: m.Conv, Event: &e})
}

// announcer reports each inbox request once per Watch, and remembers
// whether a request waits for its sender to become provable. It holds at
// most maxAnnounced requests it reported: past that it keeps only those
// still in the inboxes (each request has an ID of its own, so one that
// left never comes back).
type announcer struct {
	mu      sync.Mutex
	seen    map[string]bool
	waiting bool
}

// maxAnnounced bounds the requests an announcer remembers: several times
// what the inboxes of a few hubs hold (1,000 each by default).
const maxAnnounced = 8192

// fresh returns the requests of pending not reported yet, and notes them;
// the caller holds a.mu.
func (a *announcer) fresh(pending []Pending) []Pending {
	var out []Pending
	for _, p := range pending {
		if id := p.hub + " " + p.ID; !a.seen[id] {
			a.seen[id] = true
			out = append(out, p)
		}
	}
	if len(a.seen) > maxAnnounced {
		clear(a.seen)
		for _, p := range pending {
			a.seen[p.hub+" "+p.ID] = true
		}
	}
	return out
}

// retry reports whether a request waited for its sender at the last look.
func (a *announcer) retry() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.waiting
}

func (c *Client) announceRequests(ctx context.Context, a *announcer, fn func(Notice), onErr func(error)) {
	pending, bad, err := c.Requests(ctx)
	if err != nil {
		if ctx.Err() == nil {
			onErr(err)
		}
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.waiting = false
	for _, err := range bad {
		a.waiting = a.waiting || errors.Is(err, ErrSenderUnknown)
	}
	for _, p := range a.fresh(pending) {
		fn(Notice{Kind: NoticeRequest, From: p.From, Device: p.Device, Time: p.Intro.Time, Greeting: p.Intro.Greeting})
	}
}

// welcomeFollow is how long after a welcome a watch looks its own record
// up at each maintenance tick, until the new device shows.
const welcomeFollow = 2 * time.Minute

// watchHub follows names' messages on the hub at url, and the user's
// inbox there if inbox (url is one of the user's hubs), and the welcomes
// the user's devices write there (a device approved: welcomed is called).
func (c *Client) watchHub(ctx context.Context, url string, names []string, inbox bool, requests *announcer, welcomed func(), fn func(Notice), onErr func(error)) {
	h, err := c.dial(ctx, url)
	byAddr := map[string][]string{}
	var follows []hubclient.Follow
	if inbox {
		follows = append(follows, hubclient.Follow{Address: c.Address(), Prefix: "_inbox/"})
	}
	for _, n := range names {
		ct := c.memberConv(n)
		if ct == nil {
			continue
		}
		_, addr := c.whereIs(ct)
		if len(byAddr[addr]) == 0 {
			follows = append(follows, hubclient.Follow{Address: addr, Prefix: "m/"}, hubclient.Follow{Address: addr, Prefix: "g/"},
				hubclient.Follow{Address: addr, Prefix: "r/"})
		}
		byAddr[addr] = append(byAddr[addr], n)
		c.mu.Lock()
		devs := devicesOf(ct.Record)
		c.mu.Unlock()
		for _, d := range devs[min(1, len(devs)):] { // the contact's other devices write in buckets of their own
			a := auth.NativeAddress(d.Key[:])
			if len(byAddr[a]) == 0 { // messages, receipts in device-pair sessions, and group messages
				follows = append(follows, hubclient.Follow{Address: a, Prefix: "m/"}, hubclient.Follow{Address: a, Prefix: "r/"}, hubclient.Follow{Address: a, Prefix: "g/"})
			}
			byAddr[a] = append(byAddr[a], n)
		}
	}
	selfAddr := map[string]bool{} // the user's other devices, on the user's hubs: copies
	ownAddr := map[string]bool{}  // every device of the user's: the welcomes they write
	if inbox {
		c.refreshMine(ctx)
		c.mu.Lock()
		me := c.myDevice().Device
		ownAddr[c.Address()] = true
		follows = append(follows, hubclient.Follow{Address: c.Address(), Prefix: wire.WelcomePrefix})
		for _, d := range devicesOf(c.mine) {
			if a := auth.NativeAddress(d.Key[:]); d.Key != me && !selfAddr[a] {
				selfAddr[a], ownAddr[a] = true, true
				follows = append(follows, hubclient.Follow{Address: a, Prefix: "m/"}, hubclient.Follow{Address: a, Prefix: "g/"}, hubclient.Follow{Address: a, Prefix: wire.WelcomePrefix})
			}
		}
		c.mu.Unlock()
	}
	catchUpCopies := func() {
		ms, err := c.receiveCopies(ctx)
		for _, m := range ms {
			c.arrived(fn, m)
		}
		if err != nil && ctx.Err() == nil {
			onErr(err)
		}
	}
	catchUp := func(names []string, groups bool) {
		for _, n := range names {
			var (
				ms  []Message
				err error
			)
			if _, cerr := c.contact(n); cerr == nil {
				ms, err = c.receive(ctx, ContactConv(n))
			}
			lms, lerr := c.receiveLinks(ctx, n)
			ms, err = append(ms, lms...), cmp.Or(err, lerr)
			for _, m := range ms {
				c.arrived(fn, m)
				groups = groups || m.Kind == wire.KindGroup
			}
			if err != nil && ctx.Err() == nil {
				onErr(err)
			}
		}
		// Group device links (a key, a roster, a read marker from another
		// device) are read whatever changed: a device's bucket holds them
		// among its messages.
		if got, err := c.receiveGLinks(ctx); got {
			groups = true
		} else if err != nil && ctx.Err() == nil {
			onErr(err)
		}
		if groups {
			ms, err := c.syncGroups(ctx, false, true)
			for _, m := range ms {
				c.arrived(fn, m)
			}
			if err != nil && ctx.Err() == nil {
				onErr(err)
			}
		}
	}
	cursor, backoff := "", c.timings.PollFirst
	for ctx.Err() == nil {
		if err == nil {
			err = h.Watch(ctx, follows, cursor, func(ev hubclient.Event) error {
				switch ev.Kind {
				case "ready", "reset":
					catchUp(names, true)
					if len(selfAddr) > 0 {
						catchUpCopies()
					}
					for _, n := range names { // a receipt may have changed while not connected
						fn(Notice{Kind: NoticeReceipt, Conv: ContactConv(n)})
					}
					if inbox {
						c.announceRequests(ctx, requests, fn, onErr)
					}
				case "change":
					if ev.Op == "put" && strings.HasPrefix(ev.Path, "_inbox/") && ev.Address == c.Address() {
						c.announceRequests(ctx, requests, fn, onErr)
					} else if ev.Op == "put" && strings.HasPrefix(ev.Path, wire.WelcomePrefix) && ownAddr[ev.Address] {
						welcomed()
					} else if ev.Op == "put" && strings.HasPrefix(ev.Path, "r/") {
						for _, n := range byAddr[ev.Address] {
							fn(Notice{Kind: NoticeReceipt, Conv: ContactConv(n)})
						}
					} else if ev.Op == "put" && strings.HasPrefix(ev.Path, "g/") {
						catchUp(nil, true)
					} else if ev.Op == "put" && selfAddr[ev.Address] {
						catchUpCopies()
						catchUp(nil, false) // or a group event from another of the user's devices
					} else if ev.Op == "put" {
						catchUp(byAddr[ev.Address], false)
					}
				}
				if ev.Cursor != "" {
					cursor = ev.Cursor
				}
				backoff = c.timings.PollFirst
				return nil
			})
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, hubclient.ErrWatchEnded) {
			onErr(err)
		}
		// Unreachable or stream ended: poll, then try to watch again.
		catchUp(names, true)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, max(c.timings.PollMax, c.timings.PollFirst))
		if h == nil {
			h, err = c.dial(ctx, url)
		} else {
			err = nil
		}
	}
}
