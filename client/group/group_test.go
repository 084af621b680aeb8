package group

import (
	"bytes"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/parley-im/parley/client/wire"
)

const id = "0123456789abcdef0123456789abcdef"

// env is an Env with the user's streams at sent, and a log of the groups
// rekeyed.
func env(sent map[string]uint64, rekeyed *[]string) Env {
	return Env{Rand: rand.Reader, Sent: func(id string) uint64 { return sent[id] },
		Rekeyed: func(id string) {
			if rekeyed != nil {
				*rekeyed = append(*rekeyed, id)
			}
		}}
}

// seed is a sender key's seed, told apart by b.
func seed(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// roster is a roster of the group id, held by holder, with holder's key
// (seed s, from message from; no key if s is 0).
func roster(holder string, epoch uint64, s byte, from uint64, members ...string) *wire.GroupInfo {
	in := &wire.GroupInfo{ID: id, Name: "trip", Creator: holder, Members: members, Epoch: epoch, From: from}
	if s != 0 {
		in.Seed, in.Sign = seed(s), seed(s+100)
	}
	return in
}

// key is a member's key given with the roster it holds.
func key(holder string, epoch uint64, s byte, from uint64, members ...string) *wire.GroupInfo {
	return roster(holder, epoch, s, from, members...)
}

type event struct {
	from string
	in   *wire.GroupInfo
}

func texts(ns []Notice) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.By+": "+n.Text)
	}
	return out
}

// seeds lists the first byte of each of member's keys' seeds.
func seeds(g *Group, member string) []byte {
	var out []byte
	for _, k := range g.Keys[member] {
		out = append(out, k.Seed[0])
	}
	return out
}

