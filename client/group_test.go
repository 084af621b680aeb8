package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/group"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub/server"
	"github.com/parley-im/parley/internal/await"
)

// users registers names in parallel, spread over the world's hubs.
func (w *world) users(names ...string) []*client.Client {
	out := make([]*client.Client, len(names))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, _, dir := w.userOnUnlocked(n, []string{w.hubs[i%len(w.hubs)]}, "")
			mu.Lock()
			out[i] = c
			w.dirs = append(w.dirs, dir)
			mu.Unlock()
		}()
	}
	wg.Wait()
	w.settle(names...)
	return out
}

// groupSync runs SyncGroups on every client until each holds a key from
// every other member of the group named name (and no more rounds are
// needed), then returns the group's ID.
func groupSync(t *testing.T, name string, cs ...*client.Client) string {
	t.Helper()
	ctx := context.Background()
	return await.Value(t, 3*time.Minute, "group "+name+" to settle", func() (string, error) {
		var synced, settled []error // a sync error alone does not keep the group from settling
		for _, c := range cs {
			if _, err := c.SyncGroups(ctx); err != nil {
				synced = append(synced, fmt.Errorf("%s: sync: %w", c.Name, err))
			}
		}
		for _, c := range cs {
			if id, err := c.FindGroup(name); err != nil || !client.HasGroupKeys(c, id) {
				settled = append(settled, fmt.Errorf("%s: not settled (%v): %+v", c.Name, err, c.Groups()))
			}
		}
		if len(settled) > 0 {
			return "", errors.Join(append(settled, synced...)...)
		}
		return cs[0].FindGroup(name)
	})
}

func groupTexts(t *testing.T, c *client.Client, id string) string {
	t.Helper()
	if _, err := c.Receive(context.Background(), client.GroupConv(id)); err != nil {
		t.Fatalf("%s reads the group: %v", c.Name, err)
	}
	var out []string
	for _, m := range c.Conversation(client.GroupConv(id)) {
		if m.Kind == client.KindNotice {
			continue
		}
		s := m.From + ":" + m.Text
		if m.Deleted {
			s = m.From + ":(deleted)"
		}
		if m.Edited {
			s += "*"
		}
		for who, e := range m.Reactions {
			s += "+" + who + e
		}
		out = append(out, s)
	}
	return strings.Join(out, "|")
}

// groupOfThree makes creator a group called group with the other two,
// who know only the creator (they meet through the roster), and waits
// until every member holds every key.
func groupOfThree(t *testing.T, creator, b, c, group string) (w *world, cs []*client.Client, id string) {
	t.Helper()
	w = newWorld(t)
	cs = w.users(creator, b, c)
	connect(t, cs[0], cs[1], "hi "+b)
	connect(t, cs[0], cs[2], "hi "+c)
	if _, err := cs[0].CreateGroup(context.Background(), group, []string{b, c}); err != nil {
		t.Fatal(err)
	}
	return w, cs, groupSync(t, group, cs...)
}

