package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/chain/node/nodetest"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/driver/disk"
	"github.com/parley-im/parley/hub/driver/memory"
	"github.com/parley-im/parley/hub/server"
	"github.com/parley-im/parley/hub/server/hubtest"
	"github.com/parley-im/parley/internal/await"
)

// world is one machine's worth of Parley, in-process: a real chain node,
// two real HTTP hubs, and a verified directory per user.
type world struct {
	t       testing.TB
	rpc     string
	chainID string
	hubs    []string
	drivers []*memory.Driver
	dirs    []*lookup.Client
	opts    []client.Option // for every client the world opens
}

// settle waits until every user's directory sees every name: a name
// registered by someone else appears one block later.
func (w *world) settle(names ...string) {
	w.t.Helper()
	for _, d := range w.dirs {
		for _, n := range names {
			await.NoError(w.t, 2*time.Minute, n+" to be visible", func() error {
				_, err := d.Lookup(context.Background(), n)
				return err
			})
		}
	}
}

// testKDF is the Argon2id cost of the backups of the world's clients: the
// least there is.
func testKDF() keystore.KDF { return keystore.KDF{Time: 1, Memory: 64, Threads: 1} }

func newWorld(t testing.TB) *world { return newWorldWith(t, nil) }

// newWorldWith is newWorld with the hubs' configuration adjusted by tweak.
func newWorldWith(t testing.TB, tweak func(*server.Config)) *world {
	w := &world{t: t, chainID: "world"}
	w.rpc = nodetest.Start(t, w.chainID)
	for i := 0; i < 2; i++ {
		h := hubtest.Start(t, tweak)
		w.hubs, w.drivers = append(w.hubs, h.URL), append(w.drivers, h.Driver)
	}
	return w
}

// newPair is a world with alice on the first hub and bob on the second,
// both names visible to both.
func newPair(t testing.TB) (*world, *client.Client, *client.Client) {
	w := newWorld(t)
	alice, bob := w.user("alice", w.hubs[0]), w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	return w, alice, bob
}

func (w *world) directory() *lookup.Client {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := await.Value(w.t, 2*time.Minute, "a light client of the world's chain", func() (*lookup.Client, error) {
		return lookup.New(ctx, lookup.Config{ChainID: w.chainID, Primary: w.rpc, MaxAge: time.Nanosecond})
	})
	w.t.Cleanup(func() { c.Close() })
	return c
}

// user makes an identity, registers name on the chain with hub as its
// hub, and returns its client.
func (w *world) user(name, hubURL string) *client.Client {
	c, _, _ := w.userWithState(name, hubURL, "")
	return c
}

// userWithState is user with state persisted in statePath (if not empty);
// it also returns the identity and directory, to reopen the client.
func (w *world) userWithState(name, hubURL, statePath string) (*client.Client, *keystore.Identity, *lookup.Client) {
	return w.userOn(name, []string{hubURL}, statePath)
}

// userOn registers name with every hub in hubs.
func (w *world) userOn(name string, hubs []string, statePath string) (*client.Client, *keystore.Identity, *lookup.Client) {
	c, id, dir := w.userOnUnlocked(name, hubs, statePath)
	w.dirs = append(w.dirs, dir)
	return c, id, dir
}

// userOnUnlocked is userOn without recording the directory in w.dirs.
func (w *world) userOnUnlocked(name string, hubs []string, statePath string) (*client.Client, *keystore.Identity, *lookup.Client) {
	hubURL := hubs[0]
	ctx := context.Background()
	id, err := keystore.New()
	if err != nil {
		w.t.Fatal(err)
	}
	dir := w.directory()
	profile, _ := id.Profile(hubs)
	var salt [32]byte
	rand.Read(salt[:])
	h, err := dir.Preorder(ctx, id.OwnerKey(), name, salt)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := dir.Register(ctx, id.OwnerKey(), name, salt, h, profile); err != nil {
		w.t.Fatal(err)
	}
	c, err := client.Open(ctx, name, id, dir, hubURL, statePath, append([]client.Option{client.WithBackupKDF(testKDF())}, w.opts...)...)
	if err != nil {
		w.t.Fatal(err)
	}
	return c, id, dir
}

