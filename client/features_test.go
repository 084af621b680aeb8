package client_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	stdpng "image/png"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/drivertest"
	"github.com/parley-im/parley/hub/server"
	"github.com/parley-im/parley/internal/await"
)

// clock is a settable clock shared by a test's clients.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond) // strictly increasing, like a sender's clock
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// clockedPair is newPair with both clients on one settable clock.
func clockedPair(t *testing.T) (*world, *client.Client, *client.Client, *clock) {
	clk := newClock()
	w := newWorld(t)
	w.opts = []client.Option{client.WithClock(clk.Now)}
	alice, bob := w.user("alice", w.hubs[0]), w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	return w, alice, bob, clk
}

// blob and setBlob read and write an object on a memory hub, as its
// operator could.
func blob(t *testing.T, w *world, i int, addr, path string) []byte {
	t.Helper()
	_, rc, err := w.drivers[i].Get(context.Background(), addr, path)
	if err != nil {
		t.Fatalf("%s on hub %d: %v", path, i, err)
	}
	defer rc.Close()
	var b bytes.Buffer
	b.ReadFrom(rc)
	return b.Bytes()
}

func setBlob(w *world, i int, addr, path string, b []byte) {
	w.drivers[i].Put(context.Background(), addr, path, bytes.NewReader(b), hub.PutOptions{})
}

func receive(t *testing.T, c *client.Client, from string) ([]string, error) {
	t.Helper()
	ms, err := c.Receive(context.Background(), client.ContactConv(from))
	return texts(ms), err
}