// TestGroupChat: three people, two of whom have never met, in one group;
// every message feature; a member removed while others send; a member
// leaving.
func TestGroupChat(t *testing.T) {
	w, cs, id := groupOfThree(t, "alice", "bob", "carol", "trip") // bob and carol do not know each other
	ctx := context.Background()
	alice, bob, carol := cs[0], cs[1], cs[2]
	if slices.Contains(bob.Contacts(), "carol") || slices.Contains(carol.Contacts(), "bob") {
		t.Fatal("bob and carol, who met through the group's links, were made contacts")
	}
	must := func(_ client.Message, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Group messages are signed with a key of the epoch, given over the
	// deniable pairwise conversations, not with the on-chain key: members
	// know who wrote, nobody can prove it to others.
	epochKey := client.GroupVerifier(alice, id, "alice")
	if len(epochKey) != 32 || !bytes.Equal(client.GroupVerifier(bob, id, "alice"), epochKey) || !bytes.Equal(client.GroupVerifier(carol, id, "alice"), epochKey) {
		t.Fatalf("alice's epoch key %x; bob checks her with %x, carol with %x", epochKey, client.GroupVerifier(bob, id, "alice"), client.GroupVerifier(carol, id, "alice"))
	}
	if rec, _ := w.dirs[0].Lookup(ctx, "alice"); rec == nil || bytes.Equal(epochKey, rec.Profile.SigningKey[:]) {
		t.Fatal("alice signs group messages with her on-chain key")
	}
	g := client.GroupConv(id)
	must(alice.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "where to?"}))                                  // alice/0
	groupTexts(t, bob, id)                                                                                                                 // bob replies to what he read (a conversation is in arrival order)
	must(bob.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "the sea", Ref: &wire.Ref{By: "alice", Seq: 0}})) // bob/0
	groupTexts(t, carol, id)
	must(carol.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindReact, Emoji: "🌊", Ref: &wire.Ref{By: "bob", Seq: 0}})) // carol/0
	must(carol.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "mountans"}))                               // carol/1
	must(carol.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindEdit, Text: "mountains", Ref: &wire.Ref{By: "carol", Seq: 1}}))
	must(bob.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "nope"})) // bob/1
	must(bob.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindDelete, Ref: &wire.Ref{By: "bob", Seq: 1}}))
	if _, err := alice.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindEdit, Text: "forged", Ref: &wire.Ref{By: "bob", Seq: 0}}); !errors.Is(err, client.ErrNoMessage) {
		t.Fatalf("alice edited bob's message: %v, want client.ErrNoMessage (none of alice's)", err)
	}
	want := "alice:where to?|bob:the sea+carol🌊|carol:mountains*"
	for _, c := range cs {
		if got := groupTexts(t, c, id); strings.ReplaceAll(got, "|bob:(deleted)", "") != want {
			t.Fatalf("%s sees %s", c.Name, got)
		}
	}
	// Group receipts: both have alice's first message; only bob saw it.
	if err := bob.MarkRead(ctx, g); err != nil {
		t.Fatal(err)
	}
	rs, err := alice.GroupReceipts(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if s := client.GroupState(0, 2, rs); s != "delivered to 2, read by 1 of 2" {
		t.Fatalf("alice's first message: %s (%+v)", s, rs)
	}
	if n := carol.Unread(g); n != 2 { // alice/0 and bob/0; bob/1 was deleted
		t.Fatalf("carol has %d unread in the group, want 2", n)
	}
	// A file in the group.
	src, sum := writeRandomFile(t, wire.ChunkSize+10)
	fm, err := carol.SendFile(ctx, g, src, "map", nil)
	if err != nil {
		t.Fatal(err)
	}
	groupTexts(t, bob, id)
	dest := filepath.Join(t.TempDir(), "map")
	if err := bob.GetFile(ctx, g, fm.ID(), dest, nil); err != nil || string(sha256File(t, dest)) != string(sum) {
		t.Fatalf("group file: %v", err)
	}
	if err := bob.RemoveMember(ctx, id, "carol"); !errors.Is(err, group.ErrNotHolder) {
		t.Fatalf("a member who did not make the group removed another: %v, want group.ErrNotHolder", err)
	}

	// alice removes carol while bob and carol send.
	var wg sync.WaitGroup
	for _, c := range []*client.Client{bob, carol} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				c.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: fmt.Sprintf("%s-during-%d", c.Name, i)})
			}
		}()
	}
	if err := alice.RemoveMember(ctx, id, "carol"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	groupSync(t, "trip", alice, bob)
	carol.SyncGroups(ctx)
	if k := client.GroupVerifier(bob, id, "alice"); bytes.Equal(k, epochKey) || !bytes.Equal(k, client.GroupVerifier(alice, id, "alice")) {
		t.Fatal("the removal did not give alice a new signing key, or bob does not have it")
	}
	must(alice.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "after carol left"}))
	must(bob.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "bob after"}))
	for _, c := range []*client.Client{alice, bob} {
		got := groupTexts(t, c, id)
		for i := range 5 {
			if !strings.Contains(got, fmt.Sprintf("bob-during-%d", i)) {
				t.Fatalf("%s misses bob's message %d: %s", c.Name, i, got)
			}
		}
		if !strings.Contains(got, "after carol left") || !strings.Contains(got, "bob after") {
			t.Fatalf("%s: %s", c.Name, got)
		}
	}
	carol.SyncGroups(ctx)
	if got := groupTexts(t, carol, id); strings.Contains(got, "after carol left") || strings.Contains(got, "bob after") {
		t.Fatalf("the removed member reads what was sent after: %s", got)
	}
	if gs := carol.Groups(); len(gs) != 1 || !gs[0].Gone {
		t.Fatalf("carol's groups %+v", gs)
	}
	if _, err := carol.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "still here?"}); !errors.Is(err, client.ErrNotMember) {
		t.Fatalf("a removed member wrote to the group: %v, want client.ErrNotMember", err)
	}

	// Invited again, carol reads what is sent from then on, not what was
	// sent while she was out.
	if err := alice.Invite(ctx, id, "carol"); err != nil {
		t.Fatal(err)
	}
	groupSync(t, "trip", alice, bob, carol)
	must(alice.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "welcome back"}))
	if got := groupTexts(t, carol, id); !strings.Contains(got, "alice:welcome back") || strings.Contains(got, "after carol left") {
		t.Fatalf("carol, invited again, sees %s", got)
	}

	// Rename, then bob leaves.
	if err := alice.RenameGroup(ctx, id, "sea trip"); err != nil {
		t.Fatal(err)
	}
	groupSync(t, "sea trip", alice, bob, carol)
	must(bob.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "bye all"}))
	if err := bob.LeaveGroup(ctx, id); err != nil { // before anyone read his goodbye
		t.Fatal(err)
	}
	for range 3 {
		alice.SyncGroups(ctx)
		carol.SyncGroups(ctx)
	}
	if gs := alice.Groups(); len(gs) != 1 || slices.Contains(gs[0].Members, "bob") {
		t.Fatalf("after bob left: %+v", gs)
	}
	for _, c := range []*client.Client{alice, carol} {
		if got := groupTexts(t, c, id); !strings.HasSuffix(got, "bob:bye all") {
			t.Fatalf("%s missed what bob wrote before leaving: %s", c.Name, got)
		}
	}
}

