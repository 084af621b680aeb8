package client

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
)

// Group chats. The creator holds the roster: it makes the group, invites,
// removes and renames, each a new epoch. Every member writes its own
// messages to its own hubs under its sender key for the epoch (package
// wire, group.go) and gives that key to every other member over their
// group link (link.go: a pairwise conversation of its own, made from the
// roster's names whether or not the two are contacts); the holder's first
// roster to a member, an invitation, also goes over their contact
// conversation, since the member cannot know of the group before. On
// every new epoch each member makes a new sender key, so a removed member
// reads nothing sent after its removal; likewise, when a member's record
// changes keys on the chain, every member who sees it makes a new key that
// the name does not get until the member confirms the new keys
// (keychange.go). A group's conversation in the history has To = "#" +
// its ID; its notices (KindNotice) say who joined, left, was removed,
// renamed it, and whose keys changed.

// ErrNotMember: the user is not (or no longer) a member of the group.
var ErrNotMember = errors.New("client: not a member of the group")

// Group is a group chat as the user knows it.
type Group struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Creator string   `json:"creator"`
	Members []string `json:"members"`        // sorted, the user included while a member
	Epoch   uint64   `json:"epoch"`          // 0: only keys known so far, no roster
	Gone    bool     `json:"gone,omitempty"` // not a member now (removed, or left)
	Left    bool     `json:"left,omitempty"` // left: later rosters are ignored

	Self    string                  `json:"self"`
	Keys    map[string][]*senderKey `json:"keys"`     // per member, by From then epoch: the last that starts at or before a message is its key
	Next    map[string]uint64       `json:"next"`     // per other member: the next message to read (delivered)
	Read    map[string]uint64       `json:"read"`     // per other member: messages the user has seen
	SentKey map[string]uint64       `json:"sent_key"` // per other member: the epoch of the key last given
	Leaving []string                `json:"leaving,omitempty"`
	// LeftSent: how many messages each member who asked to leave wrote
	// (the creator's, until the roster without them goes out); Departed:
	// those of this epoch's roster, given with it; Final: members who left,
	// read up to how many messages they wrote.
	LeftSent map[string]uint64 `json:"left_sent,omitempty"`
	Departed map[string]uint64 `json:"departed,omitempty"`
	Final    map[string]uint64 `json:"final,omitempty"`
	// Held: rosters from a member who says it now holds the group, read
	// before the hand-over that makes it so (they came over another
	// conversation); taken once the hand-over is.
	Held   []heldRoster `json:"held,omitempty"`
	TimerS int64        `json:"timer,omitempty"`
	Out    savedStream  `json:"out"`
	// NextN is the number of the user's next text message in the group
	// (absent: the state is older than numbers).
	NextN uint64 `json:"next_n,omitempty"`
	out   stream
}

type heldRoster struct {
	From string          `json:"from"`
	Info *wire.GroupInfo `json:"info"`
}

// maxHeld bounds the rosters a group holds back.
const maxHeld = 8

// savedStream is a stream in the state file.
type savedStream struct {
	Next     uint64               `json:"next"`
	Outbox   []outboxEntry        `json:"outbox,omitempty"`
	Deleted  []uint64             `json:"deleted,omitempty"`
	Indexed  map[string]indexMark `json:"indexed,omitempty"`
	Expiring []wire.Expiry        `json:"expiring,omitempty"`
}

// senderKey is a member's key for one epoch, and where its chain is.
type senderKey struct {
	Epoch uint64   `json:"epoch"`
	Seed  []byte   `json:"seed"`
	From  uint64   `json:"from"` // the member's first message under it
	CK    [32]byte `json:"ck"`   // the chain key of message At
	At    uint64   `json:"at"`
	// The member's Ed25519 key for the epoch's messages: the public half,
	// given with the sender key over the pairwise conversation, and, for
	// the user's own, the private seed. (Keys from before there were such
	// keys have neither: their messages are signed with the on-chain key.)
	SignPub  []byte `json:"sign_pub,omitempty"`
	SignSeed []byte `json:"sign_seed,omitempty"`
}

// signer is the key the user's messages under k are signed with.
func (k *senderKey) signer(onChain ed25519.PrivateKey) ed25519.PrivateKey {
	if len(k.SignSeed) == ed25519.SeedSize {
		return ed25519.NewKeyFromSeed(k.SignSeed)
	}
	return onChain
}

// verifier is the key a member's messages under k are checked with.
func (k *senderKey) verifier(onChain []byte) []byte {
	if len(k.SignPub) == ed25519.PublicKeySize {
		return k.SignPub
	}
	return onChain
}

func newSenderKey(epoch, from uint64, seed []byte) *senderKey {
	return &senderKey{Epoch: epoch, Seed: seed, From: from, At: from, CK: wire.GroupChainStart(seed)}
}

// messageKey returns MK_i and moves the chain past it; a message before
// the chain's position cannot be opened again (forward secrecy).
func (k *senderKey) messageKey(i uint64) ([32]byte, error) {
	if i < k.At {
		return [32]byte{}, fmt.Errorf("client: group message %d: its key is gone", i)
	}
	if i-k.At > 100000 {
		return [32]byte{}, fmt.Errorf("client: group message %d is too far ahead", i)
	}
	for k.At < i {
		k.CK, _ = wire.GroupChainStep(k.CK)
		k.At++
	}
	var mk [32]byte
	k.CK, mk = wire.GroupChainStep(k.CK)
	k.At++
	return mk, nil
}

func (g *Group) conv() string             { return "#" + g.ID }
func (g *Group) setTimer(d time.Duration) { g.timer(d) }
func (g *Group) outStream() *stream       { return &g.out }
func (g *Group) timer(d time.Duration)    { g.TimerS = int64(d / time.Second) }

// keyFor returns member's key for its message i: the last one that starts
// at or before i.
func (g *Group) keyFor(member string, i uint64) *senderKey {
	var best *senderKey
	for _, k := range g.Keys[member] {
		if k.From <= i {
			best = k
		}
	}
	return best
}

