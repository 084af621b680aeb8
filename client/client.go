package client

import (
	"cmp"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/client/group"
	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/outbox"
	"github.com/parley-im/parley/client/ratchet"
	"github.com/parley-im/parley/client/store"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
)

// Directory returns name records whose proofs have been verified
// (lookup.Client is the real one). A name proved absent is an error
// wrapping lookup.ErrNotFound.
type Directory interface {
	Lookup(ctx context.Context, name string) (*bns.Record, error)
}

// Errors.
var (
	ErrNotContact = errors.New("client: not a contact")
	ErrNoKeys     = errors.New("client: the name publishes no usable keys")
	// ErrQueued: the message is sealed and saved, but the hub did not take
	// it yet; Flush (run by every later Send, and at start by the CLI)
	// delivers it. A *QueuedError says why.
	ErrQueued = errors.New("client: message queued")
	// ErrSenderUnknown: a contact request names a sender the chain does
	// not prove (yet): a name registered moments ago may not be provable
	// to this device's node. The request stays in the inbox and is
	// checked again later (Requests, and a running Watch).
	ErrSenderUnknown = errors.New("client: the sender's name is not on the chain yet")
	// ErrOwnName: the user's own name where another's is needed (adding
	// oneself as a contact).
	ErrOwnName = errors.New("client: that is your own name")
	// ErrAlreadyContact: the name is a contact already.
	ErrAlreadyContact = errors.New("client: already a contact")
	// ErrNoAnswer: the user asked the name already (a request in their
	// inbox, or an introduction) and they have not answered.
	ErrNoAnswer = errors.New("client: asked already, no answer yet")
)

// QueuedError is ErrQueued with why. The message (or request) is sealed
// and saved on this device, and Flush, run by every later command, sends
// it once a hub takes it.
type QueuedError struct {
	To string
	// Request: the contact request to To has reached none of To's hubs
	// yet (Hubs), or, Intro, the introduction none of the user's hubs
	// (Hubs). The message may be on the user's hubs already, but To
	// cannot read it before the request. Else no hub of the user's (Hubs)
	// took the message yet.
	Request bool
	Intro   bool
	Hubs    []string
	Err     error // what the hubs answered
}

func (e *QueuedError) Error() string {
	switch {
	case e.Intro:
		return fmt.Sprintf("client: queued: the introduction to %s is on none of your hubs yet: %v", e.To, e.Err)
	case e.Request:
		return fmt.Sprintf("client: queued: the contact request to %s reached none of their hubs yet: %v", e.To, e.Err)
	}
	return fmt.Sprintf("client: queued: no hub of yours took it yet: %v", e.Err)
}

// Is makes a *QueuedError match ErrQueued.
func (e *QueuedError) Is(target error) bool { return target == ErrQueued }

func (e *QueuedError) Unwrap() error { return e.Err }