// TestGroupRemovalKeepsWhatWasWritten: what a member wrote before the
// creator removed it is still read by the others, what it wrote after
// (before it learned of the removal) is not.
func TestGroupRemovalKeepsWhatWasWritten(t *testing.T) {
	_, cs, id := groupOfThree(t, "alice", "bob", "carol", "book club")
	ctx := context.Background()
	alice, bob, carol := cs[0], cs[1], cs[2]
	if _, err := carol.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "before"}); err != nil {
		t.Fatal(err)
	}
	if err := alice.RemoveMember(ctx, id, "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "after"}); err != nil { // she does not know yet
		t.Fatal(err)
	}
	groupSync(t, "book club", alice, bob)
	for _, c := range []*client.Client{alice, bob} {
		if got := groupTexts(t, c, id); got != "carol:before" {
			t.Fatalf("%s reads %q", c.Name, got)
		}
	}
}

// TestGroupHandOver: the creator leaves and the group goes on, held by
// another member; a change the new holder makes at once reaches a member
// who reads it before the hand-over itself (bob sorts before dave).
func TestGroupHandOver(t *testing.T) {
	_, cs, id := groupOfThree(t, "dave", "bob", "carol", "club")
	ctx := context.Background()
	dave, bob, carol := cs[0], cs[1], cs[2]
	if _, err := dave.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "I am off"}); err != nil {
		t.Fatal(err)
	}
	if err := dave.LeaveGroup(ctx, id); err != nil { // before anyone read his last message
		t.Fatal(err)
	}
	if _, err := dave.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "still here?"}); !errors.Is(err, client.ErrNotMember) {
		t.Fatalf("dave sent to a group he left: %v, want client.ErrNotMember", err)
	}
	if _, err := bob.SyncGroups(ctx); err != nil { // bob learns he holds it ...
		t.Fatal(err)
	}
	if err := bob.RenameGroup(ctx, id, "club 2"); err != nil { // ... and changes it before carol read anything
		t.Fatalf("bob renames the group he was handed: %v", err)
	}
	groupSync(t, "club 2", bob, carol)
	for _, c := range []*client.Client{bob, carol} {
		g := c.Groups()[0]
		if g.Creator != "bob" || strings.Join(g.Members, ",") != "bob,carol" || g.Name != "club 2" {
			t.Fatalf("%s's group after the hand-over: %+v", c.Name, g)
		}
	}
	if _, err := carol.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "after dave"}); err != nil {
		t.Fatal(err)
	}
	if got := groupTexts(t, bob, id); got != "dave:I am off|carol:after dave" {
		t.Fatalf("bob reads %q", got)
	}
	if got := groupTexts(t, carol, id); got != "dave:I am off|carol:after dave" {
		t.Fatalf("carol reads %q", got)
	}
	if got := groupTexts(t, dave, id); strings.Contains(got, "after dave") {
		t.Fatalf("dave, gone, reads %q", got)
	}
	if err := dave.RenameGroup(ctx, id, "mine again"); !errors.Is(err, group.ErrNotHolder) {
		t.Fatalf("dave changed the group he handed over: %v, want group.ErrNotHolder", err)
	}
	if g := dave.Groups()[0]; g.Creator != "bob" || !g.Gone {
		t.Fatalf("dave's view of the group he handed over: %+v", g)
	}
}