func (g *Group) latest(member string) *senderKey {
	ks := g.Keys[member]
	if len(ks) == 0 {
		return nil
	}
	return ks[len(ks)-1]
}

// mine is the user's current sender key (nil once gone).
func (g *Group) mine() *senderKey {
	if g.Gone {
		return nil
	}
	return g.latest(g.Self)
}

func (g *Group) forget(m *Message) string {
	if !g.out.forget(m.Seq) {
		return ""
	}
	if k := g.keyFor(m.From, m.Seq); k != nil {
		return wire.GroupPath(k.Seed, m.Seq)
	}
	return ""
}

func (g *Group) member(name string) bool {
	_, ok := slices.BinarySearch(g.Members, name)
	return ok
}

// addKey records a key of member's: once, and in place of a key of the
// same epoch that starts at the same message (made again before anything
// was written under it). A member may have several keys in one epoch: it
// makes a new one when another member's keys change (keysChangedInGroups).
func (g *Group) addKey(member string, k *senderKey) {
	for i, old := range g.Keys[member] {
		switch {
		case old.Epoch == k.Epoch && bytes.Equal(old.Seed, k.Seed):
			return
		case old.Epoch == k.Epoch && old.From == k.From:
			g.Keys[member][i] = k
			return
		}
	}
	g.Keys[member] = append(g.Keys[member], k)
	slices.SortFunc(g.Keys[member], func(a, b *senderKey) int { return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.Epoch, b.Epoch)) })
}

// rekey gives the user a new sender key for the group's epoch, starting
// at its next message.
func (g *Group) rekey() {
	seed := make([]byte, 32)
	rand.Read(seed)
	k := newSenderKey(g.Epoch, g.out.next, seed)
	k.SignSeed = make([]byte, ed25519.SeedSize)
	rand.Read(k.SignSeed)
	k.SignPub = ed25519.NewKeyFromSeed(k.SignSeed).Public().(ed25519.PublicKey)
	g.addKey(g.Self, k)
	g.out.indexed = nil // the index moves with the key
}

func (g *Group) info(leave bool) *wire.GroupInfo {
	in := &wire.GroupInfo{ID: g.ID, Name: g.Name, Creator: g.Creator, Members: g.Members, Epoch: g.Epoch, Leave: leave, Final: g.Departed}
	if k := g.mine(); k != nil && !leave {
		in.Seed, in.From, in.Sign = k.Seed, k.From, k.SignPub
	}
	return in
}

// conversationOf returns the contact or group a conversation name means.
func (c *Client) conversationOf(name string) conversation {
	if len(name) > 0 && name[0] == '#' {
		if g := c.groups[name[1:]]; g != nil {
			return g
		}
		return nil
	}
	if ct := c.contacts[name]; ct != nil {
		return ct
	}
	return nil
}

func (c *Client) group(id string) (*Group, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[id]
	if g == nil || g.Epoch == 0 {
		return nil, fmt.Errorf("client: no group %s", id)
	}
	return g, nil
}