// Client is one user.
type Client struct {
	Name string
	id   *keystore.Identity
	dir  Directory
	http *http.Client // nil: hubclient's default
	now  func() time.Time

	window       time.Duration        // a disappearing message's least lifetime on the hubs (expiry.go)
	backupKDF    keystore.KDF         // the backup's Argon2id cost (WithBackupKDF)
	timings      WatchTimings         // Watch's periods (WithWatchTimings)
	receiptAsked map[string]time.Time // when expire last read a contact's receipt

	writeFile func(path string, data []byte) error // writes the state file (nil: the store's own; tests)

	// own is every hub the user writes to, the first asked first: a list
	// never changed once stored (setOwn, SetHubs store a new one), so
	// that the watch's goroutines read it (ownHubs) with no lock.
	own atomic.Pointer[[]string]

	ownKnown bool   // own is what the chain said at New (else the state's copy is taken when loaded)
	ownSeq   uint64 // the sequence number of the record own comes from

	mu             sync.Mutex                   // guards the state below; never held across a network call or a disk write
	flushMu        sync.Mutex                   // one Flush at a time (held across hub calls: a second Flush, to the same hubs, waits)
	selfMu         sync.Mutex                   // one read of the self sessions at a time (held across hub calls)
	glinkMu        sync.Mutex                   // one read of the group device links, or of a group's other-device senders, at a time (held across hub calls)
	hubs           map[hubKey]*hubclient.Client // connections, made on first use
	contacts       map[string]*Contact
	links          map[string]*Contact // group links, by the other member's name (link.go)
	history        []Message
	blocked        map[string]bool // names whose requests and messages are refused
	readReceipts   bool
	settingAt      map[string]stamp // per setting, when and where it took its value (settings.go)
	profile        ownProfile
	book           *group.Book               // the groups (package group: the state machine)
	groupOut       map[string]*outbox.Stream // the user's stream in each group, by ID
	uploads        map[upKey]*pendingUpload  // files being sent, by conversation and path
	doomedPaths    []string                  // deleted messages and files, not yet removed from every hub
	statePath      string                    // where the state lives ("": nowhere)
	backup         *backupConfig             // nil: no backup
	saves          uint64                    // state changes so far
	store          *store.Store              // the state file and history log (nil: not persisted)
	changes        *store.Changes            // what changed in the history since the last save
	backupDue      bool                      // the state changed since the last backup reached a hub (persisted)
	device         device                    // this device (restored.go)
	backupETag     string                    // the ETag of the backup this device last wrote or read
	superseded     *device                   // the device the identity was restored on, once this one learned it
	restoreChecked bool                      // writable read the backup's ETag in this run
	seen           map[string]seenRecord     // names found with their confirmed keys, and at which verified height (keychange.go)
	down           map[string]downHub        // hubs that did not answer lately, by URL
	mine           *bns.Record               // the user's own record as last looked up: its devices (devices.go)
	mineHeight     int64                     // the verified height mine was looked up at
	self           []*devSession             // self sessions with the user's other devices (devices.go)
	glinks         []*devSession             // group device links (groupdevices.go)
	gseen          map[string]seenRecord     // group members' records by height, for their devices (groupRecord; at most maxSeen)
	copies         []Message                 // what they wrote in conversations not yet read since (at most maxCopies)

	offMu   sync.Mutex
	offline []*OfflineError // what did not answer, for Offline
}

// downHub is a hub that did not answer, and when it is asked again.
type downHub struct {
	err   error
	until time.Time
}

// retryDown is how long a hub that did not answer is not asked again.
const retryDown = 10 * time.Second

// Contact is a conversation with one name.
type Contact struct {
	Name            string
	Record          *bns.Record // as verified when the contact was made
	mutual          [32]byte
	keys            wire.Keys
	ratchet         *ratchet.State
	nextRecv        uint64        // messages fetched from them: "delivered"
	readUpTo        uint64        // messages from them the user has seen: "read"
	out             outbox.Stream // my direction
	timer           time.Duration // disappearing messages: 0 off
	dropBelow       uint64        // messages sent while they were blocked: read, never shown
	quiet           [2]int64      // [from, to), Unix ms of their clock: sent while blocked by another of the user's devices, never shown (settings.go)
	skipped         []wire.Span   // those runs, as the receipt tells them
	theirProfileKey []byte
	theirProfile    *wire.Profile       // as last read under theirProfileKey (nil: never)
	theirReceipt    *wire.Receipt       // theirs, as last read (nil: never)
	receiptOwed     bool                // the user's receipt for them reached no hub yet
	sentProfileKey  []byte              // the profile key they were last given
	receiptKey      []byte              // where the user's receipt for them lives, once rotated by a block (nil: keys.RecvKey)
	sentReceiptKey  []byte              // the receipt key they were last given
	theirReceiptKey []byte              // where their receipt for the user lives, if they rotated it (nil: keys.SendKey)
	verified        string              // the safety number the user compared in person ("": not verified)
	started         time.Time           // when the conversation's introduction was made
	stale           bool                // restored from a backup older than the conversation: reset it
	nextN           uint64              // the number of the user's next text message to them (0: 1)
	asked           asking              // the user asked them and they have not answered yet
	request         []byte              // the request's envelope, while no hub took it
	requestCopies   []store.RequestCopy // the request sealed to each of their other devices, while no hub took it
	introPath       string              // where request goes on the user's hubs (case 1); "": their inbox
	requestErr      error               // why the last try to deliver it failed (not saved)
	changed         *bns.Record         // the chain's record once it no longer holds the confirmed keys: the conversation is closed
	link            bool                // a group link (link.go): group events only, never listed as a contact
	recvMu          sync.Mutex          // one Receive at a time per contact (held across hub calls: a second Receive of the same contact waits)
	// devs are the device-pair sessions with the contact's devices other
	// than the name session's (devices.go); nextS numbers this device's
	// events in the conversation when it runs no name session (ratchet
	// nil: a device that is not the user's first).
	devs  []*devSession
	nextS uint64
	// readDev is what the user has read of each of the contact's devices
	// other than the first (by Message.Device): their events below it
	// (readUpTo is the first device's).
	readDev map[string]uint64
	// gotDev is, by the contact's device (Message.Device), one past the
	// greatest sequence number this device fetched of it on device-pair
	// sessions: "delivered" in this device's receipts there.
	gotDev map[string]uint64
}