// TestGroupFifty: a group of 50 of whom only the creator knows everyone;
// every message reaches the 49 others.
func TestGroupFifty(t *testing.T) {
	if testing.Short() {
		t.Skip("fifty whole clients: the race detector's run (make race, -short) leaves it to the full run; client/group's TestFiftyMembers covers the rules")
	}
	// Every client here is one IP: let the creator's 49 requests through.
	w := newWorldWith(t, func(c *server.Config) { c.InboxPerMinute = 100 })
	ctx := context.Background()
	var names []string
	for i := range 50 {
		names = append(names, fmt.Sprintf("m%02d", i))
	}
	cs := w.users(names...)
	for _, c := range cs[1:] {
		connect(t, cs[0], c, "join my group?")
	}
	if _, err := cs[0].CreateGroup(ctx, "fifty", names[1:]); err != nil {
		t.Fatal(err)
	}
	id := groupSync(t, "fifty", cs...)
	for _, c := range cs {
		if _, err := c.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "hello from " + c.Name}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cs {
		if _, err := c.Receive(ctx, client.GroupConv(id)); err != nil {
			t.Fatal(err)
		}
		if n := len(strings.Split(groupTexts(t, c, id), "|")); n != 50 {
			t.Fatalf("%s has %d of the 50 messages", c.Name, n)
		}
	}
}

// TestGroupWatchAndTimer: a watcher sees a group it is invited to while
// watching, and its messages live, without any sync call; a group timer
// makes messages disappear from both devices (the reader's counted from
// when he read them), and writes them with a hub expiry.
func TestGroupWatchAndTimer(t *testing.T) {
	w, alice, bob, clk := clockedPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	connect(t, alice, bob, "hi")
	got := make(chan client.Event, 16)
	watch(t, bob, func(n client.Notice) {
		if n.Kind == client.NoticeMessage && n.Conv != client.ContactConv("alice") {
			got <- *n.Event
		}
	}, func(err error) { t.Logf("watch: %v", err) })
	id, err := alice.CreateGroup(ctx, "live", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	// bob's key reaches alice once bob's watcher took the roster.
	await.True(t, 2*time.Minute, "bob to give alice his key", func() bool {
		if client.HasGroupKeys(alice, id) {
			return true
		}
		alice.SyncGroups(ctx)
		return false
	})
	if _, err := alice.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "live in the group"}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Text != "live in the group" || m.Conv != client.GroupConv(id) {
			t.Fatalf("watched %+v", m)
		}
	case <-ctx.Done():
		t.Fatal("the group message never arrived")
	}
	cancel()

	if _, err := alice.SendEvent(context.Background(), client.GroupConv(id), &wire.Event{Kind: wire.KindTimer, TTL: 3600}); err != nil {
		t.Fatal(err)
	}
	m, err := alice.SendEvent(context.Background(), client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "vanishing"})
	if err != nil || m.Expires.IsZero() {
		t.Fatalf("a message under the group timer: %+v %v", m, err)
	}
	groupTexts(t, bob, id)
	if err := bob.MarkRead(context.Background(), client.GroupConv(id)); err != nil { // bob's timer starts when he reads it
		t.Fatal(err)
	}
	sent := clk.Now()
	clk.advance(2 * time.Hour)
	for _, c := range []*client.Client{alice, bob} {
		if err := c.Expire(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, m := range c.Conversation(client.GroupConv(id)) {
			if m.Text == "vanishing" {
				t.Fatalf("%s still holds the expired message", c.Name)
			}
		}
	}
	// Its blob waits for readers until its hub expiry, when the hub deletes it.
	blobs, _, _ := w.drivers[0].List(context.Background(), alice.Address(), "g/", "", 100)
	expiring := 0
	for _, o := range blobs {
		if !o.Expires.IsZero() {
			expiring++
			if o.Expires.Before(sent.Add(client.DefaultDeliveryWindow-time.Minute)) || o.Expires.After(sent.Add(client.DefaultDeliveryWindow+time.Minute)) {
				t.Fatalf("the group message's hub expiry is %v, sent at %v", o.Expires, sent)
			}
		}
	}
	if expiring != 1 {
		t.Fatalf("alice's hub holds %d group blobs with a hub expiry, want the one sent under the timer", expiring)
	}
}