// TestTake: what events over the pairwise conversations do to bob's
// book. Only the holder makes or changes a roster; keys from others wait
// for the roster that places them; hand-overs, leaving, removals.
func TestTake(t *testing.T) {
	abc := []string{"alice", "bob", "carol"}
	for _, tc := range []struct {
		name   string
		events []event
		check  func(t *testing.T, b *Book, g *Group)
		notes  []string // every notice, in order
	}{{
		name:   "the holder's roster makes the group",
		events: []event{{"alice", roster("alice", 1, 1, 0, abc...)}},
		check: func(t *testing.T, b *Book, g *Group) {
			if g == nil || g.Creator != "alice" || g.Epoch != 1 || !slices.Equal(g.Members, abc) || g.Gone {
				t.Fatalf("group %+v", g)
			}
			if !slices.Equal(seeds(g, "alice"), []byte{1}) || g.Next["alice"] != 0 || g.Mine() == nil || g.Mine().Epoch != 1 {
				t.Fatalf("keys %v, next %v, mine %+v", seeds(g, "alice"), g.Next, g.Mine())
			}
		},
		notes: []string{"alice: alice added you to trip (alice, bob, carol)"},
	}, {
		name:   "a roster from one who does not name itself the holder makes nothing",
		events: []event{{"carol", roster("alice", 1, 3, 0, abc...)}},
		check: func(t *testing.T, b *Book, g *Group) {
			if g != nil || len(b.Held) != 1 || b.Held[0].From != "carol" {
				t.Fatalf("group %+v, held %+v", g, b.Held)
			}
		},
	}, {
		name:   "a roster that does not list the user makes nothing",
		events: []event{{"alice", roster("alice", 1, 1, 0, "alice", "carol")}},
		check: func(t *testing.T, b *Book, g *Group) {
			if g != nil || b.Groups[id] != nil {
				t.Fatalf("group %+v", g)
			}
		},
	}, {
		name: "a key that comes before its roster waits for it",
		events: []event{
			{"carol", key("alice", 1, 3, 0, abc...)},
			{"alice", roster("alice", 1, 1, 0, abc...)},
		},
		check: func(t *testing.T, b *Book, g *Group) {
			if !slices.Equal(seeds(g, "carol"), []byte{3}) || len(b.Held) != 0 {
				t.Fatalf("carol's keys %v, held %+v", seeds(g, "carol"), b.Held)
			}
		},
		notes: []string{"alice: alice added you to trip (alice, bob, carol)"},
	}, {
		name: "a key from someone the roster does not list is not taken",
		events: []event{
			{"alice", roster("alice", 1, 1, 0, abc...)},
			{"dave", key("alice", 1, 4, 0, abc...)},
		},
		check: func(t *testing.T, b *Book, g *Group) {
			if len(g.Keys["dave"]) != 0 || len(b.Held) != 0 {
				t.Fatalf("dave's keys %v, held %+v", seeds(g, "dave"), b.Held)
			}
		},
		notes: []string{"alice: alice added you to trip (alice, bob, carol)"},
	}, {
		name: "a key of a later epoch waits for that roster",
		events: []event{
			{"alice", roster("alice", 1, 1, 0, abc...)},
			{"dave", key("alice", 2, 4, 0, "alice", "bob", "carol", "dave")},
			{"alice", roster("alice", 2, 2, 5, "alice", "bob", "carol", "dave")},
		},
		check: func(t *testing.T, b *Book, g *Group) {
			if g.Epoch != 2 || !slices.Equal(seeds(g, "dave"), []byte{4}) || !slices.Equal(seeds(g, "alice"), []byte{1, 2}) || len(b.Held) != 0 {
				t.Fatalf("epoch %d, dave %v, alice %v, held %+v", g.Epoch, seeds(g, "dave"), seeds(g, "alice"), b.Held)
			}
			if k := g.KeyFor("alice", 4); k.Seed[0] != 1 {
				t.Fatal("alice's message 4 is not under her first key")
			}
			if k := g.KeyFor("alice", 5); k.Seed[0] != 2 {
				t.Fatal("alice's message 5 is not under her second key")
			}
			if g.Mine().Epoch != 2 || len(g.Keys["bob"]) != 2 {
				t.Fatalf("bob's keys %+v", g.Keys["bob"])
			}
		},
		notes: []string{"alice: alice added you to trip (alice, bob, carol)", "alice: alice added dave"},
	}, {
		name: "only the holder changes the roster",
		events: []event{
			{"alice", roster("alice", 1, 1, 0, abc...)},
			{"carol", roster("carol", 2, 3, 0, "bob", "carol")},
			{"carol", roster("alice", 2, 3, 0, "bob", "carol")},
		},
		check: func(t *testing.T, b *Book, g *Group) {
			if g.Epoch != 1 || g.Creator != "alice" || !slices.Equal(g.Members, abc) {
				t.Fatalf("group %+v", g)
			}
			if len(g.Held) != 1 || g.Held[0].From != "carol" { // carol's claim waits for a hand-over to her
				t.Fatalf("held %+v", g.Held)
			}
		},
		notes: []string{"alice: alice added you to trip (alice, bob, carol)"},
	}, {
		name: "an older roster changes nothing",
		events: []event{
			{"alice", roster("alice", 2, 1, 0, abc...)},
			{"alice", roster("alice", 1, 1, 0, "alice", "bob")},
		},
		check: func(t *testing.T, b *Book, g *Group) {
			if g.Epoch != 2 || !slices.Equal(g.Members, abc) {
				t.Fatalf("group %+v", g)
			}
		},
		notes: []string{"alice: alice added you to trip (alice, bob, carol)"},
	}, {
		name: "a renamed roster",
		events: []event{
			{"alice", roster("alice", 1, 1, 0, abc...)},
			{"alice", func() *wire.GroupInfo { r := roster("alice", 2, 2, 3, abc...); r.Name = "holiday"; return r }()},
		},
		check: func(t *testing.T, b *Book, g *Group) {
			if g.Name != "holiday" {
				t.Fatalf("name %q", g.Name)
			}
		},
		notes: []string{"alice: alice added you to trip (alice, bob, carol)", "alice: alice renamed the group to holiday"},
	}, {
		name: "removed, the user is gone and makes no key; what the others wrote stays",
		events: []event{
			{"alice", roster("alice", 1, 1, 0, abc...)},
			{"carol", key("alice", 1, 3, 0, abc...)},
			{"alice", roster("alice", 2, 0, 0, "alice", "carol")},
		},
		check: func(t *testing.T, b *Book, g *Group) {
			if !g.Gone || g.Mine() != nil || len(g.Keys["bob"]) != 1 || g.Info(false).Seed != nil {
				t.Fatalf("gone %v, bob's keys %d", g.Gone, len(g.Keys["bob"]))
			}
			if len(g.Keys["carol"]) != 1 || b.Active() != nil {
				t.Fatalf("carol's keys %v, active %v", seeds(g, "carol"), b.Active())
			}
		},
		notes: []string{"alice: alice added you to trip (alice, bob, carol)", "alice: alice removed you"},
	}, {
		name: "invited back after a removal: told as an invitation, read from the new keys",
		events: []event{
			{"alice", roster("alice", 1, 1, 0, abc...)},
			{"alice", roster("alice", 2, 0, 0, "alice", "carol")},
			{"alice", roster("alice", 3, 2, 7, abc...)},
		},
		check: func(t *testing.T, b *Book, g *Group) {
			if g.Gone || g.Epoch != 3 || g.Next["alice"] != 7 || g.Mine().Epoch != 3 {
				t.Fatalf("gone %v, epoch %d, next %v", g.Gone, g.Epoch, g.Next)
			}
		},
		notes: []string{"alice: alice added you to trip (alice, bob, carol)", "alice: alice removed you", "alice: alice added you to trip (alice, bob, carol)"},
	}, {
		name: "a member who left stays readable up to where they stopped",
		events: []event{
			{"alice", roster("alice", 1, 1, 0, abc...)},
			{"carol", key("alice", 1, 3, 0, abc...)},
			{"alice", func() *wire.GroupInfo {
				r := roster("alice", 2, 2, 4, "alice", "bob")
				r.Final = map[string]uint64{"carol": 6}
				return r
			}()},
			{"carol", key("alice", 2, 5, 6, abc...)}, // not a member, but read up to where she stopped: taken
		},
		check: func(t *testing.T, b *Book, g *Group) {
			if got := g.Readers(); !slices.Equal(got, []string{"alice", "carol"}) {
				t.Fatalf("readers %v", got)
			}
			if seq, k := g.NextToRead("carol"); seq != 0 || k == nil || k.Seed[0] != 3 {
				t.Fatalf("carol's next: %d %+v", seq, k)
			}
			g.Took("carol", 5)
			if _, k := g.NextToRead("carol"); k != nil || g.Final["carol"] != 0 || slices.Contains(g.Readers(), "carol") {
				t.Fatalf("carol is read past what she wrote: %+v, readers %v", k, g.Readers())
			}
			if !slices.Equal(seeds(g, "carol"), []byte{3, 5}) {
				t.Fatalf("carol's keys %v", seeds(g, "carol"))
			}
		},
		notes: []string{"alice: alice added you to trip (alice, bob, carol)", "carol: carol left"},
	}, {
		name: "a hand-over makes the next holder, who changes the roster from then on",
		events: []event{
			{"alice", roster("alice", 1, 1, 0, abc...)},
			{"carol", key("alice", 1, 3, 0, abc...)},
			{"carol", roster("carol", 3, 4, 2, "bob", "carol", "dave")}, // before the hand-over is read: held
			{"alice", func() *wire.GroupInfo {
				r := roster("carol", 2, 0, 0, "bob", "carol")
				r.Final = map[string]uint64{"alice": 9}
				return r
			}()},
		},
		check: func(t *testing.T, b *Book, g *Group) {
			if g.Creator != "carol" || g.Epoch != 3 || !slices.Equal(g.Members, []string{"bob", "carol", "dave"}) || len(g.Held) != 0 {
				t.Fatalf("group %+v", g)
			}
			if g.Final["alice"] != 9 || !slices.Contains(g.Readers(), "alice") {
				t.Fatalf("alice's messages before she left: final %v", g.Final)
			}
		},
		notes: []string{"alice: alice added you to trip (alice, bob, carol)", "alice: alice left and handed the group to carol",
			"carol: carol added dave"},
	}, {
		name: "keys held back are bounded per sender, the newest kept",
		events: func() []event {
			var es []event
			for e := range uint64(MaxHeldKeys + 2) {
				es = append(es, event{"carol", key("alice", e+1, byte(e+10), 0, abc...)})
			}
			return es
		}(),
		check: func(t *testing.T, b *Book, g *Group) {
			if len(b.Held) != MaxHeldKeys || b.Held[0].Info.Epoch != 3 {
				t.Fatalf("%d held, the oldest of epoch %d", len(b.Held), b.Held[0].Info.Epoch)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			b := New("bob")
			var notes []Notice
			for _, e := range tc.events {
				notes = append(notes, b.Take(e.from, e.in, env(nil, nil))...)
			}
			tc.check(t, b, b.Group(id))
			if got := texts(notes); !slices.Equal(got, tc.notes) {
				t.Fatalf("notices:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.notes, "\n"))
			}
		})
	}
}

// holding returns a book of alice's holding a group of alice, bob and
// carol at epoch 1 (ID from the env's randomness), with bob's and
// carol's keys.
func holding(t *testing.T) (*Book, *Group) {
	t.Helper()
	b := New("alice")
	g, notes := b.Create("trip", []string{"alice", "bob", "carol"}, env(nil, nil))
	if got := texts(notes); !slices.Equal(got, []string{"alice: alice made the group trip with bob, carol"}) {
		t.Fatalf("notices %v", got)
	}
	for i, m := range []string{"bob", "carol"} {
		in := g.Info(false)
		in.Seed, in.Sign, in.From = seed(byte(i+2)), seed(byte(i+102)), 0
		b.Take(m, in, env(nil, nil))
	}
	return b, g
}

// TestHolder: the holder's roster changes, each a new epoch with a new
// key; who may make them.
func TestHolder(t *testing.T) {
	b, g := holding(t)
	if len(g.ID) != 32 || g.Creator != "alice" || g.Epoch != 1 || g.Mine() == nil || g.Mine().From != 0 {
		t.Fatalf("created %+v", g)
	}
	if !slices.Equal(g.ToGive(), []string{"bob", "carol"}) || g.HasKeys() {
		t.Fatalf("to give %v, has keys %v", g.ToGive(), g.HasKeys())
	}
	g.Given("bob", 1)
	g.Given("carol", 1)
	if len(g.ToGive()) != 0 || !g.HasKeys() || b.Waiting(func(string) bool { return false }) {
		t.Fatalf("after giving: to give %v, has %v", g.ToGive(), g.HasKeys())
	}

	var rekeyed []string
	sent := map[string]uint64{g.ID: 5}
	notes, err := g.Change(Invite("dave"), env(sent, &rekeyed))
	if err != nil || g.Epoch != 2 || !g.Member("dave") || g.Mine().Epoch != 2 || g.Mine().From != 5 || !slices.Equal(rekeyed, []string{g.ID}) {
		t.Fatalf("invite: %v, %+v, rekeyed %v", err, g.Mine(), rekeyed)
	}
	if got := texts(notes); !slices.Equal(got, []string{"alice: alice added dave"}) {
		t.Fatalf("notices %v", got)
	}
	if !b.Waiting(func(string) bool { return false }) || !slices.Equal(g.ToGive(), []string{"bob", "carol", "dave"}) {
		t.Fatalf("after an invitation nothing waits: %v", g.ToGive())
	}
	if b.Waiting(func(string) bool { return true }) { // members whose keys changed are not waited for
		t.Fatal("a group waits for members whose keys changed")
	}

	var me *MemberError
	if _, err := g.Change(Invite("dave"), env(sent, nil)); !errors.As(err, &me) || !me.In || !errors.Is(err, ErrMembership) || g.Epoch != 2 {
		t.Fatalf("inviting dave again: %v, epoch %d", err, g.Epoch)
	}
	if _, err := g.Change(Remove("alice", 0), env(sent, nil)); !errors.As(err, &me) || me.In {
		t.Fatalf("removing oneself: %v", err)
	}

	// A removal keeps what the removed member wrote readable.
	g.Next["carol"] = 2
	notes, err = g.Change(Remove("carol", 4), env(sent, nil))
	if err != nil || g.Member("carol") || g.Departed["carol"] != 4 || g.Final["carol"] != 4 {
		t.Fatalf("removal: %v, departed %v, final %v", err, g.Departed, g.Final)
	}
	if got := texts(notes); !slices.Equal(got, []string{"carol: carol left"}) { // today's wording for a removed member who wrote
		t.Fatalf("notices %v", got)
	}
	if r := g.Roster(); r.Seed != nil || r.Sign != nil || !slices.Equal(r.Members, []string{"alice", "bob", "dave"}) || r.Final["carol"] != 4 {
		t.Fatalf("the roster for the removed: %+v", r)
	}
	notes, _ = g.Change(Remove("dave", 0), env(sent, nil))
	if got := texts(notes); !slices.Equal(got, []string{"alice: alice removed dave"}) {
		t.Fatalf("notices %v", got)
	}

	// A member's request to leave: the holder removes them.
	b.Take("bob", &wire.GroupInfo{ID: g.ID, Creator: "alice", Members: g.Members, Epoch: g.Epoch, Leave: true, Sent: 3}, env(sent, nil))
	if l := g.TakeLeaving(); !slices.Equal(l, []string{"bob"}) || g.LeftSent["bob"] != 3 || g.Leaving != nil {
		t.Fatalf("leaving %v, left sent %v", l, g.LeftSent)
	}

	// Hand-over: carol is no member; bob is.
	if _, _, err := g.HandOver("carol", 9); !errors.As(err, &me) {
		t.Fatalf("handing over to a non-member: %v", err)
	}
	info, notes, err := g.HandOver("bob", 9)
	if err != nil || info.Creator != "bob" || info.Leave || info.Seed != nil || info.Final["alice"] != 9 || !g.Gone || g.Creator != "bob" {
		t.Fatalf("hand-over: %v, %+v", err, info)
	}
	if got := texts(notes); !slices.Equal(got, []string{"alice: alice left and handed the group to bob"}) {
		t.Fatalf("notices %v", got)
	}
	var he *HolderError
	if _, err := g.Change(Rename("x"), env(sent, nil)); !errors.As(err, &he) || he.Holder != "bob" || !errors.Is(err, ErrNotHolder) {
		t.Fatalf("a change after handing over: %v", err)
	}
}

// TestNotHolder: a member who does not hold the group changes nothing,
// leaves by telling the holder.
func TestNotHolder(t *testing.T) {
	b := New("bob")
	b.Take("alice", roster("alice", 1, 1, 0, "alice", "bob"), env(nil, nil))
	g := b.Group(id)
	before := g.Epoch
	if _, err := g.Change(Invite("dave"), env(nil, nil)); !errors.Is(err, ErrNotHolder) || g.Epoch != before || g.Member("dave") {
		t.Fatalf("a member's invitation: %v", err)
	}
	if _, _, err := g.HandOver("alice", 0); !errors.Is(err, ErrNotHolder) {
		t.Fatalf("a member's hand-over: %v", err)
	}
	if g.Successor() != "alice" {
		t.Fatalf("successor %q", g.Successor())
	}
	info, notes := g.Leave(7)
	if !info.Leave || info.Sent != 7 || info.Seed != nil || !g.Gone || !g.Left || g.Mine() != nil {
		t.Fatalf("leave: %+v", info)
	}
	if got := texts(notes); !slices.Equal(got, []string{"bob: bob left"}) {
		t.Fatalf("notices %v", got)
	}
	// Left: later rosters are ignored.
	b.Take("alice", roster("alice", 2, 1, 0, "alice", "bob"), env(nil, nil))
	if g.Epoch != 1 || !g.Gone {
		t.Fatalf("a roster after leaving: %+v", g)
	}
}

// TestKeyChanges: a member's keys change on the chain: the user makes a
// new key in every group with them, gives it to the others (not them);
// confirming forgets their old keys and makes another.
func TestKeyChanges(t *testing.T) {
	b, g := holding(t)
	g.Given("bob", 1)
	g.Given("carol", 1)
	other := &Group{ID: "ffffffffffffffffffffffffffffffff", Name: "other", Creator: "alice", Members: []string{"alice", "dave"}, Epoch: 1, Self: "alice",
		Keys: map[string][]*Key{}, Next: map[string]uint64{}, SentKey: map[string]uint64{}}
	b.Groups[other.ID] = other
	old := g.Mine()
	var rekeyed []string
	notes := b.KeysChanged("bob", NewKeys, env(map[string]uint64{g.ID: 3}, &rekeyed))
	if got := texts(notes); len(got) != 1 || !strings.Contains(got[0], "bob's keys changed on the chain: nothing goes to bob until you confirm") {
		t.Fatalf("notices %v", got)
	}
	if g.Mine() == old || g.Mine().From != 3 || g.Epoch != 1 || len(g.SentKey) != 0 || !slices.Equal(rekeyed, []string{g.ID}) {
		t.Fatalf("after the change: mine %+v, sent %v", g.Mine(), g.SentKey)
	}
	if got := texts(b.KeysChanged("bob", Revoked, env(nil, nil))); len(got) != 1 || !strings.Contains(got[0], "bob's name was revoked") {
		t.Fatalf("revoked: %v", got)
	}
	if got := texts(b.KeysChanged("bob", Lapsed, env(nil, nil))); len(got) != 1 || !strings.Contains(got[0], "bob's name expired and anyone may register it now: nothing goes to bob unless they register it again with the same keys") {
		t.Fatalf("lapsed: %v", got)
	}
	if len(g.Keys["bob"]) != 1 {
		t.Fatal("bob's old key was dropped before he was confirmed")
	}
	notes = b.Confirmed("bob", env(nil, nil))
	if got := texts(notes); !slices.Equal(got, []string{"alice: alice confirmed bob's new keys"}) {
		t.Fatalf("notices %v", got)
	}
	if len(g.Keys["bob"]) != 0 || g.Next["bob"] != 0 || slices.Contains(g.Readers(), "bob") {
		t.Fatalf("bob's old keys are kept: %v", seeds(g, "bob"))
	}
	// A new link: every key given to that name goes again.
	g.Given("carol", 1)
	b.Relinked("carol")
	if _, ok := g.SentKey["carol"]; ok {
		t.Fatal("carol's key was not to be given again over the new link")
	}
}

// TestRecovered: once the user's own name has new keys (a recovery),
// its key in every group is new, to be given to every member, and the
// members' keys and positions are forgotten (each gives a new one over
// the new link); a group the user left is not touched.
func TestRecovered(t *testing.T) {
	b, g := holding(t)
	g.Given("bob", 1)
	g.Given("carol", 1)
	gone := &Group{ID: "ffffffffffffffffffffffffffffffff", Name: "gone", Creator: "dave", Members: []string{"dave"}, Epoch: 1, Self: "alice", Gone: true,
		Keys: map[string][]*Key{}, Next: map[string]uint64{}, SentKey: map[string]uint64{"dave": 1}}
	b.Groups[gone.ID] = gone
	g.Keys["bob"] = []*Key{NewKey(1, 0, seed(5))}
	g.Next["bob"] = 2
	old := g.Mine()
	var rekeyed []string
	notes := b.Recovered(env(map[string]uint64{g.ID: 4}, &rekeyed))
	if got := texts(notes); len(got) != 1 || !strings.Contains(got[0], "alice recovered the name on a new device: a new key") {
		t.Fatalf("notices %v", got)
	}
	if g.Mine() == old || g.Mine().From != 4 || len(g.SentKey) != 0 || !slices.Equal(rekeyed, []string{g.ID}) {
		t.Fatalf("after the recovery: mine %+v, sent %v", g.Mine(), g.SentKey)
	}
	if len(g.Keys["bob"]) != 0 || g.Next["bob"] != 0 || !slices.Equal(g.ToGive(), []string{"bob", "carol"}) {
		t.Fatalf("bob's keys %v, next %d, to give %v", seeds(g, "bob"), g.Next["bob"], g.ToGive())
	}
	if gone.SentKey["dave"] != 1 {
		t.Fatal("a group the user left was touched")
	}
}

// TestKeyChain: a sender key's chain moves past each message opened,
// never back, and not past one that did not open.
func TestKeyChain(t *testing.T) {
	k := NewKey(1, 4, seed(9))
	if _, err := k.MessageKey(3); err == nil || !strings.Contains(err.Error(), "message 3: its key is gone") {
		t.Fatalf("a message before the key's first opened: %v, want its key gone", err)
	}
	if err := k.Open(6, func([32]byte) error { return errors.New("forged") }); err == nil || k.At != 4 {
		t.Fatalf("a blob that did not open moved the chain to %d", k.At)
	}
	var mk6 [32]byte
	if err := k.Open(6, func(mk [32]byte) error { mk6 = mk; return nil }); err != nil || k.At != 7 {
		t.Fatalf("open 6: %v, at %d", err, k.At)
	}
	if _, err := k.MessageKey(5); err == nil || !strings.Contains(err.Error(), "message 5: its key is gone") {
		t.Fatalf("a message skipped over opened later (forward secrecy): %v, want its key gone", err)
	}
	again := NewKey(1, 4, seed(9))
	if mk, _ := again.MessageKey(6); mk != mk6 {
		t.Fatal("the chain is not deterministic")
	}
	if _, err := again.MessageKey(again.At + 100001); err == nil || !strings.Contains(err.Error(), "is too far ahead") {
		t.Fatalf("a message far ahead opened: %v, want too far ahead", err)
	}
}

// exchange delivers, in every book, each member's current roster and key
// to every other member of its group (what the client sends over the
// group links), until nothing changes, and marks them given.
func exchange(t *testing.T, books map[string]*Book, gid string) {
	t.Helper()
	for round := 0; round < 3; round++ {
		for from, b := range books {
			g := b.Group(gid)
			if g == nil || g.Gone {
				continue
			}
			for _, m := range g.ToGive() {
				if to := books[m]; to != nil {
					to.Take(from, g.Info(false), env(nil, nil))
					g.Given(m, g.Epoch)
				}
			}
		}
	}
}

// TestFiftyMembers: a group of fifty, in memory: everyone ends with
// everyone's key of the epoch; the holder removes one, and after the next
// exchange nobody holds a key the removed member got, and the removed
// member holds no key of the new epoch.
func TestFiftyMembers(t *testing.T) {
	names := []string{"alice"}
	for i := range 49 {
		names = append(names, "m"+string(rune('a'+i/26))+string(rune('a'+i%26)))
	}
	slices.Sort(names)
	books := map[string]*Book{}
	for _, n := range names {
		books[n] = New(n)
	}
	g, _ := books["alice"].Create("fifty", names, env(nil, nil))
	exchange(t, books, g.ID)
	for _, n := range names {
		if mg := books[n].Group(g.ID); mg == nil || !mg.HasKeys() || len(mg.Members) != 50 {
			t.Fatalf("%s: %+v", n, mg)
		}
	}
	removed := names[7]
	if _, err := g.Change(Remove(removed, 0), env(nil, nil)); err != nil {
		t.Fatal(err)
	}
	books[removed].Take("alice", g.Roster(), env(nil, nil)) // the removal, told without a key
	exchange(t, books, g.ID)
	for _, n := range names {
		mg := books[n].Group(g.ID)
		if n == removed {
			if !mg.Gone || mg.Epoch != 2 {
				t.Fatalf("the removed member: gone %v, epoch %d", mg.Gone, mg.Epoch)
			}
			for m, ks := range mg.Keys {
				for _, k := range ks {
					if k.Epoch == 2 && m != n {
						t.Fatalf("the removed member holds %s's key of the new epoch", m)
					}
				}
			}
			continue
		}
		if !mg.HasKeys() || mg.Epoch != 2 || mg.Member(removed) {
			t.Fatalf("%s after the removal: has keys %v, epoch %d", n, mg.HasKeys(), mg.Epoch)
		}
	}
}

// TestGroupSenders: each device of a member is a sender of its own. A
// key already held for another sender (one device's copied to another)
// is refused, as is a device's key without its signing key; a device
// linked keeps none of the keys its welcome carried (its first device's
// own signing seed among them) and makes its own; once a device that had
// the user's key is no longer listed, the user makes a new key and reads
// nothing more from that device.
func TestGroupSenders(t *testing.T) {
	laptop := strings.Repeat("ab", 32)
	bobLaptop := Sender("bob", laptop)
	if NameOf(bobLaptop) != "bob" || DevOf(bobLaptop) != laptop || Sender("bob", "") != "bob" || DevOf("bob") != "" {
		t.Fatalf("Sender/NameOf/DevOf: %q %q %q", bobLaptop, NameOf(bobLaptop), DevOf(bobLaptop))
	}
	x := env(map[string]uint64{}, nil)
	b := New("alice")
	g, _ := b.Create("trip", []string{"alice", "bob", "carol"}, x)
	id := g.ID
	take := func(from string, s byte, sign bool) {
		in := &wire.GroupInfo{ID: id, Name: "trip", Creator: "alice", Members: g.Members, Epoch: 1, Seed: seed(s)}
		if sign {
			in.Sign = seed(s + 100)
		}
		b.Take(from, in, x)
	}
	take("bob", 1, true)
	take(bobLaptop, 1, true) // bob's first device's key, given again as the laptop's
	if len(g.Keys[bobLaptop]) != 0 {
		t.Fatal("a sender key held for bob's first device was taken as his laptop's (ErrCopiedKey)")
	}
	take(bobLaptop, 2, false)
	if len(g.Keys[bobLaptop]) != 0 {
		t.Fatal("a linked device's key without its signing key was taken")
	}
	take(bobLaptop, 2, true)
	if got := seeds(g, bobLaptop); !bytes.Equal(got, []byte{2}) || !slices.Contains(g.Readers(), bobLaptop) {
		t.Fatalf("bob's laptop's keys %v, readers %q", got, g.Readers())
	}
	take(Sender("mallory", laptop), 3, true)
	if len(g.Keys[Sender("mallory", laptop)]) != 0 {
		t.Fatal("a key from a device of a name the roster does not list was taken")
	}

	// Alice links a laptop: its welcome carried this book.
	mine := g.Mine()
	g.Given(bobLaptop, g.Epoch)
	lb := New("alice")
	lg := *g
	lg.Keys = map[string][]*Key{}
	for s, ks := range g.Keys {
		for _, k := range ks {
			kk := *k
			lg.Keys[s] = append(lg.Keys[s], &kk)
		}
	}
	lg.Next, lg.SentKey = maps(g.Next), maps(g.SentKey)
	lb.Groups[id] = &lg
	lb.Linked(laptop, func(string) uint64 { return 7 }, x)
	if lg.Me() != Sender("alice", laptop) || lg.Mine() == nil || bytes.Equal(lg.Mine().Seed, mine.Seed) || bytes.Equal(lg.Mine().SignSeed, mine.SignSeed) {
		t.Fatalf("the laptop's own key %+v, the first device's %+v", lg.Mine(), mine)
	}
	for s, ks := range lg.Keys {
		for _, k := range ks {
			if s != lg.Me() || bytes.Equal(k.Seed, mine.Seed) || (len(k.SignSeed) > 0 && bytes.Equal(k.SignSeed, mine.SignSeed)) {
				t.Errorf("the linked laptop holds %s's key %x (the welcome's)", s, k.Seed[:4])
			}
		}
	}
	if lg.Next["alice"] != 7 || lg.Mine().From != 0 || len(lg.SentKey) != 0 {
		t.Errorf("the laptop reads the first device from %d, writes from %d, has given %v", lg.Next["alice"], lg.Mine().From, lg.SentKey)
	}

	// Bob removes his laptop: alice's key is new, the laptop is not read.
	ns := b.Unlisted(func(s string) bool { return s != bobLaptop }, x)
	if len(ns) != 1 || g.Mine() == mine || bytes.Equal(g.Mine().Seed, mine.Seed) || len(g.SentKey) != 0 {
		t.Fatalf("after bob's laptop was removed: notices %q, key new: %v, given %v", texts(ns), g.Mine() != mine, g.SentKey)
	}
	if len(g.Keys[bobLaptop]) != 0 || slices.Contains(g.Readers(), bobLaptop) {
		t.Fatal("bob's removed laptop is still read")
	}
	if ns := b.Unlisted(func(s string) bool { return s != bobLaptop }, x); len(ns) != 0 {
		t.Fatalf("a second look makes another key: %q", texts(ns))
	}
}

func maps(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		out[k] = v
	}
	return out
}