// readBelow is what the user has read of the contact's device dev
// (Message.Device); the caller holds c.mu.
func (ct *Contact) readBelow(dev string) uint64 {
	if dev == "" {
		return ct.readUpTo
	}
	return ct.readDev[dev]
}

// markRead raises what the user has read of the contact's device dev to
// below; the caller holds c.mu. It reports whether that changed anything.
func (ct *Contact) markRead(dev string, below uint64) bool {
	if below <= ct.readBelow(dev) {
		return false
	}
	if dev == "" {
		ct.readUpTo = below
		return true
	}
	if ct.readDev == nil {
		ct.readDev = map[string]uint64{}
	}
	ct.readDev[dev] = below
	return true
}

// asking is how the user asked a contact who has not answered yet.
type asking string

const (
	askedNot     asking = ""        // answered, or they asked the user
	askedRequest asking = "request" // case 2: a request in their inbox
	askedIntro   asking = "intro"   // case 1: an introduction on the user's hubs
)

// receiptPath is where the user keeps, on its own hub, the receipt for
// the contact's messages; theirReceiptPath is where the contact keeps
// theirs. Both start under the conversation's path keys; a block moves the
// user's under a fresh key. The caller holds c.mu.
func (ct *Contact) receiptPath() string {
	if ct.receiptKey != nil {
		return wire.ReceiptPath([32]byte(ct.receiptKey))
	}
	return wire.ReceiptPath(ct.keys.RecvKey)
}

func (ct *Contact) theirReceiptPath() string {
	if ct.theirReceiptKey != nil {
		return wire.ReceiptPath([32]byte(ct.theirReceiptKey))
	}
	return wire.ReceiptPath(ct.keys.SendKey)
}

// whereIs returns ct's hubs and its bucket address there, as the record
// the user holds now says (CheckKeys and ConfirmKeys replace it under
// c.mu); the caller does not hold c.mu.
func (c *Client) whereIs(ct *Contact) (hubs []string, addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ct.Record.Profile.Hubs, ct.address()
}

// address is the contact's bucket on its hubs.
func (ct *Contact) address() string { return auth.NativeAddress(ct.Record.Profile.SigningKey[:]) }

// Option adjusts a Client.
type Option func(*Client)

// WithHTTPClient makes the client reach hubs through hc.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithClock replaces the clock (for tests of disappearing messages).
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// with applies opts to c and returns c.
func (c *Client) with(opts []Option) *Client {
	for _, o := range opts {
		o(c)
	}
	return c
}

// New makes a client for name, whose identity id is registered on the chain
// with homeHub as its hub. It does not need the hubs to be up: it connects
// on first use, and messages sent meanwhile queue.
func New(ctx context.Context, name string, id *keystore.Identity, dir Directory, homeHub string, opts ...Option) (*Client, error) {
	c := &Client{Name: name, id: id, dir: dir, hubs: map[hubKey]*hubclient.Client{}, contacts: map[string]*Contact{}, links: map[string]*Contact{},
		blocked: map[string]bool{}, uploads: map[upKey]*pendingUpload{}, book: group.New(name), groupOut: map[string]*outbox.Stream{}, changes: &store.Changes{}, readReceipts: true, settingAt: map[string]stamp{}, now: time.Now,
		window: DefaultDeliveryWindow, receiptAsked: map[string]time.Time{}, backupKDF: keystore.DefaultKDF(), timings: defaultWatchTimings()}
	c.own.Store(&[]string{homeHub})
	c.with(opts)
	c.http = offlineHTTP(c.http)
	c.device = newDevice(0, c.now())
	c.down, c.seen, c.gseen = map[string]downHub{}, map[string]seenRecord{}, map[string]seenRecord{}
	// The chain says which hubs the user publishes; messages go to all.
	// With the chain down, the state's copy says (Open).
	if rec, err := c.lookup(ctx, name); err == nil {
		c.setOwn(rec.Profile.Hubs)
		c.ownKnown, c.ownSeq = true, rec.Seq
		c.mine = rec
	}
	return c, nil
}