// Groups returns the groups the user knows, by name.
func (c *Client) Groups() []Group {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Group
	for _, g := range c.groups {
		if g.Epoch > 0 {
			out = append(out, Group{ID: g.ID, Name: g.Name, Creator: g.Creator, Members: slices.Clone(g.Members), Epoch: g.Epoch, Gone: g.Gone})
		}
	}
	slices.SortFunc(out, func(a, b Group) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	return out
}

// FindGroup returns the ID of the group with that ID or name.
func (c *Client) FindGroup(idOrName string) (string, error) {
	var found []string
	for _, g := range c.Groups() {
		if g.ID == idOrName {
			return g.ID, nil
		}
		if g.Name == idOrName {
			found = append(found, g.ID)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("client: no group %q", idOrName)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("client: %d groups are named %q: use the ID", len(found), idOrName)
}

// CreateGroup makes a group of the user and members (contacts of the
// user), and gives them the roster and the user's key. Members who do not
// know each other are introduced through the roster.
func (c *Client) CreateGroup(ctx context.Context, name string, members []string) (string, error) {
	if len(name) > wire.MaxGroupName {
		return "", fmt.Errorf("client: a group name has at most %d bytes", wire.MaxGroupName)
	}
	all := append([]string{c.Name}, members...)
	slices.Sort(all)
	all = slices.Compact(all)
	if len(all) > wire.MaxGroupMembers {
		return "", fmt.Errorf("client: a group has at most %d members", wire.MaxGroupMembers)
	}
	for _, m := range all {
		if m == c.Name {
			continue
		}
		if _, err := c.contact(m); err != nil {
			return "", fmt.Errorf("client: %s is not a contact: add them first (members meet each other through the group)", m)
		}
		if err := c.CheckKeys(ctx, m); err != nil && !IsOffline(err) {
			return "", err // never a name whose keys changed, unconfirmed (offline, keys wait for the check)
		}
	}
	id := make([]byte, 16)
	rand.Read(id)
	g := &Group{ID: hex.EncodeToString(id), Name: name, Creator: c.Name, Members: all, Epoch: 1, Self: c.Name,
		Keys: map[string][]*senderKey{}, Next: map[string]uint64{}, SentKey: map[string]uint64{}}
	g.rekey()
	c.mu.Lock()
	c.groups[g.ID] = g
	c.notice(g, c.Name, fmt.Sprintf("%s made the group %s with %s", c.Name, name, strings.Join(slices.DeleteFunc(slices.Clone(all), func(m string) bool { return m == c.Name }), ", ")))
	err := c.save()
	c.mu.Unlock()
	if err != nil {
		return "", err
	}
	_, err = c.SyncGroups(ctx)
	return g.ID, err
}

// lockHeld returns group id with c.mu held if the user holds it (made it,
// or was handed it, and is in it); else, without the lock, an error saying
// who holds it and may do what.
func (c *Client) lockHeld(id, what string) (*Group, error) {
	g, err := c.group(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if g.Creator != c.Name || g.Gone {
		c.mu.Unlock()
		return nil, fmt.Errorf("client: only %s, who holds the group, %s", g.Creator, what)
	}
	return g, nil
}

// changeRoster is a roster change by the creator: a new epoch.
func (c *Client) changeRoster(ctx context.Context, id string, change func(g *Group) error) error {
	g, err := c.lockHeld(id, "changes its members or name")
	if err != nil {
		return err
	}
	before, name := slices.Clone(g.Members), g.Name
	if err := change(g); err != nil {
		c.mu.Unlock()
		return err
	}
	left := map[string]bool{}
	for m := range g.LeftSent {
		left[m] = true
	}
	c.rosterNotices(g, c.Name, name, before, left)
	g.Departed = nil
	for _, m := range before {
		if n, ok := g.LeftSent[m]; ok && !g.member(m) { // left of their own accord: what they wrote stays readable
			if g.Departed == nil {
				g.Departed = map[string]uint64{}
			}
			g.Departed[m] = n
			delete(g.LeftSent, m)
			g.keepReading(m, n)
		}
	}
	g.Epoch++
	g.rekey()
	err = c.save()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	_, err = c.SyncGroups(ctx)
	return err
}

// Invite adds name to the group (creator only).
func (c *Client) Invite(ctx context.Context, id, name string) error {
	if _, err := c.contact(name); err != nil {
		return fmt.Errorf("client: %s is not a contact: add them first", name)
	}
	if err := c.CheckKeys(ctx, name); err != nil && !IsOffline(err) {
		return err // never a name whose keys changed, unconfirmed (offline, its key waits for the check)
	}
	return c.changeRoster(ctx, id, func(g *Group) error {
		if g.member(name) {
			return fmt.Errorf("client: %s is already in the group", name)
		}
		g.Members = append(g.Members, name)
		slices.Sort(g.Members)
		return nil
	})
}

// RemoveMember removes name from the group (creator only): every member
// makes a new key that name does not get; name is told the new roster,
// without any key.
func (c *Client) RemoveMember(ctx context.Context, id, name string) error {
	// What they wrote until now (as their index on their hubs says) stays
	// readable to the others; nothing after.
	wrote := c.groupIndexOf(ctx, id, name)
	err := c.changeRoster(ctx, id, func(g *Group) error {
		if !g.member(name) || name == c.Name {
			return fmt.Errorf("client: %s is not another member of the group", name)
		}
		g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == name })
		if _, left := g.LeftSent[name]; !left && wrote > 0 {
			if g.LeftSent == nil {
				g.LeftSent = map[string]uint64{}
			}
			g.LeftSent[name] = wrote
		}
		return nil
	})
	if err != nil {
		return err
	}
	g, _ := c.group(id)
	c.mu.Lock()
	info := g.info(false)
	info.Seed, info.From, info.Sign = nil, 0, nil
	c.mu.Unlock()
	if err := c.tellMember(ctx, g, name, info, true); err != nil && !errors.Is(err, ErrQueued) && !errors.Is(err, ErrKeysChanged) {
		return fmt.Errorf("client: telling %s of the removal: %w", name, err)
	}
	return nil
}

// groupIndexOf returns how many messages member has written to group id,
// as the index under member's newest key on member's hubs says (0 if it
// cannot be read).
func (c *Client) groupIndexOf(ctx context.Context, id, member string) uint64 {
	g, err := c.group(id)
	if err != nil {
		return 0
	}
	ct := c.memberConv(member)
	if ct == nil {
		return 0
	}
	c.mu.Lock()
	k := g.latest(member)
	c.mu.Unlock()
	if k == nil {
		return 0
	}
	hubs, addr := c.whereIs(ct)
	return c.bestIndex(ctx, hubs, addr, wire.GroupIndexPath(k.Seed), wire.GroupIndexKey(k.Seed)).Count
}

// RenameGroup renames the group (creator only).
func (c *Client) RenameGroup(ctx context.Context, id, name string) error {
	if len(name) > wire.MaxGroupName {
		return fmt.Errorf("client: a group name has at most %d bytes", wire.MaxGroupName)
	}
	return c.changeRoster(ctx, id, func(g *Group) error { g.Name = name; return nil })
}

// LeaveGroup tells the creator the user leaves; the user stops reading
// and writing the group. (The creator then starts an epoch without them.)
func (c *Client) LeaveGroup(ctx context.Context, id string) error {
	g, err := c.group(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if g.Creator == c.Name {
		var next string
		for _, m := range g.Members {
			if m != c.Name {
				next = m
				break
			}
		}
		c.mu.Unlock()
		return c.HandOver(ctx, id, next)
	}
	info := g.info(true)
	info.Sent, info.Final = g.out.next, nil
	g.Gone, g.Left = true, true
	c.notice(g, c.Name, c.Name+" left")
	err = c.save()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	err = c.tellMember(ctx, g, g.Creator, info, true)
	if errors.Is(err, ErrQueued) || errors.Is(err, ErrKeysChanged) { // left here either way; a holder whose keys changed is told nothing
		err = nil
	}
	return err
}

// keepReading lets the user read what member, leaving, wrote: its first n
// messages; the caller holds c.mu.
func (g *Group) keepReading(member string, n uint64) {
	if next, ok := g.Next[member]; !ok || next >= n {
		return
	}
	if g.Final == nil {
		g.Final = map[string]uint64{}
	}
	g.Final[member] = n
}

// HandOver makes member the group's creator (who holds its roster from
// now on) and the user, its creator, leaves: a last roster, without the
// user and without keys, goes to every other member, who make new keys
// for its epoch. With no other member (member ""), the group just ends.
func (c *Client) HandOver(ctx context.Context, id, member string) error {
	if member != "" {
		if _, err := c.checkName(ctx, member); err != nil && !IsOffline(err) {
			return err // never to a name whose keys changed, unconfirmed (offline, the roster waits for the check)
		}
	}
	g, err := c.lockHeld(id, "hands it over")
	if err != nil {
		return err
	}
	if member != "" && (member == c.Name || !g.member(member)) {
		c.mu.Unlock()
		return fmt.Errorf("client: %s is not another member of the group", member)
	}
	g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == c.Name })
	g.Epoch++
	g.Departed = map[string]uint64{c.Name: g.out.next}
	info := g.info(true)
	info.Creator, info.Leave = member, false
	g.Gone, g.Left = true, true
	if member != "" {
		g.Creator = member
		c.notice(g, c.Name, fmt.Sprintf("%s left and handed the group to %s", c.Name, member))
	} else {
		c.notice(g, c.Name, c.Name+" left: the group ends")
	}
	err = c.save()
	c.mu.Unlock()
	if err != nil || member == "" {
		return err
	}
	var errs []error
	for _, m := range info.Members {
		if err := c.tellMember(ctx, g, m, info, true); err != nil && !errors.Is(err, ErrQueued) && !errors.Is(err, ErrKeysChanged) {
			errs = append(errs, fmt.Errorf("telling %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// takeGroupEvent applies a KindGroup event that from sent the user over
// their pairwise conversation; the caller holds c.mu.
//
// Only the group's holder makes or changes group state: a group the user
// does not know is made only by a roster from the member it names as its
// holder (and that lists the user); a known group's roster changes only
// by one from its holder (or a hand-over from it). Anyone else can give
// only their own sender key, and only while the roster the user holds
// lists them (or lets the user read what they wrote before leaving). A key
// from someone the user cannot place yet, for a group it has no roster of
// or an epoch past its roster (the holder's roster comes over another
// conversation and may be read later), is held back apart from any group
// (heldKeys, bounded per sender) and tried again when a roster comes.
func (c *Client) takeGroupEvent(from string, in *wire.GroupInfo) {
	g := c.groups[in.ID]
	if g == nil || g.Epoch == 0 { // no roster yet (an epoch-0 group is from before holders were checked)
		if from != in.Creator || in.Leave || in.Epoch == 0 || !slices.Contains(in.Members, c.Name) {
			c.holdKey(from, in)
			return
		}
		if g == nil {
			g = &Group{ID: in.ID, Self: c.Name, Keys: map[string][]*senderKey{}, Next: map[string]uint64{}, SentKey: map[string]uint64{}}
			c.groups[in.ID] = g
		}
		g.Creator = in.Creator
	}
	handOver := from == g.Creator && in.Creator != g.Creator && in.Epoch > g.Epoch && !in.Leave
	if in.Creator != g.Creator && !handOver {
		if from == in.Creator && in.Epoch > g.Epoch && g.member(from) {
			g.hold(from, in) // perhaps a hand-over to them not read yet
		}
		return // else another group under the same ID: ignored
	}
	if handOver {
		defer func() { // what the new holder sent meanwhile
			held := g.Held
			g.Held = nil
			for _, h := range held {
				c.takeGroupEvent(h.From, h.Info)
			}
		}()
	}
	if in.Leave {
		if g.Creator == c.Name && g.member(from) && !slices.Contains(g.Leaving, from) {
			g.Leaving = append(g.Leaving, from) // SyncGroups removes them
			if g.LeftSent == nil {
				g.LeftSent = map[string]uint64{}
			}
			g.LeftSent[from] = in.Sent
		}
		return
	}
	if from == g.Creator && in.Epoch > g.Epoch && !g.Left {
		// A new roster: adopt it and make a new key for the epoch (a
		// removed member invited again is a member again).
		members := slices.Clone(in.Members)
		slices.Sort(members)
		before, name, notify := g.Members, g.Name, true
		if g.Gone { // back in: told as an invitation; still out: nothing to tell
			before, notify = nil, slices.Contains(members, c.Name)
		}
		g.Name, g.Members, g.Epoch, g.Creator = in.Name, slices.Compact(members), in.Epoch, in.Creator
		left := map[string]bool{}
		for m := range in.Final {
			left[m] = true
		}
		if handOver {
			c.notice(g, from, fmt.Sprintf("%s left and handed the group to %s", from, c.you(in.Creator)))
		}
		if notify {
			c.rosterNotices(g, from, name, before, left)
		}
		wasGone := g.Gone
		g.Gone = !g.member(c.Name)
		if !g.Gone {
			g.rekey()
		}
		if wasGone && !g.Gone {
			clear(g.Next) // back in: read from the keys given now, not what was sent meanwhile
		}
		for m, n := range in.Final {
			if m != c.Name {
				g.keepReading(m, n)
			}
		}
		for m := range g.Keys { // nothing more is read from members who left, but what they wrote before leaving
			if _, final := g.Final[m]; m != c.Name && !g.member(m) && !final {
				delete(g.Next, m)
			}
		}
		defer c.takeHeldKeys(g.ID) // keys that came before this roster
	}
	if len(in.Seed) != 32 || from == c.Name {
		return
	}
	if _, final := g.Final[from]; !g.member(from) && !final {
		if in.Epoch > g.Epoch {
			c.holdKey(from, in) // a member of a roster not read yet
		}
		return
	}
	k := newSenderKey(in.Epoch, in.From, in.Seed)
	k.SignPub = in.Sign
	g.addKey(from, k)
	if _, ok := g.Next[from]; !ok {
		g.Next[from] = in.From // a member's messages before the user joined stay unread
	}
}

// hold keeps a roster from a member who says it holds the group now, one
// per member (the newest epoch), until the hand-over that makes it so.
func (g *Group) hold(from string, in *wire.GroupInfo) {
	for i, h := range g.Held {
		if h.From == from {
			if in.Epoch > h.Info.Epoch {
				g.Held[i].Info = in
			}
			return
		}
	}
	if len(g.Held) < maxHeld {
		g.Held = append(g.Held, heldRoster{from, in})
	}
}

// maxHeldKeys bounds the keys held back from one sender.
const maxHeldKeys = 4

// holdKey keeps a sender key from someone the user cannot place in a
// group yet (heldKeys), at most maxHeldKeys per sender, the newest; an
// event that carries no key is dropped. The caller holds c.mu.
func (c *Client) holdKey(from string, in *wire.GroupInfo) {
	if len(in.Seed) != 32 || in.Leave || from == c.Name {
		return
	}
	var mine []int
	for i, h := range c.heldKeys {
		if h.From == from {
			if h.Info.ID == in.ID && h.Info.Epoch == in.Epoch {
				return
			}
			mine = append(mine, i)
		}
	}
	if len(mine) >= maxHeldKeys {
		c.heldKeys = slices.Delete(c.heldKeys, mine[0], mine[0]+1)
	}
	c.heldKeys = append(c.heldKeys, heldRoster{from, in})
}

// takeHeldKeys tries again the keys held back for group id, now that a
// roster of it came; the caller holds c.mu.
func (c *Client) takeHeldKeys(id string) {
	var todo []heldRoster
	c.heldKeys = slices.DeleteFunc(c.heldKeys, func(h heldRoster) bool {
		if h.Info.ID == id {
			todo = append(todo, h)
			return true
		}
		return false
	})
	for _, h := range todo {
		c.takeGroupEvent(h.From, h.Info)
	}
}

// SyncGroups brings every group up to date: it reads every contact
// conversation and group link (rosters and keys come that way), the
// creator removes members who asked to leave, each member links with
// members it has no link with yet and gives its current key to those who
// do not have it, then it reads every member's new messages. It returns
// what it read. Members whose link waits for their introduction get the
// key on a later call.
func (c *Client) SyncGroups(ctx context.Context) ([]Message, error) {
	return c.syncGroups(ctx, true, true)
}

// syncGroups is SyncGroups; pairwise and read say whether to read the
// pairwise conversations and the groups (Watch reads them when told of a
// change, and only gives keys on its own).
func (c *Client) syncGroups(ctx context.Context, pairwise, read bool) ([]Message, error) {
	var (
		firstErr error
		out      []Message
	)
	if pairwise {
		for _, n := range c.Contacts() {
			ms, err := c.Receive(ctx, n)
			out = append(out, ms...)
			if !errors.Is(err, ErrKeysChanged) { // said where it matters: sending, reading, listing
				firstErr = cmp.Or(firstErr, err)
			}
		}
		ms, err := c.receiveLinks(ctx)
		out = append(out, ms...)
		firstErr = cmp.Or(firstErr, err)
	}
	c.mu.Lock()
	var ids []string
	for id, g := range c.groups {
		if g.Epoch > 0 && !g.Gone {
			ids = append(ids, id)
		}
	}
	c.mu.Unlock()
	slices.Sort(ids)
	for _, id := range ids {
		g, _ := c.group(id)
		c.mu.Lock()
		leaving := g.Leaving
		g.Leaving = nil
		c.mu.Unlock()
		for _, m := range leaving {
			if err := c.RemoveMember(ctx, id, m); err != nil {
				firstErr = cmp.Or(firstErr, err)
			}
		}
		if err := c.giveKeys(ctx, g); err != nil {
			firstErr = cmp.Or(firstErr, err)
		}
		if read {
			ms, err := c.ReceiveGroup(ctx, id)
			out = append(out, ms...)
			firstErr = cmp.Or(firstErr, err)
		}
	}
	return out, firstErr
}

// giveKeys sends the user's current key (and the roster) to every member
// who does not have it, over the group link with each (made now if the
// user writes its introduction), and opens the links of members whose
// current key the user lacks, so that it can arrive. Members whose link
// waits for their introduction, or who cannot be written to yet, get it
// on a later call; a member whose keys changed on the chain gets nothing
// until the user confirms them.
func (c *Client) giveKeys(ctx context.Context, g *Group) error {
	c.mu.Lock()
	var todo []string
	for _, m := range g.Members {
		if m == c.Name {
			continue
		}
		if k := g.latest(m); g.SentKey[m] != g.Epoch || k == nil || k.Epoch != g.Epoch {
			todo = append(todo, m)
		}
	}
	c.mu.Unlock()
	var firstErr error
	for _, m := range todo {
		if _, err := c.link(ctx, m); err != nil && !quiet(err) {
			firstErr = cmp.Or(firstErr, fmt.Errorf("client: group link with %s: %w", m, err))
		}
		c.mu.Lock()
		info, epoch := g.info(false), g.Epoch
		given := g.SentKey[m] == epoch
		c.mu.Unlock()
		if given {
			continue
		}
		err := c.tellMember(ctx, g, m, info, false)
		if err != nil && !errors.Is(err, ErrQueued) {
			if !quiet(err) {
				firstErr = cmp.Or(firstErr, fmt.Errorf("client: group key to %s: %w", m, err))
			}
			continue
		}
		c.mu.Lock()
		g.SentKey[m] = epoch
		err = c.save()
		c.mu.Unlock()
		firstErr = cmp.Or(firstErr, err)
	}
	return firstErr
}

// quiet reports whether err only means "not yet" (an introduction or a
// first message to wait for), or a key change the user is told of where
// it matters (sending, reading, the group's notices).
func quiet(err error) bool {
	return errors.Is(err, ErrIntroPending) || errors.Is(err, errCannotSendYet) || errors.Is(err, ErrKeysChanged)
}

// tellMember sends the group event info to member m over the group link
// with m. When the user holds the group and m has given it no key yet (an
// invitation: m may not know the group), or when always is set (a notice
// that carries no key: a removal, a leave, a hand-over), it also goes over
// the contact conversation with m if the link cannot carry it now. It
// fails if neither took it.
func (c *Client) tellMember(ctx context.Context, g *Group, m string, info *wire.GroupInfo, always bool) error {
	e := func() *wire.Event { return &wire.Event{Kind: wire.KindGroup, Group: info} }
	l, err := c.link(ctx, m)
	if err == nil {
		err = c.sendLink(ctx, l, e())
	}
	if errors.Is(err, ErrKeysChanged) {
		return err // nothing goes to a name whose keys changed
	}
	c.mu.Lock()
	invite := g.Creator == c.Name && len(g.Keys[m]) == 0
	c.mu.Unlock()
	if err == nil || errors.Is(err, ErrQueued) {
		if !invite {
			return err
		}
	} else if !invite && !always {
		return err
	}
	if _, cerr := c.contact(m); cerr != nil {
		return err
	}
	_, cerr := c.SendEvent(ctx, m, e())
	if err == nil || errors.Is(err, ErrQueued) {
		return err // the link took it; the contact conversation is a second way in
	}
	return cerr
}

// groupsWaiting reports whether some group the user is in lacks a key of
// a member's or has not given its own to one.
// (Members whose keys changed, until confirmed, are not waited for.)
func (c *Client) groupsWaiting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.groups {
		if g.Epoch == 0 || g.Gone {
			continue
		}
		for _, m := range g.Members {
			if m == c.Name {
				continue
			}
			if ct := c.links[m]; ct != nil && ct.changed != nil {
				continue
			}
			if ct := c.contacts[m]; ct != nil && ct.changed != nil {
				continue
			}
			if k := g.latest(m); k == nil || k.Epoch != g.Epoch || g.SentKey[m] != g.Epoch {
				return true
			}
		}
	}
	return false
}

// HasGroupKeys reports whether the user holds the current key of every
// other member of the group and has given its own to all of them.
func (c *Client) HasGroupKeys(id string) bool {
	g, err := c.group(id)
	if err != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range g.Members {
		if m == c.Name {
			continue
		}
		k := g.latest(m)
		if k == nil || k.Epoch != g.Epoch || g.SentKey[m] != g.Epoch {
			return false
		}
	}
	return true
}

// memberChecks is how many members SendGroup looks up at once.
const memberChecks = 8

// SendGroup writes an event to the group on the user's hubs. It first
// looks every other member up on the chain: if one's keys changed, the
// user's key is made new first (and given to the others), so nothing
// sent from then on is readable with keys the name's old holder has. If
// a member cannot be looked up (the chain does not answer), nothing is
// written and the error says so (wrapping ErrOffline).
func (c *Client) SendGroup(ctx context.Context, id string, e *wire.Event) (Message, error) {
	g, err := c.group(id)
	if err != nil {
		return Message{}, err
	}
	if err := c.writable(ctx, false); err != nil {
		return Message{}, err
	}
	c.mu.Lock()
	var others []string
	if !g.Gone {
		others = slices.DeleteFunc(slices.Clone(g.Members), func(m string) bool { return m == c.Name })
	}
	c.mu.Unlock()
	errs := make([]error, len(others))
	var wg sync.WaitGroup
	sem := make(chan struct{}, memberChecks)
	for i, m := range others {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			_, errs[i] = c.checkName(ctx, m)
		})
	}
	wg.Wait()
	rekeyed := false
	for i, m := range others {
		err := errs[i]
		rekeyed = rekeyed || errors.Is(err, ErrKeysChanged)
		if err != nil && !errors.Is(err, ErrKeysChanged) {
			// Never sealed on keys that may have changed: with the chain
			// down, nothing is written to the group.
			return Message{}, fmt.Errorf("client: a group message is written only once every member's keys are checked, and %s's cannot be now (send it again when the chain answers): %w", m, err)
		}
	}
	if rekeyed {
		c.giveKeys(ctx, g) // the others' copies of the new key; what fails goes with the next sync
	}
	c.mu.Lock()
	k := g.mine()
	if k == nil {
		c.mu.Unlock()
		return Message{}, fmt.Errorf("%w %s", ErrNotMember, g.Name)
	}
	if e.Ref != nil && e.Kind != wire.KindText {
		i := c.find(*e.Ref, g.conv())
		if i < 0 || (e.Kind != wire.KindReact && c.history[i].From != c.Name) {
			c.mu.Unlock()
			return Message{}, fmt.Errorf("client: no message %s of yours in the group", e.Ref)
		}
	}
	now := c.now()
	e.Time = now.UnixMilli()
	if g.TimerS > 0 && e.Kind == wire.KindText {
		e.Expires = now.Add(time.Duration(g.TimerS) * time.Second).UnixMilli()
	}
	if e.Kind == wire.KindText {
		e.N = max(g.NextN, 1)
	}
	plain, err := wire.MarshalEvent(e)
	if err != nil {
		c.mu.Unlock()
		return Message{}, err
	}
	seq := g.out.next
	mk, err := k.messageKey(seq)
	if err != nil {
		c.mu.Unlock()
		return Message{}, err
	}
	path := wire.GroupPath(k.Seed, seq)
	blob, err := wire.SealGroupMessage(mk, k.signer(c.id.SigningKey()), g.ID, k.Epoch, seq, path, plain)
	if err != nil {
		c.mu.Unlock()
		return Message{}, err
	}
	var hubExp time.Time
	if g.TimerS > 0 && expiresOnHubs(e.Kind) {
		hubExp = c.hubExpiry(now, time.Duration(g.TimerS)*time.Second)
	}
	if e.N != 0 {
		g.NextN = e.N + 1
	}
	m := c.apply(g, messageOf(c.Name, g.conv(), seq, e))
	g.out.add(seq, path, blob, hubExp)
	err = c.save()
	c.mu.Unlock()
	if err != nil {
		return m, err
	}
	return m, c.flushQueued(ctx, g.Name, &g.out, seq)
}

// ReceiveGroup reads every member's new messages, member by member, each
// in order; like Receive, a message that does not open or that a hub
// withholds is reported and nothing after it from that member is shown.
func (c *Client) ReceiveGroup(ctx context.Context, id string) ([]Message, error) {
	g, err := c.group(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	var members []string
	for m := range g.Next {
		if _, final := g.Final[m]; g.member(m) || final {
			members = append(members, m)
		}
	}
	c.mu.Unlock()
	slices.Sort(members)
	var (
		out      []Message
		firstErr error
	)
	for _, m := range members {
		ms, err := c.receiveMember(ctx, g, m)
		out = append(out, ms...)
		firstErr = cmp.Or(firstErr, err)
	}
	if len(out) > 0 {
		firstErr = cmp.Or(firstErr, c.writeGroupReceipt(ctx, g))
	}
	return out, firstErr
}

func (c *Client) receiveMember(ctx context.Context, g *Group, member string) ([]Message, error) {
	author := c.memberConv(member)
	if author == nil {
		return nil, nil // no link or contact yet to vouch for them: read later
	}
	if c.closed(author) != nil {
		return nil, nil // their keys changed: nothing more from the old holder
	}
	author.recvMu.Lock()
	defer author.recvMu.Unlock()
	hubs, addr := c.whereIs(author)
	var out []Message
	var index *wire.Index
	for {
		c.mu.Lock()
		seq := g.Next[member]
		k := g.keyFor(member, seq)
		if n, final := g.Final[member]; final && seq >= n { // all they wrote before leaving is read
			delete(g.Final, member)
			if !g.member(member) {
				delete(g.Next, member)
			} else if last := g.latest(member); last != nil && last.From > seq {
				g.Next[member] = last.From // back in: not what they wrote while out
			}
			k = nil
		}
		c.mu.Unlock()
		if k == nil {
			return out, nil
		}
		path := wire.GroupPath(k.Seed, seq)
		var saveErr error
		_, err := c.getVerified(ctx, hubs, addr, path, func(blob []byte) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			saved := *k
			mk, err := k.messageKey(seq)
			var plain []byte
			if err == nil {
				plain, err = wire.OpenGroupMessage(mk, k.verifier(author.Record.Profile.SigningKey[:]), g.ID, k.Epoch, seq, path, blob)
			}
			if err != nil {
				*k = saved // the chain does not move for a blob that did not open
				return fmt.Errorf("client: group %s: message %d from %s was altered or forged: %w", g.Name, seq, member, err)
			}
			m, _ := eventMessage(member, g.conv(), seq, plain)
			g.Next[member] = seq + 1
			untilRead(&m) // a disappearing message's timer starts when it is read
			out = append(out, c.apply(g, m))
			saveErr = c.save()
			return nil
		})
		if errors.Is(err, hub.ErrNotFound) {
			if index == nil {
				c.mu.Lock()
				last := g.latest(member)
				c.mu.Unlock()
				index = c.bestIndex(ctx, hubs, addr, wire.GroupIndexPath(last.Seed), wire.GroupIndexKey(last.Seed))
			}
			switch {
			case index.IsDeleted(seq), index.IsExpired(seq, c.now()): // deleted, or expired on its hubs, before it was read: step past it
				c.mu.Lock()
				k.messageKey(seq)
				g.Next[member] = seq + 1
				err = c.save()
				c.mu.Unlock()
				if err != nil {
					return out, err
				}
				continue
			case seq < index.Count:
				return out, &WithheldError{Name: member + " in " + g.Name, Seq: seq, Count: index.Count}
			}
			return out, nil
		}
		if err := cmp.Or(err, saveErr); err != nil {
			return out, err
		}
	}
}

// MarkGroupRead records that the user has seen everything received in
// the group, and tells the members (unless read receipts are off); the
// timers of the disappearing messages just read start now.
func (c *Client) MarkGroupRead(ctx context.Context, id string) error {
	g, err := c.group(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if g.Read == nil {
		g.Read = map[string]uint64{}
	}
	changed := false
	for m, n := range g.Next {
		changed = changed || g.Read[m] != n
		g.Read[m] = n
	}
	started := c.startTimers(g.conv(), func(m string) uint64 { return g.Read[m] })
	if changed || started {
		err = c.save()
	}
	c.mu.Unlock()
	if err != nil || !changed {
		return err
	}
	return c.writeGroupReceipt(ctx, g)
}

// writeGroupReceipt puts the user's receipt for the group on the user's
// hubs, under the user's current sender key.
func (c *Client) writeGroupReceipt(ctx context.Context, g *Group) error {
	c.mu.Lock()
	path, blob := c.groupReceiptBlob(g)
	c.mu.Unlock()
	if blob == nil {
		return nil
	}
	return c.putOwn(ctx, path, blob)
}

// groupReceiptBlob is the user's receipt in g and where it goes (nil if
// the user has no sender key in it); the caller holds c.mu.
func (c *Client) groupReceiptBlob(g *Group) (string, []byte) {
	k := g.mine()
	if k == nil {
		return "", nil
	}
	r := wire.GroupReceipts{}
	for m, n := range g.Next {
		x := wire.Receipt{Delivered: n, Read: g.Read[m]}
		if !c.readReceipts {
			x.Read = 0
		}
		r[m] = x
	}
	return wire.GroupReceiptPath(k.Seed), wire.SealGroupReceipts(k.Seed, r)
}

// GroupReceipts returns, per other member of the group, what that member
// says it has of the user's messages (members who wrote no receipt are
// left out).
func (c *Client) GroupReceipts(ctx context.Context, id string) (map[string]wire.Receipt, error) {
	g, err := c.group(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	seeds := map[string][]byte{}
	for _, m := range g.Members {
		if k := g.latest(m); k != nil && m != c.Name {
			seeds[m] = k.Seed
		}
	}
	c.mu.Unlock()
	out := map[string]wire.Receipt{}
	for m, seed := range seeds {
		author := c.memberConv(m)
		if author == nil || c.closed(author) != nil {
			continue
		}
		hubs, addr := c.whereIs(author)
		b, err := c.getFrom(ctx, hubs, addr, wire.GroupReceiptPath(seed))
		if err != nil {
			continue
		}
		if r, err := wire.OpenGroupReceipts(seed, b); err == nil {
			out[m] = r[c.Name]
		}
	}
	return out, nil
}

// GroupState says how far the user's message seq in a group got, from the
// members' receipts: "delivered to 2, read by 1 of 3".
func GroupState(seq uint64, members int, rs map[string]wire.Receipt) string {
	var delivered, read int
	for _, r := range rs {
		if seq < r.Delivered {
			delivered++
		}
		if seq < r.Read {
			read++
		}
	}
	return fmt.Sprintf("delivered to %d, read by %d of %d", delivered, read, members)
}

// getFrom reads addr/path from the first of hubs that has it: a hub that
// answers "not found" or cannot be reached lets the next one answer. If
// none has it, it says hub.ErrNotFound when some hub answered so, else the
// first hub's error.
func (c *Client) getFrom(ctx context.Context, hubs []string, addr, path string) ([]byte, error) {
	return c.getVerified(ctx, hubs, addr, path, nil)
}

// getVerified is getFrom for blobs that must pass open: a blob that does
// not (altered, forged, or another blob) lets the next hub answer too, and
// if no hub serves one that passes, that failure is what is reported.
func (c *Client) getVerified(ctx context.Context, hubs []string, addr, path string, open func([]byte) error) ([]byte, error) {
	var refused, unreachable error
	answered := false
	for _, url := range hubs {
		h, err := c.dial(ctx, url)
		if err != nil {
			unreachable = cmp.Or(unreachable, err)
			continue
		}
		b, _, err := h.Get(ctx, addr, path)
		switch {
		case errors.Is(err, hub.ErrNotFound):
			answered = true
			continue
		case err != nil:
			unreachable = cmp.Or(unreachable, err)
			continue
		}
		if open != nil {
			if err := open(b); err != nil {
				refused = cmp.Or(refused, fmt.Errorf("%s: %w", url, err))
				continue
			}
		}
		return b, nil
	}
	switch {
	case refused != nil:
		return nil, refused
	case answered || unreachable == nil:
		return nil, hub.ErrNotFound
	}
	return nil, unreachable
}

// KindNotice is the kind of a group's notice in the history: a change of
// its roster or name, or of a member's keys, as the user's client learned
// it (made on the device, never sent). From is who made the change; Text
// says what happened, in full.
const KindNotice = "notice"

// notice puts a notice about g in the history; the caller holds c.mu.
func (c *Client) notice(g *Group, by, text string) {
	c.history = append(c.history, Message{From: by, To: g.conv(), Kind: KindNotice, Text: text, Time: c.now()})
}

// you names member m in a notice of the user's.
func (c *Client) you(m string) string {
	if m == c.Name {
		return "you"
	}
	return m
}

// rosterNotices tells in g's history what a roster change by `by` did:
// its new name, who joined, who left (left[m]) and who was removed; the
// user, added, learns the group. before is the roster the user knew
// (nil: none); the caller holds c.mu.
func (c *Client) rosterNotices(g *Group, by, oldName string, before []string, left map[string]bool) {
	joined := !slices.Contains(before, c.Name) && g.member(c.Name) && by != c.Name
	if joined {
		c.notice(g, by, fmt.Sprintf("%s added you to %s (%s)", by, g.Name, strings.Join(g.Members, ", ")))
		return
	}
	if oldName != "" && g.Name != oldName {
		c.notice(g, by, fmt.Sprintf("%s renamed the group to %s", by, g.Name))
	}
	for _, m := range g.Members {
		if !slices.Contains(before, m) && m != by {
			c.notice(g, by, fmt.Sprintf("%s added %s", by, c.you(m)))
		}
	}
	for _, m := range before {
		switch {
		case g.member(m) || m == by:
		case left[m]:
			c.notice(g, m, m+" left")
		default:
			c.notice(g, by, fmt.Sprintf("%s removed %s", by, c.you(m)))
		}
	}
}

// keysChangedInGroups is what the user does in every group with name when
// it sees name's keys change on the chain: it makes its own key new (the
// old one is the name's old holder's too), to be given to every member but
// name, until the user confirms name's new keys; the caller holds c.mu.
func (c *Client) keysChangedInGroups(name string, cur *bns.Record) {
	for _, g := range c.groups {
		if g.Epoch == 0 || g.Gone || !g.member(name) || name == c.Name {
			continue
		}
		g.rekey()
		clear(g.SentKey)
		what := "keys changed on the chain"
		if cur.Revoked {
			what = "name was revoked"
		}
		c.notice(g, name, fmt.Sprintf("%s's %s: nothing goes to %s until you confirm the new keys, and nothing from the old ones is read", name, what, name))
	}
}

// confirmedInGroups forgets, in every group, the keys name gave the user
// (its old holder's) and makes the user's key new once more: the new
// holder gets, over a new link, a key for what the user writes from now
// on only (not what it wrote while name was unconfirmed), and gives its
// own; the caller holds c.mu.
func (c *Client) confirmedInGroups(name string) {
	for _, g := range c.groups {
		if g.Epoch == 0 {
			continue
		}
		delete(g.Keys, name)
		delete(g.Next, name)
		delete(g.Read, name)
		delete(g.Final, name)
		delete(g.SentKey, name)
		if g.member(name) && !g.Gone {
			g.rekey()
			clear(g.SentKey)
			c.notice(g, c.Name, fmt.Sprintf("%s confirmed %s's new keys", c.Name, name))
		}
	}
}

// MemberKeyChanges returns the key change of each other member of group
// id whose record, when the user last looked, no longer held the keys the
// user confirmed: such a member gets none of the user's keys, and nothing
// more is read from its old ones, until the user confirms (ConfirmKeys).
func (c *Client) MemberKeyChanges(id string) []*KeyChange {
	g, err := c.group(id)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	members := slices.Clone(g.Members)
	var convs []*Contact
	for _, m := range members {
		if m != c.Name {
			convs = append(convs, c.links[m], c.contacts[m])
		}
	}
	c.mu.Unlock()
	var out []*KeyChange
	for _, ct := range convs {
		var kc *KeyChange
		if ct != nil && errors.As(c.closed(ct), &kc) && !slices.ContainsFunc(out, func(k *KeyChange) bool { return k.Name == kc.Name }) {
			out = append(out, kc)
		}
	}
	return out
}