// watch runs c.Watch until the test ends; the test's cleanup waits for it
// to return (before settings a test changed are restored).
func watch(t testing.TB, c *client.Client, fn func(client.Notice), onErr func(error)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Watch(ctx, fn, onErr)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// watchTexts starts c's watch and returns a function that waits (two
// minutes at most) for the next text message it brings and checks that it
// is want.
func watchTexts(t *testing.T, c *client.Client) (expect func(want string)) {
	got := make(chan string, 16)
	watch(t, c, func(n client.Notice) {
		if n.Kind == client.NoticeMessage && n.Event.Kind == wire.KindText {
			got <- n.Event.Text
		}
	}, func(err error) { t.Logf("%s's watch: %v", c.Name, err) })
	return func(want string) {
		t.Helper()
		select {
		case s := <-got:
			if s != want {
				t.Fatalf("%s's watch brought %q, want %q", c.Name, s, want)
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("%s's watch did not bring %q", c.Name, want)
		}
	}
}

// pairOnDisk is alice, whose state lives in the file state, and bob, in
// touch (alice's greeting "hi"); id and dir are alice's identity and
// directory, to open her state again.
func pairOnDisk(t *testing.T, w *world) (alice, bob *client.Client, id *keystore.Identity, dir *lookup.Client, state string) {
	t.Helper()
	state = filepath.Join(t.TempDir(), "alice.state")
	alice, id, dir = w.userWithState("alice", w.hubs[0], state)
	bob = w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	connect(t, alice, bob, "hi")
	return alice, bob, id, dir, state
}

// connect makes b a contact of a through b's inbox, with a's greeting.
func connect(t testing.TB, a, b *client.Client, greeting string) {
	t.Helper()
	ctx := context.Background()
	if err := a.Request(ctx, b.Name, greeting); err != nil {
		t.Fatal(err)
	}
	p, bad, err := b.Requests(ctx)
	if err != nil || len(bad) != 0 || len(p) != 1 {
		t.Fatalf("%s's requests: %+v %v %v", b.Name, p, bad, err)
	}
	if err := b.Accept(ctx, p[0]); err != nil {
		t.Fatal(err)
	}
}

func texts(ms []client.Event) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return out
}

// historyTexts is texts for a history's messages.
func historyTexts(ms []client.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return out
}

func TestWorld(t *testing.T) {
	w, alice, bob := newPair(t)
	ctx := context.Background()

	// Case 2: alice asks bob through his hub's inbox.
	if err := alice.Request(ctx, "bob", "hello bob, it's alice"); err != nil {
		t.Fatal(err)
	}
	pending, bad, err := bob.Requests(ctx)
	if err != nil || len(bad) != 0 || len(pending) != 1 || pending[0].From != "alice" {
		t.Fatalf("bob's requests: %+v %v %v", pending, bad, err)
	}
	if err := bob.Accept(ctx, pending[0]); err != nil {
		t.Fatal(err)
	}
	got, err := bob.Receive(ctx, client.ContactConv("alice"))
	if err != nil || strings.Join(texts(got), "|") != "hello bob, it's alice" {
		t.Fatalf("bob received %v %v", texts(got), err)
	}

	// Both ways, several rounds; each side reads the other's hub.
	for i := 0; i < 3; i++ {
		if err := alice.Send(ctx, "bob", "from-alice-"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
		if err := bob.Send(ctx, "alice", "from-bob-"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil || strings.Join(texts(got), "|") != "from-alice-0|from-alice-1|from-alice-2" {
		t.Fatalf("bob received %v %v", texts(got), err)
	}
	if got, err := alice.Receive(ctx, client.ContactConv("bob")); err != nil || strings.Join(texts(got), "|") != "from-bob-0|from-bob-1|from-bob-2" {
		t.Fatalf("alice received %v %v", texts(got), err)
	}
	if got, _ := alice.Receive(ctx, client.ContactConv("bob")); len(got) != 0 {
		t.Fatalf("messages read twice: %v", texts(got))
	}
	// Delivery and read state: bob fetched alice's greeting and three
	// messages; he has seen them only once he marks them read.
	if r, err := alice.ReceiptFrom(ctx, "bob"); err != nil || !reflect.DeepEqual(r, wire.Receipt{Delivered: 4}) {
		t.Fatalf("receipt from bob: %+v %v", r, err)
	}
	if n := bob.Unread(client.ContactConv("alice")); n != 4 {
		t.Fatalf("bob has %d unread, want 4", n)
	}
	if err := bob.MarkRead(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	if r, err := alice.ReceiptFrom(ctx, "bob"); err != nil || !reflect.DeepEqual(r, wire.Receipt{Delivered: 4, Read: 4}) {
		t.Fatalf("receipt from bob after reading: %+v %v", r, err)
	}
	if s := alice.StateOf(client.ContactConv("bob"), 3, wire.Receipt{Delivered: 4, Read: 4}); s != client.StateRead {
		t.Fatalf("state of alice's message 3: %s", s)
	}
	if r, err := bob.ReceiptFrom(ctx, "alice"); err != nil || !reflect.DeepEqual(r, wire.Receipt{Delivered: 3}) {
		t.Fatalf("receipt from alice: %+v %v", r, err)
	}
	// Read receipts off: bob's contacts no longer learn what he read.
	if err := bob.SetReadReceipts(ctx, false); err != nil {
		t.Fatal(err)
	}
	if r, _ := alice.ReceiptFrom(ctx, "bob"); !reflect.DeepEqual(r, wire.Receipt{Delivered: 4}) {
		t.Fatalf("receipt from bob with read receipts off: %+v", r)
	}
	bob.SetReadReceipts(ctx, true)

	// Replies, each read before answering: every chain now begins with an
	// ML-KEM step (docs/protocol.md, Double Ratchet), on both sides.
	pq := func(c *client.Client, name string) bool {
		t.Helper()
		ok, err := client.PostQuantum(c, name)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if pq(alice, "bob") || pq(bob, "alice") {
		t.Fatal("a post-quantum step before any reply carried a KEM ciphertext")
	}
	for i := 0; i < 2; i++ {
		for _, d := range []struct {
			from, to *client.Client
			text     string
		}{{alice, bob, fmt.Sprint("alice's reply ", i)}, {bob, alice, fmt.Sprint("bob's reply ", i)}} {
			if err := d.from.Send(ctx, d.to.Name, d.text); err != nil {
				t.Fatal(err)
			}
			if got, err := d.to.Receive(ctx, client.ContactConv(d.from.Name)); err != nil || strings.Join(texts(got), "|") != d.text {
				t.Fatalf("%s received %v %v", d.to.Name, texts(got), err)
			}
		}
	}
	if !pq(alice, "bob") || !pq(bob, "alice") {
		t.Fatal("two round trips made no post-quantum ratchet step")
	}

	// What the hub operators see: no name and no plaintext in any path or
	// blob, message blobs of bucket sizes only (4 KiB for a chain's first
	// message, with its KEM fields; 1 KiB for the short ones after it),
	// and the inbox emptied.
	sizes := map[int]int{}
	for i, d := range w.drivers {
		for _, address := range []string{alice.Address(), bob.Address(), "_inbox/" + bob.Address()} {
			objs, _, _ := d.List(ctx, address, "", "", 1000)
			for _, o := range objs {
				_, rc, _ := d.Get(ctx, address, o.Path)
				var buf bytes.Buffer
				buf.ReadFrom(rc)
				rc.Close()
				for _, secret := range []string{"alice", "bob", "hello bob", "from-alice-0", "from-bob-1"} {
					if strings.Contains(o.Path, secret) || bytes.Contains(buf.Bytes(), []byte(secret)) {
						t.Fatalf("hub %d shows %q at %s/%s", i, secret, address, o.Path)
					}
				}
				if strings.HasPrefix(o.Path, "m/") && !bucket(buf.Len()) {
					t.Fatalf("message blob of %d bytes", buf.Len())
				}
				if strings.HasPrefix(o.Path, "m/") {
					sizes[buf.Len()]++
				}
			}
		}
	}
	if sizes[1024] == 0 || sizes[4096] == 0 {
		t.Fatalf("message blob sizes %v: want first messages of 4 KiB and short ones of 1 KiB", sizes)
	}
	if objs, _, _ := w.drivers[1].List(ctx, "_inbox", "", "", 10); len(objs) != 0 {
		t.Fatalf("accepted request still in the inbox: %d", len(objs))
	}

	// A hub that alters a blob is caught, and nothing false is shown: the
	// operator replaces alice's newest message with noise of the same size.
	if err := alice.Send(ctx, "bob", "to be altered"); err != nil {
		t.Fatal(err)
	}
	unread, _ := client.Peek(bob, ctx, "alice")
	obj, err := w.drivers[0].Stat(ctx, alice.Address(), unread)
	if err != nil {
		t.Fatalf("the unread message is not on alice's hub: %v", err)
	}
	noise := make([]byte, obj.Size)
	rand.Read(noise)
	w.drivers[0].Put(ctx, alice.Address(), unread, bytes.NewReader(noise), hub.PutOptions{})
	if got, err := bob.Receive(ctx, client.ContactConv("alice")); err == nil || len(got) != 0 {
		t.Fatalf("altered blob: got %v, err %v", texts(got), err)
	}
}

func bucket(n int) bool {
	for _, b := range wire.Buckets {
		if n == b {
			return true
		}
	}
	return false
}

// TestRestartAndCrashMidSend: state survives a restart; a send killed
// after sealing is delivered once by the next start; a crash after the
// upload but before the outbox was cleared does not send it twice.
// errKilled is what the transport of a process killed mid-send says.
var errKilled = errors.New("killed mid-send")

func TestRestartAndCrashMidSend(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	state := filepath.Join(t.TempDir(), "alice.state")
	alice, aliceID, aliceDir := w.userWithState("alice", w.hubs[0], state)
	bob := w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	// The transport fails every upload while dying is set: a send then
	// dies after sealing and saving, as a process killed mid-send would.
	var dying atomic.Bool
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if dying.Load() && strings.HasPrefix(r.URL.Path, "/store/") {
			return nil, errKilled
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	reopen := func() *client.Client {
		c, err := client.Open(ctx, "alice", aliceID, aliceDir, w.hubs[0], state, client.WithHTTPClient(hc))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	connect(t, alice, bob, "hi")
	bob.Receive(ctx, client.ContactConv("alice"))
	bob.Send(ctx, "alice", "reply")

	// Restart: contacts, ratchet and history come back.
	t.Log("drill: alice's client restarts from its state file")
	alice = reopen()
	if got, err := alice.Receive(ctx, client.ContactConv("bob")); err != nil || strings.Join(texts(got), "|") != "reply" {
		t.Fatalf("after restart: %v %v", texts(got), err)
	}
	if h := alice.History(); len(h) != 2 || h[0].Text != "hi" || h[1].Text != "reply" {
		t.Fatalf("history after restart: %+v", h)
	}

	// Killed mid-send: sealed and saved, never uploaded.
	t.Log("drill: alice's client dies mid-send (every upload fails), then restarts")
	dying.Store(true)
	if err := alice.Send(ctx, "bob", "sent while dying"); !errors.Is(err, client.ErrQueued) || !errors.Is(err, errKilled) {
		t.Fatalf("a send whose upload failed succeeded: %v, want client.ErrQueued, from the killed upload", err)
	}
	dying.Store(false)
	if got, _ := bob.Receive(ctx, client.ContactConv("alice")); len(got) != 0 {
		t.Fatal("a failed send arrived")
	}
	before, _ := os.ReadFile(state) // the outbox still holds the message
	alice = reopen()
	if err := alice.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Crash after the upload, before the outbox was cleared: the old
	// state comes back and the retry finds the same blob already there.
	t.Log("drill: alice's client crashes after the upload, before its outbox was cleared (the older state file comes back)")
	os.WriteFile(state, before, 0o600)
	alice = reopen()
	if err := alice.Flush(ctx); err != nil {
		t.Fatalf("retry of an uploaded message: %v", err)
	}
	if err := alice.Send(ctx, "bob", "after recovery"); err != nil {
		t.Fatal(err)
	}
	if got, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil || strings.Join(texts(got), "|") != "sent while dying|after recovery" {
		t.Fatalf("bob received %v %v", texts(got), err)
	}

	// Round trips through post-quantum steps, alice restarting between
	// each read and each send: her saved ratchet keeps its ML-KEM key,
	// the other side's key and the secrets between steps.
	for i := 0; i < 3; i++ {
		text := fmt.Sprint("bob ", i)
		if err := bob.Send(ctx, "alice", text); err != nil {
			t.Fatal(err)
		}
		alice = reopen()
		if got, err := alice.Receive(ctx, client.ContactConv("bob")); err != nil || strings.Join(texts(got), "|") != text {
			t.Fatalf("alice received %v %v", texts(got), err)
		}
		alice = reopen()
		text = fmt.Sprint("alice ", i)
		if err := alice.Send(ctx, "bob", text); err != nil {
			t.Fatal(err)
		}
		if got, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil || strings.Join(texts(got), "|") != text {
			t.Fatalf("bob received %v %v", texts(got), err)
		}
	}
	for _, c := range []struct {
		c    *client.Client
		name string
	}{{alice, "bob"}, {bob, "alice"}} {
		if ok, err := client.PostQuantum(c.c, c.name); err != nil || !ok {
			t.Fatalf("after restarts, %s's conversation with %s takes no post-quantum step (%v)", c.c.Name, c.name, err)
		}
	}
}

// TestAccepterSendsFirst: the side that accepted can reply before reading;
// Send fetches the requester's first message itself.
func TestAccepterSendsFirst(t *testing.T) {
	_, alice, bob := newPair(t)
	ctx := context.Background()
	connect(t, alice, bob, "hello")
	if err := bob.Send(ctx, "alice", "reply before reading"); err != nil {
		t.Fatal(err)
	}
	if got, err := alice.Receive(ctx, client.ContactConv("bob")); err != nil || len(got) != 1 || got[0].Text != "reply before reading" {
		t.Fatalf("alice received %v %v", texts(got), err)
	}
	if h := bob.History(); len(h) != 2 || h[0].Text != "hello" {
		t.Fatalf("bob's history %+v", h)
	}
}

// TestWatch: bob's watcher prints alice's messages as they are written,
// through the hub's change notifications, without polling.
func TestWatch(t *testing.T) {
	_, alice, bob := newPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	connect(t, alice, bob, "hello")
	got := make(chan client.Event, 16)
	watch(t, bob, func(n client.Notice) {
		if n.Kind == client.NoticeMessage { // not the receipts, reported after every (re)connection
			got <- *n.Event
		}
	}, func(err error) { t.Errorf("watch: %v", err) })
	if m := <-got; m.Text != "hello" { // the catch-up after connecting
		t.Fatalf("first message %+v", m)
	}
	for _, text := range []string{"one", "two", "three"} {
		if err := alice.Send(ctx, "bob", text); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if m.Text != text || m.From != "alice" {
				t.Fatalf("watched %+v, want %q", m, text)
			}
		case <-ctx.Done():
			t.Fatalf("%q never arrived", text)
		}
	}
}

// TestConcurrentReceive: receives racing for one contact each get distinct
// messages, and none is misreported as forged.
func TestConcurrentReceive(t *testing.T) {
	_, alice, bob := newPair(t)
	ctx := context.Background()
	connect(t, alice, bob, "m0")
	for i := 1; i < 10; i++ {
		alice.Send(ctx, "bob", fmt.Sprint("m", i))
	}
	results := make(chan []client.Event, 4)
	for i := 0; i < 4; i++ {
		go func() {
			ms, err := bob.Receive(ctx, client.ContactConv("alice"))
			if err != nil {
				t.Error(err)
			}
			results <- ms
		}()
	}
	seen := map[string]bool{}
	for i := 0; i < 4; i++ {
		for _, m := range <-results {
			if seen[m.Text] {
				t.Fatalf("%s received twice", m.Text)
			}
			seen[m.Text] = true
		}
	}
	if len(seen) != 10 {
		t.Fatalf("received %d of 10", len(seen))
	}
}

// TestKeyChangeWarning: when bob publishes new keys, alice's next send is
// refused with the reason from the chain until she confirms them; the
// mark that she verified his old keys in person does not carry over.
func TestKeyChangeWarning(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	alice := w.user("alice", w.hubs[0])
	bob, bobID, bobDir := w.userWithState("bob", w.hubs[1], "")
	w.settle("alice", "bob")
	connect(t, alice, bob, "hi")
	rec, err := bobDir.Lookup(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	number := alice.SafetyNumber(rec)
	if alice.Verified("bob") {
		t.Fatal("bob is verified before alice compared anything")
	}
	wrong := []byte(number)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	if err := alice.Verify(ctx, "bob", string(wrong)); !errors.Is(err, client.ErrSafetyMismatch) || alice.Verified("bob") {
		t.Fatalf("verifying with a wrong number: %v", err)
	}
	if err := alice.Verify(ctx, "bob", strings.ReplaceAll(number, " ", "-")); err != nil || !alice.Verified("bob") {
		t.Fatalf("verifying with bob's number: %v", err)
	}

	// Bob's device is replaced: new signing and encryption keys on the chain.
	newID, _ := keystore.New()
	profile, _ := newID.Profile([]string{w.hubs[1]})
	h, err := bobDir.Submit(ctx, bobID.OwnerKey(), &bns.Tx{Type: bns.TxUpdate, Name: "bob", Profile: profile})
	if err != nil {
		t.Fatal(err)
	}
	var kc *client.KeyChange
	await.NoError(t, 2*time.Minute, fmt.Sprintf("a key-change warning after the update at height %d", h), func() error {
		err := alice.Send(ctx, "bob", "are you still you?")
		if errors.As(err, &kc) {
			return nil
		}
		return fmt.Errorf("send said %v", err)
	})
	if kc.Reason != bns.OpUpdate || kc.Height != h || kc.Current.Profile.SigningKey != profile.SigningKey {
		t.Fatalf("key change %+v", kc)
	}
	// The conversation is closed: what the old device writes now is not
	// read, nor shown as from bob.
	if err := bob.Send(ctx, "alice", "from the replaced device"); err != nil {
		t.Fatal(err)
	}
	if ms, err := alice.Receive(ctx, client.ContactConv("bob")); !errors.As(err, &kc) || len(ms) != 0 {
		t.Fatalf("alice reads the closed conversation: %v, %v", texts(ms), err)
	}
	// Bob's old device finds its keys replaced; alice's are hers.
	if err := bob.CheckOwnRecord(ctx); !errors.Is(err, client.ErrNotMine) {
		t.Fatalf("bob's old device checking his record: %v", err)
	}
	if err := alice.CheckOwnRecord(ctx); err != nil {
		t.Fatalf("alice checking her record: %v", err)
	}
	if err := alice.Verify(ctx, "bob", number); !errors.As(err, &kc) {
		t.Fatalf("verifying keys that changed on the chain: %v", err)
	}
	cur, err := alice.ConfirmKeys(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if alice.Verified("bob") {
		t.Fatal("bob's new keys count as verified in person")
	}
	if err := alice.Send(ctx, "bob", "confirmed"); err != nil {
		t.Fatalf("send after confirming: %v", err)
	}
	if ms, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil || len(ms) != 0 {
		t.Fatalf("the replaced device reads what alice sent after confirming: %v, %v", texts(ms), err)
	}
	for _, m := range alice.Conversation(client.ContactConv("bob")) {
		if m.Text == "hi" && !m.Earlier {
			t.Fatalf("the old conversation is not marked earlier: %+v", m)
		}
	}
	if err := alice.Verify(ctx, "bob", alice.SafetyNumber(cur)); err != nil || !alice.Verified("bob") {
		t.Fatalf("verifying bob's new keys: %v", err)
	}
	if err := alice.Unverify("bob"); err != nil || alice.Verified("bob") {
		t.Fatalf("unverify: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// restartableHub is a real hub on the disk driver at a fixed address that
// a test can stop and start again on the same data.
type restartableHub struct {
	t    *testing.T
	addr string
	dir  string
	srv  *http.Server
	l    net.Listener // bound on 127.0.0.1:0 for the first start; nil after
}

func (h *restartableHub) start() {
	d, err := disk.New(h.dir)
	if err != nil {
		h.t.Fatal(err)
	}
	s, err := server.New(server.Config{Driver: d, PublicURL: "http://" + h.addr, InboxPowDifficulty: 6})
	if err != nil {
		h.t.Fatal(err)
	}
	l := h.l
	if l == nil {
		// A restart: the port was just released; retry until it is free
		// again (the address is on the chain: it cannot change).
		l = await.Value(h.t, time.Minute, "the hub's port "+h.addr, func() (net.Listener, error) {
			return net.Listen("tcp", h.addr)
		})
	}
	h.l = nil
	h.srv = &http.Server{Handler: s.Handler()}
	go h.srv.Serve(l)
	h.t.Logf("drill: hub http://%s serving (data in %s)", h.addr, h.dir)
}

func (h *restartableHub) stop() {
	h.t.Logf("drill: stopping hub http://%s (its data kept)", h.addr)
	h.srv.Close()
}

// twoHubPair is a world where alice publishes two hubs, first (which a
// test can stop) and the world's first, and bob is her contact on the
// second, greeted with greeting.
func twoHubPair(t *testing.T, greeting string) (*world, *restartableHub, *client.Client, *client.Client) {
	w := newWorld(t)
	first := startRestartableHub(t)
	alice, _, _ := w.userOn("alice", []string{"http://" + first.addr, w.hubs[0]}, "")
	bob := w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	connect(t, alice, bob, greeting)
	return w, first, alice, bob
}

// startRestartableHub starts a restartableHub on a port of its own (bound
// once, and kept: no other process can take it before the hub serves)
// and a data directory of its own; it stops when the test ends.
func startRestartableHub(t *testing.T) *restartableHub {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &restartableHub{t: t, addr: l.Addr().String(), dir: t.TempDir(), l: l}
	h.start()
	t.Cleanup(h.stop)
	return h
}

// TestHubOutage: while alice's hub is down her messages queue; when it
// returns they go out in order, none lost or duplicated.
func TestHubOutage(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	hub := startRestartableHub(t)
	alice, bob := w.user("alice", "http://"+hub.addr), w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	connect(t, alice, bob, "before the outage")

	hub.stop()
	for _, text := range []string{"queued 1", "queued 2"} {
		if err := alice.Send(ctx, "bob", text); !errors.Is(err, client.ErrQueued) {
			t.Fatalf("send during the outage: %v", err)
		}
	}
	hub.start()
	if err := alice.Flush(ctx); err != nil {
		t.Fatalf("flush after the outage: %v", err)
	}
	if err := alice.Send(ctx, "bob", "after the outage"); err != nil {
		t.Fatal(err)
	}
	got, err := bob.Receive(ctx, client.ContactConv("alice"))
	if err != nil || strings.Join(texts(got), "|") != "before the outage|queued 1|queued 2|after the outage" {
		t.Fatalf("bob received %v %v", texts(got), err)
	}
}

// TestIntroduceKnownNames: case 1, both know each other's names; the
// introduction lives on the first name's hub, nobody else is involved.
func TestIntroduceKnownNames(t *testing.T) {
	w, alice, bob := newPair(t)
	ctx := context.Background()
	// bob adds alice first: alice's introduction is not there yet.
	if err := bob.Introduce(ctx, "alice", "hi"); !errors.Is(err, client.ErrIntroPending) {
		t.Fatalf("bob before alice: %v", err)
	}
	if err := alice.Introduce(ctx, "bob", "hello bob, we know each other"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Introduce(ctx, "alice", "hi alice"); err != nil {
		t.Fatal(err)
	}
	if got, err := alice.Receive(ctx, client.ContactConv("bob")); err != nil || strings.Join(texts(got), "|") != "hi alice" {
		t.Fatalf("alice received %v %v", texts(got), err)
	}
	if h := bob.History(); len(h) != 2 || h[0].Text != "hello bob, we know each other" {
		t.Fatalf("bob's history %+v", h)
	}
	// Nothing went through bob's inbox, and the introduction's path names nobody.
	if objs, _, _ := w.drivers[1].List(ctx, "_inbox", "", "", 10); len(objs) != 0 {
		t.Fatal("case 1 used the inbox")
	}
	objs, _, _ := w.drivers[0].List(ctx, alice.Address(), "p/", "", 10)
	if len(objs) != 1 || strings.Contains(objs[0].Path, "bob") || strings.Contains(objs[0].Path, "alice") {
		t.Fatalf("introduction objects %+v", objs)
	}
}

// TestNoDuplicateContacts: asking an existing contact again is refused and
// leaves the conversation intact.
func TestNoDuplicateContacts(t *testing.T) {
	_, alice, bob := newPair(t)
	ctx := context.Background()
	connect(t, alice, bob, "first")
	if err := alice.Request(ctx, "bob", "again"); !errors.Is(err, client.ErrAlreadyContact) {
		t.Fatalf("a second request to a contact: %v", err)
	}
	if got, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil || strings.Join(texts(got), "|") != "first" {
		t.Fatalf("conversation after the refused request: %v %v", texts(got), err)
	}
	if err := alice.Send(ctx, "bob", "still fine"); err != nil {
		t.Fatal(err)
	}
}

// TestTwoHubs: alice publishes two hubs. With one down she still sends
// and bob still reads; it catches up when it returns; when the other
// loses her data, the conversation goes on from the first.
func TestTwoHubs(t *testing.T) {
	w, first, alice, bob := twoHubPair(t, "both hubs up")
	ctx := context.Background()
	if got, _ := bob.Receive(ctx, client.ContactConv("alice")); len(got) != 1 {
		t.Fatalf("bob received %v", texts(got))
	}

	first.stop()
	if err := alice.Send(ctx, "bob", "first hub down"); err != nil {
		t.Fatalf("send with one of two hubs down: %v", err)
	}
	if st := alice.Status(ctx); len(st.Hubs) != 2 || st.Hubs[0].Err == nil || st.Hubs[0].Waiting != 1 || st.Hubs[1].Err != nil || st.Hubs[1].Waiting != 0 {
		t.Fatalf("status with the first hub down: %+v", st.Hubs)
	}
	if got, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil || strings.Join(texts(got), "|") != "first hub down" {
		t.Fatalf("bob received %v %v", texts(got), err)
	}
	// Receipts, and contact requests, through the second hub too.
	bob.Send(ctx, "alice", "read me")
	if got, err := alice.Receive(ctx, client.ContactConv("bob")); err != nil || len(got) != 1 {
		t.Fatalf("alice received %v %v", texts(got), err)
	}
	if err := alice.MarkRead(ctx, client.ContactConv("bob")); err != nil {
		t.Fatalf("marking read with one of two hubs down: %v", err)
	}
	if r, err := bob.ReceiptFrom(ctx, "alice"); err != nil || r.Read != 1 {
		t.Fatalf("bob reads alice's receipt as %+v %v", r, err)
	}
	carol := w.user("carol", w.hubs[1])
	w.settle("carol")
	if err := carol.Request(ctx, "alice", "hello from carol"); err != nil {
		t.Fatalf("a request to alice, her first hub down: %v", err)
	}
	if err := alice.Answer(ctx, "carol", true); err != nil {
		t.Fatalf("alice answers with her first hub down: %v", err)
	}
	if got, err := alice.Receive(ctx, client.ContactConv("carol")); err != nil || strings.Join(texts(got), "|") != "hello from carol" {
		t.Fatalf("alice received from carol %v %v", texts(got), err)
	}
	if p, _, err := alice.Requests(ctx); err != nil || len(p) != 0 {
		t.Fatalf("requests left after accepting: %+v %v", p, err)
	}
	first.start()
	if err := alice.Flush(ctx); err != nil {
		t.Fatalf("catching up the first hub: %v", err)
	}
	objs, _, _ := w.drivers[0].List(ctx, alice.Address(), "m/", "", 100)
	if len(objs) != 2 {
		t.Fatalf("second hub holds %d messages, want 2", len(objs))
	}

	// The second hub loses alice's messages: the first still has them all.
	for _, o := range objs {
		w.drivers[0].Delete(ctx, alice.Address(), o.Path, hub.DeleteOptions{})
	}
	alice.Send(ctx, "bob", "after the second hub lost its data")
	if got, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil || strings.Join(texts(got), "|") != "after the second hub lost its data" {
		t.Fatalf("bob received %v %v", texts(got), err)
	}
}

// TestHubsWithoutTheChain: a client opened while the chain does not
// answer still writes to every hub the chain last listed, not to the first
// alone: a message its second hub missed goes there when it is back.
func TestHubsWithoutTheChain(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	second := startRestartableHub(t)
	state := filepath.Join(t.TempDir(), "alice.state")
	hubs := []string{w.hubs[0], "http://" + second.addr}
	alice, id, _ := w.userOn("alice", hubs, state)
	bob := w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	connect(t, alice, bob, "hi")
	second.stop()
	if err := alice.Send(ctx, "bob", "while the second hub is down"); err != nil {
		t.Fatal(err)
	}

	offline, err := client.Open(ctx, "alice", id, unreachableChain{}, hubs[0], state)
	if err != nil {
		t.Fatal(err)
	}
	if got := offline.Hubs(); !slices.Equal(got, hubs) {
		t.Fatalf("hubs without the chain: %v, want %v", got, hubs)
	}
	second.start()
	if err := offline.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := disk.New(second.dir)
	if err != nil {
		t.Fatal(err)
	}
	if objs, _, err := d.List(ctx, alice.Address(), "m/", "", 100); err != nil || len(objs) != 2 {
		t.Fatalf("the second hub holds %d of alice's 2 messages (%v)", len(objs), err)
	}
}

// unreachableChain is a Directory whose chain never answers.
type unreachableChain struct{}

func (unreachableChain) Lookup(context.Context, string) (*bns.Record, error) {
	return nil, errors.New("chain unreachable")
}

// TestWatchWithOneHubDown: a watcher follows a contact on each of the
// contact's hubs, so with the first one down a new message is still
// announced live. (Polling the hub that is down is put off for an hour:
// only the other hub's stream can bring it.)
func TestWatchWithOneHubDown(t *testing.T) {
	_, first, alice, bob := twoHubPair(t, "hello")
	client.Configure(bob, client.WithWatchTimings(client.WatchTimings{PollFirst: time.Hour}))
	first.stop()
	expect := watchTexts(t, bob)
	expect("hello")
	if err := alice.Send(context.Background(), "bob", "while the first hub is down"); err != nil {
		t.Fatal(err)
	}
	expect("while the first hub is down")
}

// TestWatchFollowsAMove: alice copies her bucket to a new hub and
// publishes it in place of the old one, which then goes away. A running
// watch of bob's follows her there (its periodic lookup sees the new
// record), and a contact who had not read yet finds everything, copied,
// on the new hub.
func TestWatchFollowsAMove(t *testing.T) {
	w := newWorld(t)
	w.opts = []client.Option{client.WithWatchTimings(client.WatchTimings{Maintenance: 20 * time.Millisecond, Refresh: time.Nanosecond, Backup: time.Nanosecond})}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	old := startRestartableHub(t)
	state := filepath.Join(t.TempDir(), "alice.state")
	alice, id, dir := w.userOn("alice", []string{"http://" + old.addr}, state)
	bob, dave := w.user("bob", w.hubs[1]), w.user("dave", w.hubs[1])
	w.settle("alice", "bob", "dave")
	connect(t, alice, bob, "hello bob")
	connect(t, alice, dave, "hello dave")
	expect := watchTexts(t, bob)
	expect("hello bob")

	rep, err := alice.CopyTo(ctx, w.hubs[0], nil)
	if err != nil || rep.Copied < 3 || rep.Had != 0 || len(rep.Down) != 0 || len(rep.Lost) != 0 { // two messages, two indexes at least
		t.Fatalf("copied %+v, %v", rep, err)
	}
	if rep, err := alice.CopyTo(ctx, w.hubs[0], nil); err != nil || rep.Copied != 0 || rep.Had < 3 || rep.Republished != 0 {
		t.Fatalf("copying again: %+v, %v", rep, err)
	}
	rec, err := dir.Lookup(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	p := rec.Profile
	p.Hubs = []string{w.hubs[0]}
	if _, err := dir.Submit(ctx, id.OwnerKey(), &bns.Tx{Type: bns.TxUpdate, Name: "alice", Profile: p}); err != nil {
		t.Fatal(err)
	}
	old.stop()
	moved, err := client.Open(ctx, "alice", id, dir, w.hubs[0], state)
	if err != nil {
		t.Fatal(err)
	}
	if err := moved.Send(ctx, "bob", "from the new hub"); err != nil {
		t.Fatal(err)
	}
	expect("from the new hub")

	w.settle("alice")
	if err := dave.CheckKeys(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if ms, err := dave.Receive(ctx, client.ContactConv("alice")); err != nil || strings.Join(texts(ms), "|") != "hello dave" {
		t.Fatalf("dave read %v %v after the move", texts(ms), err)
	}
}

// TestFlushWithNothingQueued: a Flush with nothing to send asks no hub
// anything and writes nothing: every parley command, a new process, starts
// with one.
func TestFlushWithNothingQueued(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	alice, _, id, dir, state := pairOnDisk(t, w)
	if err := alice.Send(ctx, "bob", "one more"); err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	counting := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		requests.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	again, err := client.Open(ctx, "alice", id, dir, w.hubs[0], state, client.WithHTTPClient(counting))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(state)
	if err := again.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("a Flush with nothing queued made %d requests", n)
	}
	if after, _ := os.Stat(state); !after.ModTime().Equal(info.ModTime()) {
		t.Fatal("a Flush with nothing queued rewrote the state")
	}
}

// TestSlowHubDoesNotBlockReading: while an upload to the user's own hub
// hangs, the user still reads the local history (the message being
// uploaded is in it, saved), the contacts and what is unread, and fetches
// new messages; nothing is sent twice: no lock is held across the network.
func TestSlowHubDoesNotBlockReading(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	release, hanging := make(chan struct{}), make(chan struct{}, 1)
	var stalled atomic.Bool
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if stalled.Load() && r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/store/") && strings.Contains(r.URL.Path, "/m/") {
			select {
			case hanging <- struct{}{}:
			default:
			}
			<-release
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	w.opts = []client.Option{client.WithHTTPClient(hc)}
	alice := w.user("alice", w.hubs[0])
	w.opts = nil
	bob := w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	connect(t, alice, bob, "hi")
	bob.Send(ctx, "alice", "are you there?")

	stalled.Store(true)
	sent := make(chan error, 1)
	go func() { sent <- alice.Send(ctx, "bob", "stuck upload") }()
	<-hanging // the upload is under way, and hangs
	readsLocally(t, alice, "[hi stuck upload], 1 contacts, 0 unread, 2 in the history", "a stalled upload")
	read := make(chan []client.Event, 1)
	go func() {
		ms, _ := alice.Receive(ctx, client.ContactConv("bob"))
		read <- ms
	}()
	select {
	case ms := <-read:
		if len(ms) != 1 || ms[0].Text != "are you there?" {
			t.Fatalf("alice read %+v", ms)
		}
	case <-time.After(time.Minute):
		t.Fatal("reading waited for a stalled upload")
	}
	close(release)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if got, err := receive(t, bob, "alice"); err != nil || strings.Join(got, "|") != "stuck upload" {
		t.Fatalf("bob received %v %v", got, err)
	}
}

// TestQueuedForChangedKeysStays: a message queued while alice's hub was
// down does not go out once alice has seen bob's keys change: bob's old
// device never reads it, and confirming drops it.
func TestQueuedForChangedKeysStays(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	o := queuedInOutage(t, w)
	alice, bob := o.alice, o.bob
	w.newKeys(o.bobID, o.bobDir, "bob")
	await.True(t, 2*time.Minute, "alice to see bob's new keys", func() bool {
		return errors.Is(alice.CheckKeys(ctx, "bob"), client.ErrKeysChanged)
	})
	o.hub.start()
	if err := alice.Flush(ctx); !errors.Is(err, client.ErrKeysChanged) {
		t.Fatalf("flush with a message queued for keys that changed: %v", err)
	}
	if ms, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil || len(ms) != 0 {
		t.Fatalf("bob's old device reads %v %v", texts(ms), err)
	}
	if _, err := alice.ConfirmKeys(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Flush(ctx); err != nil {
		t.Fatalf("flush after confirming: %v", err)
	}
	if ms, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil || len(ms) != 0 {
		t.Fatalf("bob's old device reads, after alice confirmed: %v %v", texts(ms), err)
	}
}

// TestNothingLeavesUnsaved: while alice's device cannot write her state
// (the disk refuses), what she sends does not leave: a message on a hub
// that her device lost would have its ratchet keys used again after a
// restart. Once the disk takes the state again, it goes out, once, and a
// restart finds it sent.
func TestNothingLeavesUnsaved(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	alice, bob, id, dir, state := pairOnDisk(t, w)
	if got, err := receive(t, bob, "alice"); err != nil || strings.Join(got, "|") != "hi" {
		t.Fatalf("bob received %v %v", got, err)
	}

	// A directory where the state file is replaced: every save fails.
	if err := os.Rename(state, state+".kept"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(state, "in the way"), 0o700); err != nil {
		t.Fatal(err)
	}
	var refused *os.LinkError // the state file's rename into place
	if err := alice.Send(ctx, "bob", "not on disk yet"); !errors.As(err, &refused) || refused.New != state {
		t.Fatalf("Send with the state unwritable: %v, want the refused rename", err)
	}
	if err := alice.Flush(ctx); !errors.As(err, &refused) || refused.New != state {
		t.Fatalf("Flush with the state unwritable: %v, want the refused rename", err)
	}
	if got, err := receive(t, bob, "alice"); err != nil || len(got) != 0 {
		t.Fatalf("bob received %v (%v) while alice's device had not saved it", got, err)
	}

	// The disk is back: the message goes out, once.
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(state+".kept", state); err != nil {
		t.Fatal(err)
	}
	if err := alice.Flush(ctx); err != nil {
		t.Fatalf("Flush with the disk back: %v", err)
	}
	if got, err := receive(t, bob, "alice"); err != nil || strings.Join(got, "|") != "not on disk yet" {
		t.Fatalf("bob received %v %v, want the message once", got, err)
	}
	again, err := client.Open(ctx, "alice", id, dir, w.hubs[0], state)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := receive(t, bob, "alice"); err != nil || len(got) != 0 {
		t.Fatalf("after alice's restart bob received %v %v again", got, err)
	}
	if ms := again.Conversation(client.ContactConv("bob")); len(ms) == 0 || ms[len(ms)-1].Text != "not on disk yet" {
		t.Fatalf("alice's history after the restart: %v", historyTexts(ms))
	}
}

// readsLocally checks, within a minute, what alice's device shows of her
// conversation with bob, her contacts, what is unread and her history,
// while something (what) hangs.
func readsLocally(t *testing.T, alice *client.Client, want, what string) {
	t.Helper()
	local := make(chan string, 1)
	go func() {
		ms := alice.Conversation(client.ContactConv("bob"))
		local <- fmt.Sprintf("%s, %d contacts, %d unread, %d in the history", historyTexts(ms), len(alice.Contacts()), alice.Unread(client.ContactConv("bob")), len(alice.History()))
	}()
	select {
	case got := <-local:
		if got != want {
			t.Fatalf("alice's device shows %s, want %s", got, want)
		}
	case <-time.After(time.Minute):
		t.Fatal("reading the local history waited for " + what)
	}
}

// TestSlowDiskDoesNotBlockReading: while alice's device writes her state
// and the disk hangs (a full or failing disk, a network home), she still
// reads her conversation, her contacts, what is unread and her history;
// once the disk answers, the message she was sending goes out, once: no
// lock of the client's is held while its state is written.
func TestSlowDiskDoesNotBlockReading(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	release, hanging := make(chan struct{}), make(chan struct{}, 1)
	var stalled atomic.Bool
	var once sync.Once
	free := func() { once.Do(func() { stalled.Store(false); close(release) }) }
	t.Cleanup(free) // a failed check leaves no save hanging
	w.opts = []client.Option{client.WithWriteFile(func(path string, data []byte) error {
		if stalled.Load() {
			select {
			case hanging <- struct{}{}:
			default:
			}
			<-release
		}
		return os.WriteFile(path, data, 0o600)
	})}
	alice, _, _ := w.userWithState("alice", w.hubs[0], filepath.Join(t.TempDir(), "alice.state"))
	w.opts = nil
	bob := w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	connect(t, alice, bob, "hi")
	if err := bob.Send(ctx, "alice", "are you there?"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Receive(ctx, client.ContactConv("bob")); err != nil {
		t.Fatal(err)
	}

	stalled.Store(true)
	sent := make(chan error, 1)
	go func() { sent <- alice.Send(ctx, "bob", "written on a slow disk") }()
	select {
	case <-hanging: // the message is sealed, and its save hangs
	case <-time.After(2 * time.Minute):
		t.Fatal("alice's send never wrote her state")
	}
	readsLocally(t, alice, "[hi are you there? written on a slow disk], 1 contacts, 1 unread, 3 in the history", "the disk")
	select {
	case err := <-sent:
		t.Fatalf("the send returned (%v) before its state was on disk", err)
	default:
	}
	free()
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if got, err := receive(t, bob, "alice"); err != nil || strings.Join(got, "|") != "written on a slow disk" {
		t.Fatalf("bob received %v %v", got, err)
	}
}

// TestSetHubsWhileWatching: in the agent, the user moves to other hubs
// (SetHubs, after 'parley name hubs') while the watch duty runs, which
// reads the user's hubs on its own goroutines (its plan, flushes, the
// inbox). They must read either list whole, never one being replaced
// (run it under the race detector, as make race does). After the moves
// the watch still announces what reaches the user's inbox.
func TestSetHubsWhileWatching(t *testing.T) {
	w := newWorld(t)
	alice := w.user("alice", w.hubs[0])
	client.Configure(alice, client.WithWatchTimings(client.WatchTimings{Maintenance: 5 * time.Millisecond}))
	carol := w.user("carol", w.hubs[1])
	w.settle("alice", "carol")
	requests := make(chan string, 4)
	watch(t, alice, func(n client.Notice) {
		if n.Kind == client.NoticeRequest {
			requests <- n.From
		}
	}, nil)
	for i := range 50 {
		hubs := []string{w.hubs[0], w.hubs[1]}
		if i%2 == 1 {
			hubs = hubs[:1]
		}
		if err := alice.SetHubs(hubs, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := alice.SetHubs([]string{w.hubs[0], w.hubs[1]}, 50); err != nil {
		t.Fatal(err)
	}
	if got := alice.Hubs(); !slices.Equal(got, []string{w.hubs[0], w.hubs[1]}) {
		t.Fatalf("alice's hubs: %v", got)
	}
	if err := carol.Request(context.Background(), "alice", "hi alice"); err != nil {
		t.Fatal(err)
	}
	select {
	case from := <-requests:
		if from != "carol" {
			t.Fatalf("alice's watch announced a request from %q", from)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("alice's watch never announced carol's request")
	}
}