// setOwn makes hubs, after the home hub, the user's hubs.
func (c *Client) setOwn(hubs []string) {
	own := c.ownHubs()[:1:1]
	for _, u := range hubs {
		if u != own[0] {
			own = append(own, u)
		}
	}
	c.own.Store(&own)
}

// ownHubs returns the user's hubs, the first asked first. The caller may
// not change the slice.
func (c *Client) ownHubs() []string { return *c.own.Load() }

// hubKey names a connection: to a hub, as one of the user's (with the
// key, tokens bound to that hub) or as anyone else's (without).
type hubKey struct {
	url string
	own bool
}

// dial returns a connection to the hub at url: one that holds the user's
// key if url is one of the user's hubs, else one that can never send a
// token of the user's (reads, inbox posts and watches of other people's
// hubs need none).
func (c *Client) dial(ctx context.Context, url string) (*hubclient.Client, error) {
	return c.dialAs(ctx, hubKey{url, slices.Contains(c.ownHubs(), url)})
}

// dialOwn returns a connection with the user's key to the hub at url, a
// hub the user is moving to or leaving (not, or no longer, in the list).
func (c *Client) dialOwn(ctx context.Context, url string) (*hubclient.Client, error) {
	return c.dialAs(ctx, hubKey{url, true})
}

func (c *Client) dialAs(ctx context.Context, k hubKey) (*hubclient.Client, error) {
	c.mu.Lock()
	h, down := c.hubs[k], c.down[k.url]
	c.mu.Unlock()
	if h != nil {
		return h, nil
	}
	if down.err != nil && time.Now().Before(down.until) {
		return nil, c.noteOffline(down.err)
	}
	var key ed25519.PrivateKey
	if k.own {
		key = c.id.SigningKey()
	}
	h, err := hubclient.Dial(ctx, k.url, key, c.http)
	if err != nil {
		if IsOffline(err) {
			c.mu.Lock()
			c.down[k.url] = downHub{err, time.Now().Add(retryDown)}
			c.mu.Unlock()
		}
		return nil, c.noteOffline(err)
	}
	c.mu.Lock()
	c.hubs[k] = h
	delete(c.down, k.url)
	c.mu.Unlock()
	return h, nil
}

func x25519Of(rec *bns.Record) (*ecdh.PublicKey, error) {
	for _, k := range rec.Profile.EncKeys {
		if k.KEM == bns.KEMX25519 {
			return ecdh.X25519().NewPublicKey(k.Key)
		}
	}
	return nil, fmt.Errorf("%w: %s has no X25519 key", ErrNoKeys, rec.Name)
}

func (c *Client) myX25519() (*ecdh.PrivateKey, error) {
	k, err := c.id.X25519Key()
	if err != nil {
		return nil, err
	}
	b, err := k.Bytes()
	if err != nil {
		return nil, err
	}
	return ecdh.X25519().NewPrivateKey(b)
}

// Request asks name to become a contact (the thesis's case 2): a fresh
// mutual key, sealed to name's verified key and signed by ours, with the
// greeting's preview (wire.GreetingPreview), goes into the inbox of the
// first of name's hubs that takes it, and the greeting, unless "", follows
// as the first message on our hubs.
//
// The contact is made, and the request saved, before anything is sent. If
// no hub of name's takes the request, it stays queued (Flush delivers it;
// Asking says RequestQueued) and the error is a *QueuedError with Request
// set; so is a later message to name until the request has gone out.
// Asking oneself gives ErrOwnName; a contact, ErrAlreadyContact; a name
// asked already, ErrNoAnswer; a request still queued is tried again.
func (c *Client) Request(ctx context.Context, name, greeting string) error {
	if name == c.Name {
		return fmt.Errorf("%w: %s", ErrOwnName, name)
	}
	if greeting != "" {
		if err := CheckText(greeting); err != nil {
			return err
		}
	}
	if ct, err := c.contact(name); err == nil {
		return c.askedAgain(ctx, ct)
	}
	if err := c.writable(ctx, false); err != nil {
		return err
	}
	rec, err := c.lookup(ctx, name)
	if err != nil {
		return err
	}
	their, err := x25519Of(rec)
	if err != nil {
		return err
	}
	if len(rec.Profile.Hubs) == 0 || rec.Profile.SigningKey.IsZero() {
		return fmt.Errorf("%w: %s", ErrNoKeys, name)
	}
	if c.LinkedDevice(ctx) {
		// What the user's other devices made since this one last read
		// them: a contact there is one here too, not asked again.
		c.SyncCopies(ctx)
		if ct, err := c.contact(name); err == nil {
			return c.askedAgain(ctx, ct)
		}
	}
	ct, err := c.begin(rec, their, greeting, "")
	if err != nil {
		return err
	}
	if err := c.tellOwnDevices(ctx, name, ct.mutual); err != nil {
		return err
	}
	return c.ask(ctx, ct, greeting)
}