// TestGroupQuickRosterChanges: epochs that follow each other with nothing
// sent between them leave every member reading the others.
func TestGroupQuickRosterChanges(t *testing.T) {
	_, alice, bob := newPair(t)
	ctx := context.Background()
	connect(t, alice, bob, "hi")
	id, err := alice.CreateGroup(ctx, "one", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	groupSync(t, "one", alice, bob)
	for _, name := range []string{"two", "three", "four"} {
		if err := alice.RenameGroup(ctx, id, name); err != nil {
			t.Fatal(err)
		}
	}
	groupSync(t, "four", alice, bob)
	for _, c := range []*client.Client{alice, bob} {
		if _, err := c.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "from " + c.Name}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*client.Client{alice, bob} {
		if got := groupTexts(t, c, id); got != "alice:from alice|bob:from bob" && got != "bob:from bob|alice:from alice" {
			t.Fatalf("%s sees %s", c.Name, got)
		}
	}
}

// TestGroupEventsOnlyFromHolder: mallory, bob's contact but no member of
// alice's group, sends bob over their conversation a roster of alice's
// group that adds her (as if alice had sent it), a claim that she holds
// it now, and the roster of a group alice never made, each with a sender
// key. None of it changes what bob has: his groups, their rosters and
// holders, and no key of mallory's in any group. The group goes on.
func TestGroupEventsOnlyFromHolder(t *testing.T) {
	w, cs, id := groupOfThree(t, "alice", "bob", "carol", "trip")
	ctx := context.Background()
	alice, bob := cs[0], cs[1]
	mallory := w.user("mallory", w.hubs[0])
	w.settle("mallory")
	connect(t, mallory, bob, "hi bob")
	before := bob.Groups()
	seed := bytes.Repeat([]byte{9}, 32)
	fresh := strings.Repeat("5a", 16)
	for _, in := range []*wire.GroupInfo{
		{ID: id, Name: "trip", Creator: "alice", Members: []string{"alice", "bob", "carol", "mallory"}, Epoch: before[0].Epoch + 1, Seed: seed, Sign: seed},
		{ID: id, Name: "mine now", Creator: "mallory", Members: []string{"bob", "mallory"}, Epoch: before[0].Epoch + 5, Seed: seed, Sign: seed},
		{ID: fresh, Name: "alice's secret plans", Creator: "alice", Members: []string{"alice", "bob", "mallory"}, Epoch: 1, Seed: seed, Sign: seed},
		{ID: fresh, Name: "alice's secret plans", Creator: "alice", Members: []string{"alice", "bob", "mallory"}, Epoch: 1, Leave: true},
	} {
		if _, err := mallory.SendEvent(ctx, client.ContactConv("bob"), &wire.Event{Kind: wire.KindGroup, Group: in}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bob.SyncGroups(ctx); err != nil {
		t.Fatal(err)
	}
	if after := bob.Groups(); !reflect.DeepEqual(after, before) {
		t.Errorf("bob's groups changed:\nbefore %+v\nafter  %+v", before, after)
	}
	for _, g := range []string{id, fresh} {
		if k := client.GroupVerifier(bob, g, "mallory"); k != nil {
			t.Errorf("bob holds a key of mallory's for group %s", g)
		}
	}
	if _, err := alice.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "still ours"}); err != nil {
		t.Fatal(err)
	}
	if got := groupTexts(t, bob, id); got != "alice:still ours" {
		t.Fatalf("bob reads %q", got)
	}
}

// TestGroupLinkStartsOver: carol, who read bob's introduction of their
// group link, starts the link over (as a device restored from an older
// backup does); bob takes her newer introduction in place of his own, and
// the two still read each other after the next roster change.
func TestGroupLinkStartsOver(t *testing.T) {
	_, cs, id := groupOfThree(t, "alice", "bob", "carol", "trip")
	ctx := context.Background()
	alice, bob, carol := cs[0], cs[1], cs[2]
	if client.LinkKey(bob, "carol") != client.LinkKey(carol, "bob") || client.LinkKey(bob, "carol") == [32]byte{} {
		t.Fatal("bob and carol do not share a group link")
	}
	client.RestartLink(t, carol, "bob")
	if err := alice.RenameGroup(ctx, id, "trip 2"); err != nil {
		t.Fatal(err)
	}
	groupSync(t, "trip 2", cs...)
	if k := client.LinkKey(bob, "carol"); k != client.LinkKey(carol, "bob") {
		t.Fatal("bob and carol hold different links after carol started hers over")
	}
	for _, c := range []*client.Client{bob, carol} {
		if _, err := c.SendEvent(ctx, client.GroupConv(id), &wire.Event{Kind: wire.KindText, Text: "from " + c.Name}); err != nil {
			t.Fatal(err)
		}
	}
	if got := groupTexts(t, bob, id); !strings.Contains(got, "carol:from carol") {
		t.Fatalf("bob reads %s", got)
	}
	if got := groupTexts(t, carol, id); !strings.Contains(got, "bob:from bob") {
		t.Fatalf("carol reads %s", got)
	}
}