// TestMaliciousHub: alice's hub operator swaps two of her blobs, replays a
// real blob at another position, withholds a message in the middle and
// truncates the newest. Each is reported; nothing false is shown, nothing
// twice, nothing after a missing message; once the hub serves the real
// blobs, the conversation reads on in order.
func TestMaliciousHub(t *testing.T) {
	w, alice, bob := newPair(t)
	ctx := context.Background()
	connect(t, alice, bob, "m0")
	for _, s := range []string{"m1", "m2", "m3", "m4", "m5"} {
		if err := alice.Send(ctx, "bob", s); err != nil {
			t.Fatal(err)
		}
	}
	addr := alice.Address()
	path := func(seq uint64) string {
		p, err := client.PathOf(alice, "bob", wire.Ref{By: "alice", Seq: seq})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	real := map[uint64][]byte{}
	for i := uint64(0); i < 6; i++ {
		real[i] = blob(t, w, 0, addr, path(i))
	}
	restore := func() {
		for i, b := range real {
			setBlob(w, 0, addr, path(i), b)
		}
	}
	var shown []string

	// Swapped: message 1 holds message 2's blob and the other way round.
	t.Log("drill: alice's hub swaps her messages 1 and 2")
	setBlob(w, 0, addr, path(1), real[2])
	setBlob(w, 0, addr, path(2), real[1])
	got, err := receive(t, bob, "alice")
	if err == nil || !strings.Contains(err.Error(), "altered or forged") || strings.Join(got, "|") != "m0" {
		t.Fatalf("swapped blobs: %v %v", got, err)
	}
	shown = append(shown, got...)
	restore()

	// Replayed: a real blob of the conversation at another position.
	t.Log("drill: alice's hub serves her message 0 again in place of 1")
	setBlob(w, 0, addr, path(1), real[0])
	if got, err := receive(t, bob, "alice"); err == nil || len(got) != 0 {
		t.Fatalf("replayed blob: %v %v", got, err)
	}
	restore()

	// Withheld in the middle: message 2 is gone, the index says 6.
	t.Log("drill: alice's hub withholds her message 2")
	w.drivers[0].Delete(ctx, addr, path(2), hub.DeleteOptions{})
	got, err = receive(t, bob, "alice")
	var wh *client.WithheldError
	if !errors.As(err, &wh) || wh.Seq != 2 || wh.Count != 6 || strings.Join(got, "|") != "m1" {
		t.Fatalf("withheld message: %v %v", got, err)
	}
	shown = append(shown, got...)
	if got, err := receive(t, bob, "alice"); !errors.As(err, &wh) || len(got) != 0 {
		t.Fatalf("withheld message, asked again: %v %v", got, err)
	}
	restore()

	// Truncated: the newest message is gone.
	t.Log("drill: alice's hub withholds her newest message")
	w.drivers[0].Delete(ctx, addr, path(5), hub.DeleteOptions{})
	got, err = receive(t, bob, "alice")
	if !errors.As(err, &wh) || wh.Seq != 5 || strings.Join(got, "|") != "m2|m3|m4" {
		t.Fatalf("truncated conversation: %v %v", got, err)
	}
	shown = append(shown, got...)
	restore()
	got, err = receive(t, bob, "alice")
	if err != nil {
		t.Fatal(err)
	}
	shown = append(shown, got...)
	if strings.Join(shown, "|") != "m0|m1|m2|m3|m4|m5" {
		t.Fatalf("shown overall: %v", shown)
	}
}

// TestRepliesReactionsEditsDeletes: typed events in one conversation.
func TestRepliesReactionsEditsDeletes(t *testing.T) {
	w, alice, bob, _ := clockedPair(t)
	ctx := context.Background()
	connect(t, alice, bob, "hello")                                                                           // alice/0
	if err := reply(ctx, bob, client.ContactConv("alice"), wire.Ref{By: "alice", Seq: 0}, "hi"); err != nil { // bob/0
		t.Fatal(err)
	}
	receive(t, alice, "bob")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(alice.React(ctx, client.ContactConv("bob"), wire.Ref{By: "bob", Seq: 0}, "👍"))                           // alice/1
	must(alice.Send(ctx, "bob", "typo hre"))                                                                      // alice/2
	must(alice.Edit(ctx, client.ContactConv("bob"), 2, "typo here"))                                              // alice/3
	must(alice.Send(ctx, "bob", "regret"))                                                                        // alice/4
	must(alice.Delete(ctx, client.ContactConv("bob"), 4))                                                         // alice/5
	must(alice.Send(ctx, "bob", "never read"))                                                                    // alice/6
	must(alice.Delete(ctx, client.ContactConv("bob"), 6))                                                         // alice/7
	if err := bob.Edit(ctx, client.ContactConv("alice"), 2, "bob's edit"); !errors.Is(err, client.ErrNoMessage) { // not bob's message
		t.Fatalf("bob edited alice's message: %v, want client.ErrNoMessage", err)
	}
	// alice's deleted blobs are gone from her hub; the index lists them.
	for _, seq := range []uint64{4, 6} {
		p, _ := client.PathOf(alice, "bob", wire.Ref{By: "alice", Seq: seq})
		if _, err := w.drivers[0].Stat(ctx, alice.Address(), p); !errors.Is(err, hub.ErrNotFound) {
			t.Fatalf("deleted message %d still on the hub: %v", seq, err)
		}
	}
	// bob reads: no withheld message, and the conversation as alice left it.
	if _, err := bob.Receive(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	conv := bob.Conversation(client.ContactConv("alice"))
	var lines []string
	for _, m := range conv {
		line := m.From + ":" + m.Text
		if m.Ref != nil {
			line += " re " + m.Ref.String()
		}
		if m.Edited {
			line += " (edited)"
		}
		if m.Deleted {
			line += " (deleted)"
		}
		for who, e := range m.Reactions {
			line += " " + who + e
		}
		lines = append(lines, line)
	}
	want := "alice:hello|bob:hi re alice/0 alice👍|alice:typo here (edited)"
	if strings.Join(lines, "|") != want {
		t.Fatalf("bob sees\n%s\nwant\n%s", strings.Join(lines, "|"), want)
	}
	// On alice's side the deleted message keeps its place, emptied.
	if c := alice.Conversation(client.ContactConv("bob")); len(c) != 5 || !c[3].Deleted || c[3].Text != "" {
		t.Fatalf("alice's conversation %+v", c)
	}
	// Taking a reaction back.
	must(alice.React(ctx, client.ContactConv("bob"), wire.Ref{By: "bob", Seq: 0}, ""))
	bob.Receive(ctx, client.ContactConv("alice"))
	if c := bob.Conversation(client.ContactConv("alice")); len(c[1].Reactions) != 0 {
		t.Fatalf("reaction not taken back: %+v", c[1])
	}
}

// TestConversationOrder: a conversation reads in the order this device
// took its messages in (each sender's in its own sequence), never by the
// sender's clock: a contact whose clock says 2020 cannot put a message
// above what was said before it. Each side sees its own arrival order.
func TestConversationOrder(t *testing.T) {
	w := newWorld(t)
	past := &clock{now: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	w.opts = []client.Option{client.WithClock(past.Now)}
	alice := w.user("alice", w.hubs[0])
	w.opts = []client.Option{client.WithClock(newClock().Now)}
	bob := w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	ctx := context.Background()
	connect(t, alice, bob, "a1")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(bob.Send(ctx, "alice", "b1")) // fetches a1 first
	_, err := alice.Receive(ctx, client.ContactConv("bob"))
	must(err)
	must(alice.Send(ctx, "bob", "a2, dated 2020"))
	must(bob.Send(ctx, "alice", "b2")) // before reading a2
	_, err = bob.Receive(ctx, client.ContactConv("alice"))
	must(err)
	_, err = alice.Receive(ctx, client.ContactConv("bob"))
	must(err)
	for _, tc := range []struct {
		c    *client.Client
		with string
		want string
	}{
		{bob, "alice", "a1|b1|b2|a2, dated 2020"},
		{alice, "bob", "a1|b1|a2, dated 2020|b2"},
	} {
		conv := tc.c.Conversation(client.ContactConv(tc.with))
		if got := strings.Join(historyTexts(conv), "|"); got != tc.want {
			t.Errorf("%s's conversation: %s, want %s", tc.c.Name, got, tc.want)
		}
		for _, m := range conv {
			if m.From == "alice" && m.Time.Year() != 2020 {
				t.Errorf("%s shows alice's %q dated %v, not her clock's 2020", tc.c.Name, m.Text, m.Time)
			}
		}
	}
}

// TestDisappearingMessages: with a timer of an hour, a message goes from
// the sender's device an hour after it was sent and from the reader's an
// hour after it was read, however late that is; its blob goes from the
// sender's hub once the reader has fetched it and the sender's timer ran
// out, and otherwise the hub deletes it on its own when the delivery
// window ends (the sender's device playing no part). The reader then
// skips it as expired, not withheld, and reads on.
func TestDisappearingMessages(t *testing.T) {
	clk := newClock()
	hubClk := &drivertest.Clock{}
	hubClk.Set(time.Now())
	first := true
	w := newWorldWith(t, func(c *server.Config) { // alice's hub runs on hubClk, bob's on the real clock
		if first {
			c.Now, first = hubClk.Now, false
		}
	})
	w.opts = []client.Option{client.WithClock(clk.Now)}
	alice, bob := w.user("alice", w.hubs[0]), w.user("bob", w.hubs[1])
	w.settle("alice", "bob")
	ctx := context.Background()
	connect(t, alice, bob, "before the timer")
	if err := alice.SetTimer(ctx, client.ContactConv("bob"), time.Hour); err != nil {
		t.Fatal(err)
	}
	sent := clk.Now()
	alice.Send(ctx, "bob", "vanishing")
	vanishing, _ := client.PathOf(alice, "bob", wire.Ref{By: "alice", Seq: 2})
	if obj, err := w.drivers[0].Stat(ctx, alice.Address(), vanishing); err != nil || obj.Expires.Before(sent.Add(client.DefaultDeliveryWindow)) || obj.Expires.After(sent.Add(client.DefaultDeliveryWindow+time.Minute)) {
		t.Fatalf("the blob's hub expiry: %+v %v, want the delivery window after %v", obj, err, sent)
	}
	if got, err := receive(t, bob, "alice"); err != nil || strings.Join(got, "|") != "before the timer||vanishing" {
		t.Fatalf("bob received %q %v", got, err)
	}
	alice.Send(ctx, "bob", "read late") // bob fetches it after alice's timer ran out

	clk.advance(2 * time.Hour) // alice's timer ran out; bob has read nothing yet
	for _, c := range []*client.Client{alice, bob} {
		if err := c.Expire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if slices.ContainsFunc(alice.History(), func(m client.Message) bool { return m.Text == "vanishing" || m.Text == "read late" }) {
		t.Fatal("alice's device still shows her messages after her timer")
	}
	if _, err := w.drivers[0].Stat(ctx, alice.Address(), vanishing); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("a fetched message is still on alice's hub after her timer: %v", err)
	}
	readLate, _ := client.PathOf(alice, "bob", wire.Ref{By: "alice", Seq: 3})
	if _, err := w.drivers[0].Stat(ctx, alice.Address(), readLate); err != nil {
		t.Fatalf("a message bob has not fetched left alice's hub: %v", err)
	}
	if got, err := receive(t, bob, "alice"); err != nil || strings.Join(got, "|") != "read late" {
		t.Fatalf("bob, reading late, received %q %v", got, err)
	}
	if got := historyTexts(bob.Conversation(client.ContactConv("alice"))); strings.Join(got, "|") != "before the timer||vanishing|read late" {
		t.Fatalf("bob's conversation before he read it: %q", got)
	}
	if err := bob.MarkRead(ctx, client.ContactConv("alice")); err != nil { // the timers start now
		t.Fatal(err)
	}
	clk.advance(59 * time.Minute)
	bob.Expire(ctx)
	if got := historyTexts(bob.Conversation(client.ContactConv("alice"))); strings.Join(got, "|") != "before the timer||vanishing|read late" {
		t.Fatalf("bob's conversation 59 minutes after he read it: %q", got)
	}
	clk.advance(2 * time.Minute)
	bob.Expire(ctx)
	if got := historyTexts(bob.Conversation(client.ContactConv("alice"))); strings.Join(got, "|") != "before the timer|" {
		t.Fatalf("bob's conversation an hour after he read it: %q", got)
	}

	// Unread for longer than the delivery window: alice's hub deletes it
	// on its own, and bob skips it.
	alice.Send(ctx, "bob", "never fetched")
	neverFetched, _ := client.PathOf(alice, "bob", wire.Ref{By: "alice", Seq: 4})
	if err := alice.SetTimer(ctx, client.ContactConv("bob"), 0); err != nil {
		t.Fatal(err)
	}
	alice.Send(ctx, "bob", "kept")
	hubClk.Set(hubClk.Now().Add(client.DefaultDeliveryWindow + 4*time.Hour)) // the clients' clock runs 3 hours ahead of it
	clk.advance(client.DefaultDeliveryWindow)
	if _, err := w.drivers[0].Stat(ctx, alice.Address(), neverFetched); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("alice's hub still serves a message past its delivery window: %v", err)
	}
	if err := w.drivers[0].Sweep(ctx, func(string, hub.Object) {}); err != nil {
		t.Fatal(err)
	}
	if got, err := receive(t, bob, "alice"); err != nil || strings.Join(got, "|") != "|kept" {
		t.Fatalf("bob, after the hub deleted a message he never fetched, received %q %v", got, err)
	}
	bob.MarkRead(ctx, client.ContactConv("alice"))
	clk.advance(48 * time.Hour)
	bob.Expire(ctx)
	if c := bob.Conversation(client.ContactConv("alice")); c[len(c)-1].Text != "kept" {
		t.Fatalf("a message sent with the timer off expired: %+v", c)
	}
}

// TestBlock: a blocked contact's messages are not read, nothing can be sent
// to them, they lose the receipt and the profile; a blocked stranger's
// requests are refused unseen. What they sent while blocked stays unseen
// after unblocking.
func TestBlock(t *testing.T) {
	w, alice, bob := newPair(t)
	ctx := context.Background()
	carol := w.user("carol", w.hubs[1])
	w.settle("carol")
	connect(t, bob, alice, "hi alice")
	receive(t, alice, "bob")
	alice.MarkRead(ctx, client.ContactConv("bob"))
	if err := alice.SetProfile(ctx, wire.Profile{DisplayName: "Alice"}); err != nil {
		t.Fatal(err)
	}
	receive(t, bob, "alice")
	if p, err := bob.ContactProfile(ctx, "alice"); err != nil || p.DisplayName != "Alice" {
		t.Fatalf("profile before the block: %+v %v", p, err)
	}
	// alice's receipts on her hub: one, for bob's messages.
	receipts := func() []string {
		objs, _, err := w.drivers[0].List(ctx, alice.Address(), "r/", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, o := range objs {
			paths = append(paths, o.Path)
		}
		return paths
	}
	before := receipts()
	if r, err := bob.ReceiptFrom(ctx, "alice"); err != nil || r.Read != 1 || len(before) != 1 {
		t.Fatalf("before the block bob sees %+v %v; alice's receipts %v", r, err, before)
	}

	if !client.Followed(alice, "bob") {
		t.Fatal("alice's watch would not follow bob")
	}
	if err := alice.Block(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if client.Followed(alice, "bob") {
		t.Fatal("alice's watch would still follow bob, blocked, on his hub")
	}
	if got := receipts(); len(got) != 0 {
		t.Fatalf("the receipt is still on alice's hub after the block: %v", got)
	}
	if err := bob.Send(ctx, "alice", "while blocked"); err != nil {
		t.Fatal(err)
	}
	if got, err := receive(t, alice, "bob"); err != nil || len(got) != 0 {
		t.Fatalf("alice read a blocked contact: %v %v", got, err)
	}
	if err := alice.Send(ctx, "bob", "x"); err == nil || !strings.Contains(err.Error(), "bob is blocked: unblock them first") {
		t.Fatalf("alice sent to a blocked contact: %v, want it refused as blocked", err)
	}
	if r, err := bob.ReceiptFrom(ctx, "alice"); err != nil || !reflect.DeepEqual(r, wire.Receipt{}) {
		t.Fatalf("bob still sees a receipt: %+v %v", r, err)
	}
	if _, err := bob.ContactProfile(ctx, "alice"); !errors.Is(err, client.ErrNoProfile) {
		t.Fatalf("bob still reads alice's profile: %v", err)
	}

	// A stranger blocked by name: the request is refused unseen.
	alice.Block(ctx, "carol")
	if err := carol.Request(ctx, "alice", "let me in"); err != nil {
		t.Fatal(err)
	}
	if p, _, err := alice.Requests(ctx); err != nil || len(p) != 0 {
		t.Fatalf("alice sees a blocked stranger's request: %+v %v", p, err)
	}

	if err := alice.Unblock(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	// The receipt is back, at a path rotated by the block: bob cannot see
	// it until he reads the new path key alice sends him on unblocking.
	after := receipts()
	if len(after) != 1 || after[0] == before[0] {
		t.Fatalf("alice's receipts: %v before the block, %v after unblocking", before, after)
	}
	if r, err := bob.ReceiptFrom(ctx, "alice"); err != nil || !reflect.DeepEqual(r, wire.Receipt{}) {
		t.Fatalf("bob sees a receipt before getting its new path: %+v %v", r, err)
	}
	if got, err := receive(t, bob, "alice"); err != nil || strings.Join(got, "") != "" {
		t.Fatalf("bob received %q %v: the new profile and receipt keys are no text to show", got, err)
	}
	if r, err := bob.ReceiptFrom(ctx, "alice"); err != nil || r.Read != 1 {
		t.Fatalf("bob does not see alice's receipt at its new path: %+v %v", r, err)
	}
	if p, err := bob.ContactProfile(ctx, "alice"); err != nil || p.DisplayName != "Alice" {
		t.Fatalf("after unblocking bob reads alice's profile as %+v %v", p, err)
	}
	bob.Send(ctx, "alice", "after unblock")
	if got, err := receive(t, alice, "bob"); err != nil || strings.Join(got, "|") != "after unblock" {
		t.Fatalf("after unblocking alice received %v %v", got, err)
	}
	// What bob sent while blocked (his message 1) stays "sent": alice
	// never saw it. His message after the block is read.
	alice.MarkRead(ctx, client.ContactConv("bob"))
	r, err := bob.ReceiptFrom(ctx, "alice")
	if err != nil || !reflect.DeepEqual(r, wire.Receipt{Delivered: 3, Read: 3, Skipped: []wire.Span{{From: 1, To: 2}}}) {
		t.Fatalf("bob's receipt from alice after the block: %+v %v", r, err)
	}
	for seq, want := range []string{client.StateRead, client.StateSent, client.StateRead} {
		if got := bob.StateOf(client.ContactConv("alice"), uint64(seq), r); got != want {
			t.Errorf("bob's message %d is %s, want %s", seq, got, want)
		}
	}
}

// TestWatchMaintains: a running watch takes in a contact made after it
// started, keeps the backup current, and when a disappearing message's
// time is up (the reader's counted from when he read it) it drops it on
// both sides (the sender's watch deletes the blob, which the reader's
// receipt says he has) and says so.
func TestWatchMaintains(t *testing.T) {
	w, alice, bob, clk := clockedPair(t)
	fast := client.WithWatchTimings(client.WatchTimings{Maintenance: 20 * time.Millisecond, Backup: time.Nanosecond})
	client.Configure(alice, fast)
	client.Configure(bob, fast)
	carol := w.user("carol", w.hubs[0])
	w.settle("carol")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	connect(t, alice, bob, "hi")
	if err := alice.SetTimer(ctx, client.ContactConv("bob"), time.Hour); err != nil {
		t.Fatal(err)
	}
	vanishing, err := alice.SendEvent(ctx, client.ContactConv("bob"), &wire.Event{Kind: wire.KindText, Text: "vanishing"})
	if err != nil {
		t.Fatal(err)
	}
	path, _ := client.PathOf(alice, "bob", wire.Ref{By: "alice", Seq: vanishing.Seq})
	backupPass := []byte("bob's backup passphrase")
	if err := bob.EnableBackup(ctx, backupPass); err != nil {
		t.Fatal(err)
	}
	backupPath := client.BackupPath("bob", backupPass, testKDF())
	backedUp, err := w.drivers[1].Stat(ctx, bob.Address(), backupPath)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan client.Notice, 16)
	watch(t, bob, func(n client.Notice) { events <- n }, func(err error) { t.Logf("bob's watch: %v", err) })
	watch(t, alice, func(client.Notice) {}, func(err error) { t.Logf("alice's watch: %v", err) })
	awaitEvent := func(kind, text string) {
		t.Helper()
		for {
			select {
			case n := <-events:
				if n.Kind == client.NoticeExpired && kind == "expired" ||
					n.Kind == client.NoticeMessage && n.Event.Kind == kind && n.Event.Text == text {
					return
				}
			case <-ctx.Done():
				t.Fatalf("bob's watch did not report %s %q", kind, text)
			}
		}
	}
	awaitEvent(wire.KindText, "hi")
	awaitEvent(wire.KindText, "vanishing")
	if err := bob.MarkRead(ctx, client.ContactConv("alice")); err != nil { // bob reads it: his timer starts
		t.Fatal(err)
	}

	connect(t, carol, bob, "hello from carol") // after the watch started
	awaitEvent(wire.KindText, "hello from carol")
	await.True(t, 2*time.Minute, "bob's watch to bring his backup up to date", func() bool {
		o, err := w.drivers[1].Stat(ctx, bob.Address(), backupPath)
		return err == nil && o.ETag != backedUp.ETag
	})

	clk.advance(2 * time.Hour)
	awaitEvent("expired", "")
	for _, m := range bob.History() {
		if m.Text == "vanishing" {
			t.Fatal("bob still holds the expired message")
		}
	}
	await.True(t, 2*time.Minute, "alice's watch to delete the expired message from her hub", func() bool {
		_, err := w.drivers[0].Stat(ctx, alice.Address(), path)
		return errors.Is(err, hub.ErrNotFound)
	})
}

// TestRemoveContact: removing a contact deletes what the user wrote for
// them from the user's hub (messages, a file's chunks, index, receipt)
// and the conversation from the device; they can ask again. A contact in
// a shared group cannot be removed.
func TestRemoveContact(t *testing.T) {
	w, alice, bob := newPair(t)
	ctx := context.Background()
	connect(t, alice, bob, "hi bob")
	receive(t, bob, "alice")
	bob.Send(ctx, "alice", "hi alice")
	receive(t, alice, "bob")
	alice.MarkRead(ctx, client.ContactConv("bob"))
	file := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(file, bytes.Repeat([]byte("x"), 3*wire.ChunkSize/2), 0o600)
	if _, err := alice.SendFile(ctx, client.ContactConv("bob"), file, "notes", nil); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetProfile(ctx, wire.Profile{DisplayName: "Alice"}); err != nil {
		t.Fatal(err)
	}
	objects := func() (paths []string) {
		objs, _, err := w.drivers[0].List(ctx, alice.Address(), "", "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if !strings.HasPrefix(o.Path, "pr/") { // the profile: for every contact
				paths = append(paths, o.Path)
			}
		}
		return paths
	}
	before := objects()
	if n := len(before); n < 6 { // 3 messages, 2 chunks, index, receipt
		t.Fatalf("alice's hub holds %d objects for bob before the removal", n)
	}

	// A contact in a shared group can be removed: the group goes on over
	// its own link.
	id, err := alice.CreateGroup(ctx, "pair", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	groupSync(t, "pair", alice, bob)
	if err := alice.RemoveContact(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	for _, p := range objects() {
		if slices.Contains(before, p) {
			t.Errorf("%s is still on alice's hub after removing bob", p)
		}
	}
	if _, err := alice.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "still here"}); err != nil {
		t.Fatal(err)
	}
	if got := groupTexts(t, bob, id); !strings.Contains(got, "alice:still here") {
		t.Fatalf("bob reads the group after alice removed him as a contact: %s", got)
	}
	if slices.Contains(alice.Contacts(), "bob") || len(alice.Conversation(client.ContactConv("bob"))) != 0 {
		t.Fatalf("bob is still alice's contact: %v %v", alice.Contacts(), alice.Conversation(client.ContactConv("bob")))
	}
	if _, err := bob.ContactProfile(ctx, "alice"); !errors.Is(err, client.ErrNoProfile) {
		t.Fatalf("bob still reads alice's profile: %v", err)
	}

	// Bob asks again, from scratch.
	if err := bob.Reset(ctx, "alice", "again?"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Answer(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	if got, err := receive(t, alice, "bob"); err != nil || strings.Join(got, "|") != "again?" {
		t.Fatalf("after asking again alice received %v %v", got, err)
	}
}

// TestProfiles: a profile only contacts can read; updates reach them; the
// hub sees none of it in the clear.
func TestProfiles(t *testing.T) {
	w, alice, bob := newPair(t)
	ctx := context.Background()
	connect(t, alice, bob, "hi")
	var png bytes.Buffer
	if err := stdpng.Encode(&png, image.NewGray(image.Rect(0, 0, 16, 16))); err != nil {
		t.Fatal(err)
	}
	avatar := png.Bytes()
	if err := alice.SetProfile(ctx, wire.Profile{DisplayName: "Alice Liddell", Status: "down the rabbit hole", Avatar: avatar}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.ContactProfile(ctx, "alice"); !errors.Is(err, client.ErrNoProfile) {
		t.Fatalf("profile before its key arrived: %v", err)
	}
	receive(t, bob, "alice")
	p, err := bob.ContactProfile(ctx, "alice")
	if err != nil || p.DisplayName != "Alice Liddell" || p.Status != "down the rabbit hole" || !bytes.Equal(p.Avatar, avatar) {
		t.Fatalf("bob reads %+v %v", p, err)
	}
	alice.SetProfile(ctx, wire.Profile{DisplayName: "Alice Liddell", Status: "through the looking glass"})
	receive(t, bob, "alice")
	if p, err := bob.ContactProfile(ctx, "alice"); err != nil || p.Status != "through the looking glass" {
		t.Fatalf("after the update bob reads %+v %v", p, err)
	}
	objs, _, _ := w.drivers[0].List(ctx, alice.Address(), "", "", 100)
	for _, o := range objs {
		b := blob(t, w, 0, alice.Address(), o.Path)
		if bytes.Contains(b, []byte("Alice")) || bytes.Contains(b, []byte("looking")) || bytes.Contains(b, avatar[:8]) {
			t.Fatalf("the hub sees the profile in the clear at %s", o.Path)
		}
	}
	if err := alice.SetProfile(ctx, wire.Profile{DisplayName: strings.Repeat("x", wire.MaxDisplayName+1)}); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("oversized profile: %v", err)
	}
}

// TestWatchAnnouncesRequests: a contact request is announced live by the
// hub's change stream (to the inbox's owner only), once; answering it
// makes the contact.
func TestWatchAnnouncesRequests(t *testing.T) {
	_, alice, bob := newPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	got := make(chan client.Notice, 8)
	watch(t, bob, func(n client.Notice) { got <- n }, func(err error) { t.Logf("watch: %v", err) })
	if err := alice.Request(ctx, "bob", "hello bob"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Kind != client.NoticeRequest || m.From != "alice" || m.Greeting != "hello bob" {
			t.Fatalf("watched %+v", m)
		}
	case <-ctx.Done():
		t.Fatal("the request was never announced")
	}
	if err := bob.Answer(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	if got, err := receive(t, bob, "alice"); err != nil || strings.Join(got, "|") != "hello bob" {
		t.Fatalf("after accepting: %v %v", got, err)
	}
	if err := bob.Answer(ctx, "alice", true); err == nil || !strings.Contains(err.Error(), "no request from alice") {
		t.Fatalf("a request was answered twice: %v, want no request from alice", err)
	}
}

// TestWatchReceipts: when a contact writes a new receipt, the watcher is
// told, and the receipt says what was read.
func TestWatchReceipts(t *testing.T) {
	_, alice, bob := newPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	connect(t, alice, bob, "hello")
	got, texts := make(chan client.Notice, 8), make(chan string, 8)
	watch(t, alice, func(n client.Notice) {
		switch {
		case n.Kind == client.NoticeReceipt:
			got <- n
		case n.Kind == client.NoticeMessage && n.Event.Kind == wire.KindText:
			texts <- n.Event.Text
		}
	}, func(err error) { t.Logf("watch: %v", err) })
	// Once alice's watch brings bob's message, her stream on his hub is up
	// (a receipt written before that would be missed, as a change).
	if err := bob.Send(ctx, "alice", "ping"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-texts:
	case <-ctx.Done():
		t.Fatal("alice's watch did not bring bob's message")
	}
	if err := bob.MarkRead(ctx, client.ContactConv("alice")); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case m := <-got:
			if m.Conv != client.ContactConv("bob") {
				t.Fatalf("receipt event %+v", m)
			}
			if r, err := alice.ReceiptFrom(ctx, "bob"); err == nil && r.Read == 1 {
				return
			}
		case <-ctx.Done():
			t.Fatal("the receipt was never announced")
		}
	}
}

// TestWatchManyStreams: contacts beyond what one stream follows are
// watched on further streams to the same hub.
func TestWatchManyStreams(t *testing.T) {
	w, alice, bob := newPair(t)
	client.Configure(bob, client.WithWatchTimings(client.WatchTimings{ContactsPerStream: 1}))
	carol := w.user("carol", w.hubs[0]) // on alice's hub too
	w.settle("carol")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	connect(t, alice, bob, "from alice")
	connect(t, carol, bob, "from carol")
	got := make(chan string, 8)
	watch(t, bob, func(n client.Notice) {
		if n.Kind == client.NoticeMessage && n.Event.Kind == wire.KindText {
			got <- n.Event.Text
		}
	}, func(err error) { t.Logf("watch: %v", err) })
	for range 2 { // the catch-up
		<-got
	}
	alice.Send(ctx, "bob", "live from alice")
	carol.Send(ctx, "bob", "live from carol")
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case s := <-got:
			seen[s] = true
		case <-ctx.Done():
			t.Fatalf("saw only %v", seen)
		}
	}
	if !seen["live from alice"] || !seen["live from carol"] {
		t.Fatalf("saw %v", seen)
	}
}

// TestDisappearingFileChunks: a file sent under a timer leaves its
// sender's hubs on its own too: its chunks carry a hub expiry a day after
// the message's.
func TestDisappearingFileChunks(t *testing.T) {
	w, alice, bob, clk := clockedPair(t)
	ctx := context.Background()
	connect(t, alice, bob, "hi")
	if err := alice.SetTimer(ctx, client.ContactConv("bob"), time.Hour); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "plans.txt")
	os.WriteFile(file, []byte("the plans"), 0o600)
	sent := clk.Now()
	if _, err := alice.SendFile(ctx, client.ContactConv("bob"), file, "", nil); err != nil {
		t.Fatal(err)
	}
	chunks, _, _ := w.drivers[0].List(ctx, alice.Address(), "f/", "", 10)
	want := sent.Add(client.DefaultDeliveryWindow + 24*time.Hour)
	if len(chunks) != 1 || chunks[0].Expires.Before(want) || chunks[0].Expires.After(want.Add(time.Minute)) {
		t.Fatalf("the file's chunks on alice's hub: %+v, want one expiring at %v", chunks, want)
	}
}

// reply sends text in conv as c's reply to ref.
func reply(ctx context.Context, c *client.Client, conv client.Conv, ref wire.Ref, text string) error {
	_, err := c.SendEvent(ctx, conv, &wire.Event{Kind: wire.KindText, Text: text, Ref: &ref})
	return err
}