// ask sends what begin queued (ct's request or introduction) and the
// greeting, if not "": a *QueuedError while the request is not out.
func (c *Client) ask(ctx context.Context, ct *Contact, greeting string) error {
	if greeting != "" {
		return c.Send(ctx, ct.Name, greeting) // its Flush delivers the request
	}
	err := c.Flush(ctx)
	if q := c.requestQueued(ct); q != nil {
		return q
	}
	return err
}

// askedAgain answers Request for a name that is a contact already: a
// request still queued is tried again.
func (c *Client) askedAgain(ctx context.Context, ct *Contact) error {
	c.mu.Lock()
	queued := ct.request != nil
	c.mu.Unlock()
	if queued {
		c.Flush(ctx)
		if q := c.requestQueued(ct); q != nil {
			return q
		}
		return nil
	}
	switch c.Asking(ctx, ct.Name) {
	case RequestSent, IntroWritten:
		return fmt.Errorf("%w: you asked %s already", ErrNoAnswer, ct.Name)
	}
	return fmt.Errorf("%w: %s", ErrAlreadyContact, ct.Name)
}

// requestQueued returns the *QueuedError of ct's request while no hub
// took it, else nil.
func (c *Client) requestQueued(ct *Contact) *QueuedError {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ct.request == nil {
		return nil
	}
	q := &QueuedError{To: ct.Name, Request: true, Intro: ct.introPath != "", Hubs: ct.Record.Profile.Hubs, Err: ct.requestErr}
	if q.Intro {
		q.Hubs = c.ownHubs()
	}
	return q
}

// deliverRequest sends ct's queued request: to the inbox of the first of
// their hubs that takes it, or, an introduction, to the user's hubs (one
// is enough: the reader tries each); and the request's copies for their
// other devices. It reports whether anything went out; the caller does
// not hold c.mu and saves.
func (c *Client) deliverRequest(ctx context.Context, ct *Contact) bool {
	c.mu.Lock()
	env, introPath, copies := ct.request, ct.introPath, slices.Clone(ct.requestCopies)
	c.mu.Unlock()
	copied := false
	if len(copies) > 0 && c.writeAll() == nil {
		copied = c.deliverCopies(ctx, ct, copies)
	}
	if env == nil {
		return copied
	}
	// The contact it makes is on disk before it goes out.
	err := c.writeAll()
	if err != nil {
		err = fmt.Errorf("save first: %w", err)
	} else if introPath != "" {
		err = c.putOwn(ctx, introPath, env)
	} else {
		hubs, addr := c.whereIs(ct)
		var errs []error
		for _, url := range hubs {
			h, derr := c.dial(ctx, url)
			if derr == nil {
				// A stamp used already is this very post, taken before (its
				// answer lost): the stamp covers the envelope and the second.
				if _, derr = h.InboxPost(ctx, addr, env); derr == nil || errors.Is(derr, hub.ErrStampUsed) {
					errs = nil
					break
				}
			}
			errs = append(errs, &HubError{URL: url, Err: derr})
		}
		err = errors.Join(errs...)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		ct.requestErr = err
		return false
	}
	ct.request, ct.requestErr = nil, nil
	return true
}

// deliverCopies posts the request's copies for the contact's other
// devices, each to its device's inbox on the first of the contact's hubs
// that takes it; those posted leave ct (the rest are tried at the next
// Flush). The caller does not hold c.mu and saves.
func (c *Client) deliverCopies(ctx context.Context, ct *Contact, copies []store.RequestCopy) bool {
	hubs, _ := c.whereIs(ct)
	var sent []string
	for _, rc := range copies {
		for _, url := range hubs {
			h, err := c.dial(ctx, url)
			if err != nil {
				continue
			}
			if _, err = h.InboxPost(ctx, rc.Addr, rc.Env); err == nil || errors.Is(err, hub.ErrStampUsed) {
				sent = append(sent, rc.Addr)
				break
			}
		}
	}
	c.mu.Lock()
	ct.requestCopies = slices.DeleteFunc(ct.requestCopies, func(rc store.RequestCopy) bool { return slices.Contains(sent, rc.Addr) })
	c.mu.Unlock()
	return len(sent) > 0
}

// HubError is a hub's failure, with its URL.
type HubError struct {
	URL string
	Err error
}

func (e *HubError) Error() string { return e.URL + ": " + e.Err.Error() }
func (e *HubError) Unwrap() error { return e.Err }

// Asking says where a contact the user asked stands.
type Asking int

const (
	Answered      Asking = iota // nothing waits: they answered, or they asked the user
	RequestQueued               // the request reached none of their hubs yet (Flush sends it)
	RequestSent                 // the request is in their inbox; they have not accepted it yet
	IntroWritten                // case 1: the introduction waits on the user's hubs; they have not added the user yet
)

// Asking says where the user's request to (or introduction of) name
// stands. They have answered once a message or a receipt of theirs is
// found for the conversation (asked of their hubs here); a hub that does
// not answer leaves the state as it was.
func (c *Client) Asking(ctx context.Context, name string) Asking {
	ct, err := c.contact(name)
	if err != nil {
		return Answered
	}
	c.mu.Lock()
	asked, queued, heard := ct.asked, ct.request != nil, ct.nextRecv > 0
	path := ct.theirReceiptPath()
	devicesOnly := ct.ratchet == nil
	c.mu.Unlock()
	switch {
	case queued:
		return RequestQueued
	case asked == askedNot:
		return Answered
	case devicesOnly:
		// No name session: they answered once a device of theirs wrote
		// to this one (Receive sees it).
		if asked == askedIntro {
			return IntroWritten
		}
		return RequestSent
	case !heard:
		hubs, addr := c.whereIs(ct)
		_, err := c.getVerified(ctx, hubs, addr, path, func(b []byte) error {
			_, err := wire.OpenReceipt(ct.keys.Header, path, b)
			return err
		})
		if err != nil {
			if asked == askedIntro {
				return IntroWritten
			}
			return RequestSent
		}
	}
	c.mu.Lock()
	ct.asked = askedNot
	c.saveUnlock() // else it is found again next time
	return Answered
}

// begin starts a conversation as its first sender: a fresh mutual key,
// the introduction carrying it (sealed to rec's key, signed by ours, with
// greeting's preview) and the contact, saved with the introduction queued
// for Flush: a request for rec's inbox, or, if introPath is not "", an
// introduction to write there on the user's hubs (case 1).
func (c *Client) begin(rec *bns.Record, their *ecdh.PublicKey, greeting, introPath string) (*Contact, error) {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return nil, err
	}
	in := wire.Intro{From: c.Name, To: rec.Name, MutualKey: k, Time: c.now().Truncate(time.Second), Greeting: wire.GreetingPreview(greeting)}
	env, err := wire.SealIntro(c.id.SigningKey(), in, rec)
	if err != nil {
		return nil, err
	}
	var copies []store.RequestCopy
	if introPath == "" {
		// A request reaches every device of theirs: each other device
		// gets it, sealed to its own keys, in its own inbox.
		for _, d := range devicesOf(rec)[1:] {
			denv, err := wire.SealRequestToDevice(c.id.SigningKey(), in, d.EncKeys)
			if err != nil {
				return nil, err
			}
			copies = append(copies, store.RequestCopy{Addr: auth.NativeAddress(d.Key[:]), Env: denv})
		}
	}
	ct := &Contact{Name: rec.Name, Record: rec, mutual: k, keys: wire.ConversationKeys(k, c.Name, rec.Name), ratchet: ratchet.InitAlice(k, their, nil),
		started: in.Time, asked: askedRequest, request: env, requestCopies: copies, introPath: introPath}
	c.mu.Lock()
	linked := c.linked()
	c.mu.Unlock()
	if linked && introPath == "" {
		// Signed by a device that is not the user's first: the
		// conversation runs on device-pair sessions only, on both sides
		// (docs/protocol.md, Requests from any device); K names the request.
		ct.ratchet, ct.keys = nil, wire.Keys{}
	}
	if introPath != "" {
		ct.asked = askedIntro
	}
	return ct, c.addContact(ct)
}

// Pending is a contact request waiting in the user's inbox; Intro.Greeting
// is what it says (empty from older clients).
type Pending struct {
	ID    string
	From  string
	Intro *wire.Intro
	// Device is the label of the sender's device that wrote the request,
	// if it is not their first ("": their first device).
	Device string
	hub    string        // the hub whose inbox holds it
	signer bns.PublicKey // the device that signed it (its sender's record lists it)
}

// fromLinked reports whether a device other than the sender's first
// wrote p: accepted, it makes a conversation on device-pair sessions only.
func (p Pending) fromLinked() bool { return p.Device != "" }

// Requests opens the envelopes in the inboxes of the user's hubs.
// Envelopes that do not open or whose signature the chain does not vouch
// for are reported in bad (by id; those that never will wrap
// ErrUndecodable, and ClearUndecodable removes them); one whose sender
// the chain proves absent wraps ErrSenderUnknown and stays, to be checked
// again. A hub
// that does not answer is left out; if none answers, err says why.
func (c *Client) Requests(ctx context.Context) (ok []Pending, bad map[string]error, err error) {
	bad = map[string]error{}
	var errs []error
	own := c.ownHubs()
	for _, url := range own {
		if err := c.requestsOn(ctx, url, &ok, bad); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", url, err))
		}
	}
	if len(errs) == len(own) {
		return nil, nil, errors.Join(errs...)
	}
	return ok, bad, nil
}

// requestsOn adds the requests in the inbox on the user's hub at url.
func (c *Client) requestsOn(ctx context.Context, url string, ok *[]Pending, bad map[string]error) error {
	h, err := c.dial(ctx, url)
	if err != nil {
		return err
	}
	entries, err := h.InboxList(ctx)
	if err != nil {
		return err
	}
	for _, e := range entries {
		env, err := h.InboxGet(ctx, e.ID)
		if err != nil {
			bad[e.ID] = err
			continue
		}
		o, err := c.openEnvelope(ctx, env)
		if IsOffline(err) {
			continue // its sender cannot be checked now: it stays for later (Offline says why)
		}
		if errors.Is(err, lookup.ErrNotFound) {
			bad[e.ID] = fmt.Errorf("%w: %w", ErrSenderUnknown, err)
			continue
		}
		if err != nil {
			bad[e.ID] = err
			continue
		}
		in := o.Intro
		p := Pending{ID: e.ID, From: in.From, Intro: in, Device: o.device, hub: url, signer: o.signer}
		twice := slices.ContainsFunc(*ok, func(q Pending) bool { return q.From == in.From && q.Intro.MutualKey == in.MutualKey })
		if c.isBlocked(in.From) || c.isAccepted(p) || twice { // refused unseen, or delivered twice: removed
			h.InboxDelete(ctx, e.ID)
			continue
		}
		*ok = append(*ok, p)
	}
	return nil
}

// isAccepted reports whether in is the request the conversation with its
// sender started from (a request delivered twice: a retry after a post
// whose answer was lost).
//
// A request a linked device of a contact's wrote counts as accepted too,
// while the contact's keys are the confirmed ones: that device asked
// before it learnt that the user is a contact of its name's, and the
// conversation already reads every device of theirs (device-pair
// sessions); it never starts the conversation over.
func (c *Client) isAccepted(p Pending) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct := c.contacts[p.From]
	if ct == nil {
		return false
	}
	// On a linked device, a conversation taken on bare (from a copy, the
	// welcome) is the one the request made on another device of the
	// user's.
	bare := c.linked() && ct.ratchet == nil && ct.mutual == [32]byte{} && ct.changed == nil
	return ct.mutual == p.Intro.MutualKey || bare || p.fromLinked() && ct.changed == nil && !ct.stale && listed(ct.Record, p.signer)
}

// Accept makes the requester a contact and removes the request. A
// request from a contact whose keys on the chain are not the confirmed
// ones is refused with the *KeyChange (and the conversation closed):
// confirming them (ConfirmKeys) is the only way to a new conversation.
// It writes the conversation's (empty) receipt, which tells the requester
// that the request was accepted.
//
// A request that a device other than the requester's first wrote (Device
// not "") makes a conversation on device-pair sessions only: no name
// session, no name-level receipt (docs/protocol.md, Requests from any
// device).
func (c *Client) Accept(ctx context.Context, p Pending) error {
	if c.isAccepted(p) {
		return c.decline(ctx, p)
	}
	rec, err := c.lookup(ctx, p.From)
	if err != nil {
		return err
	}
	if p.fromLinked() && !listed(rec, p.signer) {
		return fmt.Errorf("%w: the device of %s's that asked is no longer on their record", ErrNotContact, p.From)
	}
	mine, err := c.myX25519()
	if err != nil {
		return err
	}
	ct := &Contact{Name: p.From, Record: rec, mutual: p.Intro.MutualKey, keys: wire.ConversationKeys(p.Intro.MutualKey, c.Name, p.From),
		ratchet: ratchet.InitBob(p.Intro.MutualKey, mine, nil), started: p.Intro.Time}
	c.mu.Lock()
	if p.fromLinked() || c.linked() {
		// From a device other than their first, or accepted on a device
		// other than the user's first: device-pair sessions only here (the
		// name session, if any, is the first devices' to run).
		ct.ratchet, ct.keys = nil, wire.Keys{}
	}
	old := c.contacts[p.From]
	if old != nil && !sameKeys(old.Record, rec) {
		// A request from a contact whose keys changed (perhaps a new
		// holder of the name) is no way around confirming them.
		c.mu.Unlock()
		if _, err := c.checkName(ctx, p.From); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s", ErrKeysChanged, p.From)
	}
	if old != nil && old.mutual != p.Intro.MutualKey && !p.Intro.Time.Before(old.started) {
		// A newer request from a contact starts the conversation over
		// (they restored an old backup, or reset it).
		c.startOver(p.From)
	}
	c.mu.Unlock()
	if err := c.addContact(ct); err != nil {
		return err
	}
	if err := c.decline(ctx, p); err != nil {
		return err
	}
	c.writeReceipt(ctx, ct) // best effort: the first read writes it again
	// The user's other devices take the conversation on (each finds the
	// request's copy in its own inbox by its key, or takes it on bare).
	return c.tellOwnDevices(ctx, p.From, p.Intro.MutualKey)
}

// Answer accepts or declines the pending request from name.
func (c *Client) Answer(ctx context.Context, from string, accept bool) error {
	pending, _, err := c.Requests(ctx)
	if err != nil {
		return err
	}
	for _, p := range pending {
		if p.From != from {
			continue
		}
		if accept {
			return c.Accept(ctx, p)
		}
		return c.decline(ctx, p)
	}
	return fmt.Errorf("client: no request from %s", from)
}

// decline removes a request without answering: the requester learns nothing.
func (c *Client) decline(ctx context.Context, p Pending) error {
	h, err := c.dial(ctx, cmp.Or(p.hub, c.ownHubs()[0]))
	if err != nil {
		return err
	}
	return h.InboxDelete(ctx, p.ID)
}

func (c *Client) contact(name string) (*Contact, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct := c.contacts[name]
	if ct == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotContact, name)
	}
	return ct, nil
}

// Address is the user's bucket address on every hub.
func (c *Client) Address() string {
	return auth.NativeAddress(c.id.SigningKey().Public().(ed25519.PublicKey))
}

// SafetyNumber is the safety number of the user and rec's holder: one
// number for the pair, the same that rec's holder computes for the user
// (wire.SafetyNumber). The user's half comes from this device's keys, not
// from the chain, so a record of the user's that someone else replaced
// shows as another number on the other side.
func (c *Client) SafetyNumber(rec *bns.Record) string {
	own, err := c.id.Profile(nil)
	if err != nil {
		panic(fmt.Sprintf("client: the identity's keys: %v", err)) // DeriveKeyPair of a 32- or 64-byte seed does not fail
	}
	return wire.SafetyNumber(c.Name, own, rec.Name, rec.Profile)
}

// Contacts returns the names of the user's contacts, sorted.
func (c *Client) Contacts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for n := range c.contacts {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
