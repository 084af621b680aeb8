// Package group is the group state machine of a Parley client: what one
// user knows of each group it is in (rosters, epochs, the members' sender
// keys, who has been given the user's key, what is read) and every rule
// that changes it.
//
// It owns the group rules: only the group's holder (its creator, or whom
// it was handed to) makes or changes a roster, each change a new epoch in
// which every member makes a new sender key; a key from anyone else is
// taken only while the roster lists them, and one that comes before the
// roster that places it is held back (bounded) until that roster comes; a
// removed or departing member's messages stay readable up to where they
// stopped; a hand-over passes the roster on; when a member's keys change
// on the chain the user makes a new key that member does not get, until
// the user confirms the new keys.
//
// It must not do I/O, read a clock or keep anything global: the caller
// passes randomness (Env.Rand) and where its own streams stand
// (Env.Sent), sends what the machine says to send, stores what it holds,
// and puts the Notices it returns in the history. Nothing here locks: the
// caller serializes the calls on a Book.
//
// The wire formats (rosters and keys: wire.GroupInfo; message keys:
// wire.GroupChainStep) are package wire's.
package group

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/parley-im/parley/client/wire"
)

// Bounds of what is held back: rosters per group (from members who say
// they hold it, before the hand-over that makes it so), and keys per
// sender not yet placed in a group.
const (
	MaxHeld     = 8
	MaxHeldKeys = 4
)

// ErrNotHolder is wrapped by a *HolderError.
var ErrNotHolder = errors.New("group: the user does not hold the group")

// HolderError refuses a change only the group's holder makes.
type HolderError struct {
	Holder string // who holds the group
	What   string // what only the holder does: "changes its members or name"
}

func (e *HolderError) Error() string {
	return fmt.Sprintf("only %s, who holds the group, %s", e.Holder, e.What)
}

func (e *HolderError) Unwrap() error { return ErrNotHolder }

// ErrMembership is wrapped by a *MemberError.
var ErrMembership = errors.New("group: not a change of the roster")

// MemberError refuses a change that names someone the roster does not
// have as another member (a removal, a hand-over), or already has (In:
// an invitation).
type MemberError struct {
	Name string
	In   bool
}

func (e *MemberError) Error() string {
	if e.In {
		return e.Name + " is already in the group"
	}
	return e.Name + " is not another member of the group"
}

func (e *MemberError) Unwrap() error { return ErrMembership }

// Env is what the machine needs from its caller.
type Env struct {
	// Rand gives the seeds of new sender keys and group IDs
	// (crypto/rand.Reader in a client).
	Rand io.Reader
	// Sent is where the user's own stream in group id stands: the number
	// of its next message (a new key starts there).
	Sent func(id string) uint64
	// Rekeyed, if not nil, is told that the user's key in group id is a
	// new one (the stream's index moves with it).
	Rekeyed func(id string)
}

func (x Env) sent(id string) uint64 {
	if x.Sent == nil {
		return 0
	}
	return x.Sent(id)
}

// Notice is what the user's history says about a change of a group: who
// made it and what happened, in full ("bob added carol").
type Notice struct {
	Group string // the group's ID
	By    string
	Text  string
}

// Held is a group event held back: a roster from a member who says it
// holds the group (Group.Held), or a sender key the user cannot place yet
// (Book.Held).
type Held struct {
	From string
	Info *wire.GroupInfo
}

// Senders. Each device of each member has its own sender key chain
// (docs/protocol.md, Groups on several devices): the machine keys what it
// holds of a stream (Keys, Next, Read, SentKey) by sender, the member's
// name for its first device and name "/" device (the device key's 64
// lowercase hex digits) for another; rosters list names.

// Sender names device dev ("": the first) of member name.
func Sender(name, dev string) string {
	if dev == "" {
		return name
	}
	return name + "/" + dev
}

// NameOf is the member a sender is a device of.
func NameOf(sender string) string {
	name, _, _ := strings.Cut(sender, "/")
	return name
}

// DevOf is the device a sender names ("": the member's first).
func DevOf(sender string) string {
	_, dev, _ := strings.Cut(sender, "/")
	return dev
}

// ErrCopiedKey: a sender key already held for another sender (one
// device's key copied to another) is refused.
var ErrCopiedKey = errors.New("group: a sender key already held for another device")

// Book is every group the user knows, and the keys held back for groups
// it has no roster of yet. The zero value is not usable: New makes one.
type Book struct {
	Self   string            // the user's name
	Dev    string            // this device ("": the user's first), as Sender names it
	Groups map[string]*Group // by ID
	Held   []Held            // keys from senders not placed in a group yet (Take)
}

// New returns an empty book of self's.
func New(self string) *Book { return &Book{Self: self, Groups: map[string]*Group{}} }

// Group is a group as the user knows it.
type Group struct {
	ID      string
	Name    string
	Creator string   // who holds the roster now: its maker, or whom it was handed to
	Members []string // sorted, the user included while a member
	Epoch   uint64   // 0: only keys known so far, no roster
	Gone    bool     // not a member now (removed, or left)
	Left    bool     // left: later rosters are ignored

	Self    string
	Dev     string            // this device ("": the user's first): the user's own key is Sender(Self, Dev)'s
	Keys    map[string][]*Key // per sender, by From then epoch: the last that starts at or before a message is its key
	Next    map[string]uint64 // per other member: the next message to read (delivered)
	Read    map[string]uint64 // per other member: messages the user has seen
	SentKey map[string]uint64 // per other member: the epoch of the key last given
	Leaving []string          // members who asked the holder (the user) to leave
	// LeftSent: how many messages each member who asked to leave wrote
	// (the holder's, until the roster without them goes out); Departed:
	// those of this epoch's roster, given with it; Final: members who left,
	// read up to how many messages they wrote.
	LeftSent map[string]uint64
	Departed map[string]uint64
	Final    map[string]uint64
	// Held: rosters from a member who says it now holds the group, read
	// before the hand-over that makes it so (they came over another
	// conversation); taken once the hand-over is.
	Held   []Held
	TimerS int64 // the disappearing-message timer, in seconds (0: off)
	// NextN is the number of the user's next text message in the group
	// (0: the state is older than numbers).
	NextN uint64
}

// Key is a member's sender key for one epoch, and where its chain is.
type Key struct {
	Epoch uint64
	Seed  []byte
	From  uint64   // the member's first message under it
	CK    [32]byte // the chain key of message At
	At    uint64
	// The member's Ed25519 key for the epoch's messages: the public half,
	// given with the sender key over the pairwise conversation, and, for
	// the user's own, the private seed. (Keys from before there were such
	// keys have neither: their messages are signed with the on-chain key.)
	SignPub  []byte
	SignSeed []byte
}

// NewKey is a key of epoch whose chain starts at message from.
func NewKey(epoch, from uint64, seed []byte) *Key {
	return &Key{Epoch: epoch, Seed: seed, From: from, At: from, CK: wire.GroupChainStart(seed)}
}

// Signer is the key the user's messages under k are signed with.
func (k *Key) Signer(onChain ed25519.PrivateKey) ed25519.PrivateKey {
	if len(k.SignSeed) == ed25519.SeedSize {
		return ed25519.NewKeyFromSeed(k.SignSeed)
	}
	return onChain
}

// Verifier is the key a member's messages under k are checked with.
func (k *Key) Verifier(onChain []byte) []byte {
	if len(k.SignPub) == ed25519.PublicKeySize {
		return k.SignPub
	}
	return onChain
}

// MessageKey returns MK_i and moves the chain past it; a message before
// the chain's position cannot be opened again (forward secrecy).
func (k *Key) MessageKey(i uint64) ([32]byte, error) {
	if i < k.At {
		return [32]byte{}, fmt.Errorf("group: message %d: its key is gone", i)
	}
	if i-k.At > 100000 {
		return [32]byte{}, fmt.Errorf("group: message %d is too far ahead", i)
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

// Open gives open MK_i: the chain moves past i only if open succeeds.
func (k *Key) Open(i uint64, open func(mk [32]byte) error) error {
	saved := *k
	mk, err := k.MessageKey(i)
	if err == nil {
		err = open(mk)
	}
	if err != nil {
		*k = saved
	}
	return err
}

// KeyFor returns member's key for its message i: the last one that
// starts at or before i (nil if none).
func (g *Group) KeyFor(member string, i uint64) *Key {
	var best *Key
	for _, k := range g.Keys[member] {
		if k.From <= i {
			best = k
		}
	}
	return best
}

// Latest is member's newest key (nil if none).
func (g *Group) Latest(member string) *Key {
	ks := g.Keys[member]
	if len(ks) == 0 {
		return nil
	}
	return ks[len(ks)-1]
}

// Me is this device as a sender.
func (g *Group) Me() string { return Sender(g.Self, g.Dev) }

// Mine is the user's current sender key (nil once gone).
func (g *Group) Mine() *Key {
	if g.Gone {
		return nil
	}
	return g.Latest(g.Me())
}

// copied reports whether seed is a key held for a sender other than s.
func (g *Group) copied(s string, seed []byte) bool {
	for o, ks := range g.Keys {
		if o == s {
			continue
		}
		for _, k := range ks {
			if bytes.Equal(k.Seed, seed) {
				return true
			}
		}
	}
	return false
}

// Member reports whether the roster lists name.
func (g *Group) Member(name string) bool {
	_, ok := slices.BinarySearch(g.Members, name)
	return ok
}

// Others are the members but the user (none once the user is gone).
func (g *Group) Others() []string {
	if g.Gone {
		return nil
	}
	return slices.DeleteFunc(slices.Clone(g.Members), func(m string) bool { return m == g.Self })
}

// addKey records a key of member's: once, and in place of a key of the
// same epoch that starts at the same message (made again before anything
// was written under it). A member may have several keys in one epoch: it
// makes a new one when another member's keys change (KeysChanged).
func (g *Group) addKey(member string, k *Key) {
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
	slices.SortFunc(g.Keys[member], func(a, b *Key) int { return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.Epoch, b.Epoch)) })
}

// rekey gives the user a new sender key for the group's epoch, starting
// at its next message (sent).
func (g *Group) rekey(x Env) {
	seed := make([]byte, 32)
	io.ReadFull(x.Rand, seed)
	k := NewKey(g.Epoch, x.sent(g.ID), seed)
	k.SignSeed = make([]byte, ed25519.SeedSize)
	io.ReadFull(x.Rand, k.SignSeed)
	k.SignPub = ed25519.NewKeyFromSeed(k.SignSeed).Public().(ed25519.PublicKey)
	g.addKey(g.Me(), k)
	if x.Rekeyed != nil {
		x.Rekeyed(g.ID)
	}
}

// Info is the roster with the user's current key (without it if leave),
// as it is sent to a member.
func (g *Group) Info(leave bool) *wire.GroupInfo {
	in := &wire.GroupInfo{ID: g.ID, Name: g.Name, Creator: g.Creator, Members: g.Members, Epoch: g.Epoch, Leave: leave, Final: g.Departed}
	if k := g.Mine(); k != nil && !leave {
		in.Seed, in.From, in.Sign = k.Seed, k.From, k.SignPub
	}
	return in
}

// Roster is the roster without any key: what a removed member is told.
func (g *Group) Roster() *wire.GroupInfo {
	in := g.Info(false)
	in.Seed, in.From, in.Sign = nil, 0, nil
	return in
}

// Create makes a group called name of the user and members (sorted, the
// user among them; at most wire.MaxGroupMembers), held by the user, at
// epoch 1 with a new key of the user's.
func (b *Book) Create(name string, members []string, x Env) (*Group, []Notice) {
	id := make([]byte, 16)
	io.ReadFull(x.Rand, id)
	g := &Group{ID: hex.EncodeToString(id), Name: name, Creator: b.Self, Members: slices.Clone(members), Epoch: 1, Self: b.Self, Dev: b.Dev,
		Keys: map[string][]*Key{}, Next: map[string]uint64{}, SentKey: map[string]uint64{}}
	g.rekey(x)
	b.Groups[g.ID] = g
	others := slices.DeleteFunc(slices.Clone(members), func(m string) bool { return m == b.Self })
	return g, []Notice{{g.ID, b.Self, fmt.Sprintf("%s made the group %s with %s", b.Self, name, strings.Join(others, ", "))}}
}

// Group returns the group with that ID whose roster the user has (nil if
// none).
func (b *Book) Group(id string) *Group {
	if g := b.Groups[id]; g != nil && g.Epoch > 0 {
		return g
	}
	return nil
}

// Active returns the IDs of the groups the user is in, sorted.
func (b *Book) Active() []string {
	var ids []string
	for id, g := range b.Groups {
		if g.Epoch > 0 && !g.Gone {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Holds returns nil if the user holds g (made it, or was handed it, and
// is in it), else a *HolderError saying who does and may do what.
func (g *Group) Holds(what string) error {
	if g.Creator != g.Self || g.Gone {
		return &HolderError{Holder: g.Creator, What: what}
	}
	return nil
}

// Change is a roster change by the holder: change edits the roster (or
// refuses), and the change is a new epoch with a new key of the user's;
// members who left of their own accord keep what they wrote readable. A
// user who does not hold g gets a *HolderError.
func (g *Group) Change(change func(g *Group) error, x Env) ([]Notice, error) {
	if err := g.Holds("changes its members or name"); err != nil {
		return nil, err
	}
	before, name := slices.Clone(g.Members), g.Name
	if err := change(g); err != nil {
		return nil, err
	}
	left := map[string]bool{}
	for m := range g.LeftSent {
		left[m] = true
	}
	notices := g.rosterNotices(g.Self, name, before, left)
	g.Departed = nil
	for _, m := range before {
		if n, ok := g.LeftSent[m]; ok && !g.Member(m) { // left of their own accord: what they wrote stays readable
			if g.Departed == nil {
				g.Departed = map[string]uint64{}
			}
			g.Departed[m] = n
			delete(g.LeftSent, m)
			g.keepReading(m, n)
		}
	}
	g.Epoch++
	g.rekey(x)
	return notices, nil
}

// Invite adds name to the roster (in Change).
func Invite(name string) func(*Group) error {
	return func(g *Group) error {
		if g.Member(name) {
			return &MemberError{Name: name, In: true}
		}
		g.Members = append(g.Members, name)
		slices.Sort(g.Members)
		return nil
	}
}

// Remove takes name, another member who wrote wrote messages, off the
// roster (in Change): what they wrote stays readable to the others.
func Remove(name string, wrote uint64) func(*Group) error {
	return func(g *Group) error {
		if !g.Member(name) || name == g.Self {
			return &MemberError{Name: name}
		}
		g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == name })
		if _, left := g.LeftSent[name]; !left && wrote > 0 {
			if g.LeftSent == nil {
				g.LeftSent = map[string]uint64{}
			}
			g.LeftSent[name] = wrote
		}
		return nil
	}
}

// Rename names the group name (in Change).
func Rename(name string) func(*Group) error {
	return func(g *Group) error { g.Name = name; return nil }
}

// Leave is the user, not the holder, leaving after writing sent messages:
// the user is gone from then on, and returns what to tell the holder.
func (g *Group) Leave(sent uint64) (*wire.GroupInfo, []Notice) {
	info := g.Info(true)
	info.Sent, info.Final = sent, nil
	g.Gone, g.Left = true, true
	return info, []Notice{{g.ID, g.Self, g.Self + " left"}}
}

// Successor is whom the holder hands the group to when it leaves: the
// first other member ("" if none).
func (g *Group) Successor() string {
	for _, m := range g.Members {
		if m != g.Self {
			return m
		}
	}
	return ""
}

// HandOver makes member the group's holder and the user, its holder, who
// wrote sent messages, leaves: the last roster (without the user, without
// keys) is returned, to go to every other member. With no member (""),
// the group just ends (the roster goes to nobody).
func (g *Group) HandOver(member string, sent uint64) (*wire.GroupInfo, []Notice, error) {
	if err := g.Holds("hands it over"); err != nil {
		return nil, nil, err
	}
	if member != "" && (member == g.Self || !g.Member(member)) {
		return nil, nil, &MemberError{Name: member}
	}
	g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == g.Self })
	g.Epoch++
	g.Departed = map[string]uint64{g.Self: sent}
	info := g.Info(true)
	info.Creator, info.Leave = member, false
	g.Gone, g.Left = true, true
	if member == "" {
		return info, []Notice{{g.ID, g.Self, g.Self + " left: the group ends"}}, nil
	}
	g.Creator = member
	return info, []Notice{{g.ID, g.Self, fmt.Sprintf("%s left and handed the group to %s", g.Self, member)}}, nil
}

// keepReading lets the user read what member, leaving, wrote: its first
// n messages.
func (g *Group) keepReading(member string, n uint64) {
	if next, ok := g.Next[member]; !ok || next >= n {
		return
	}
	if g.Final == nil {
		g.Final = map[string]uint64{}
	}
	g.Final[member] = n
}

// you names member m in a notice of the user's.
func (g *Group) you(m string) string {
	if m == g.Self {
		return "you"
	}
	return m
}

// rosterNotices tells what a roster change by `by` did: its new name, who
// joined, who left (left[m]) and who was removed; the user, added, learns
// the group. before is the roster the user knew (nil: none).
func (g *Group) rosterNotices(by, oldName string, before []string, left map[string]bool) []Notice {
	var out []Notice
	say := func(by, text string) { out = append(out, Notice{g.ID, by, text}) }
	if joined := !slices.Contains(before, g.Self) && g.Member(g.Self) && by != g.Self; joined {
		say(by, fmt.Sprintf("%s added you to %s (%s)", by, g.Name, strings.Join(g.Members, ", ")))
		return out
	}
	if oldName != "" && g.Name != oldName {
		say(by, fmt.Sprintf("%s renamed the group to %s", by, g.Name))
	}
	for _, m := range g.Members {
		if !slices.Contains(before, m) && m != by {
			say(by, fmt.Sprintf("%s added %s", by, g.you(m)))
		}
	}
	for _, m := range before {
		switch {
		case g.Member(m) || m == by:
		case left[m]:
			say(m, m+" left")
		default:
			say(by, fmt.Sprintf("%s removed %s", by, g.you(m)))
		}
	}
	return out
}

// Take applies a group event that from (a sender: a member's device, see
// Sender) sent the user over their pairwise conversation or group device
// link, and returns the notices it makes. Rosters and leaves count by
// name (any listed device of the holder speaks for it); a key is the
// sending device's own, and one already held for another sender is
// refused (ErrCopiedKey: dropped).
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
// (Book.Held, at most MaxHeldKeys per sender) and tried again when a
// roster comes.
func (b *Book) Take(from string, in *wire.GroupInfo, x Env) []Notice {
	var out []Notice
	b.take(from, in, x, &out)
	return out
}

func (b *Book) take(sender string, in *wire.GroupInfo, x Env, out *[]Notice) {
	from := NameOf(sender)
	g := b.Groups[in.ID]
	if g == nil || g.Epoch == 0 { // no roster yet (an epoch-0 group is from before holders were checked)
		if from != in.Creator || in.Leave || in.Epoch == 0 || !slices.Contains(in.Members, b.Self) {
			b.holdKey(sender, in)
			return
		}
		if g == nil {
			g = &Group{ID: in.ID, Self: b.Self, Dev: b.Dev, Keys: map[string][]*Key{}, Next: map[string]uint64{}, SentKey: map[string]uint64{}}
			b.Groups[in.ID] = g
		}
		g.Creator = in.Creator
	}
	handOver := from == g.Creator && in.Creator != g.Creator && in.Epoch > g.Epoch && !in.Leave
	if in.Creator != g.Creator && !handOver {
		if from == in.Creator && in.Epoch > g.Epoch && g.Member(from) {
			g.hold(sender, in) // perhaps a hand-over to them not read yet
		}
		return // else another group under the same ID: ignored
	}
	if handOver {
		defer func() { // what the new holder sent meanwhile
			held := g.Held
			g.Held = nil
			for _, h := range held {
				b.take(h.From, h.Info, x, out)
			}
		}()
	}
	if in.Leave {
		if g.Creator == b.Self && g.Member(from) && !slices.Contains(g.Leaving, from) {
			g.Leaving = append(g.Leaving, from) // the holder removes them (TakeLeaving)
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
			before, notify = nil, slices.Contains(members, b.Self)
		}
		g.Name, g.Members, g.Epoch, g.Creator = in.Name, slices.Compact(members), in.Epoch, in.Creator
		left := map[string]bool{}
		for m := range in.Final {
			left[m] = true
		}
		if handOver {
			*out = append(*out, Notice{g.ID, from, fmt.Sprintf("%s left and handed the group to %s", from, g.you(in.Creator))})
		}
		if notify {
			*out = append(*out, g.rosterNotices(from, name, before, left)...)
		}
		wasGone := g.Gone
		g.Gone = !g.Member(b.Self)
		if !g.Gone {
			g.rekey(x)
		}
		if wasGone && !g.Gone {
			clear(g.Next) // back in: read from the keys given now, not what was sent meanwhile
		}
		for m, n := range in.Final {
			if m != b.Self {
				g.keepReading(m, n)
			}
		}
		for m := range g.Keys { // nothing more is read from members who left, but what they wrote before leaving
			if _, final := g.Final[m]; NameOf(m) != b.Self && !g.Member(NameOf(m)) && !final {
				delete(g.Next, m)
			}
		}
		defer b.takeHeld(g.ID, x, out) // keys that came before this roster
	}
	if len(in.Seed) != 32 || sender == g.Me() {
		return
	}
	if _, final := g.Final[sender]; !g.Member(from) && !final {
		if in.Epoch > g.Epoch {
			b.holdKey(sender, in) // a member of a roster not read yet
		}
		return
	}
	if g.copied(sender, in.Seed) || (DevOf(sender) != "" && len(in.Sign) != ed25519.PublicKeySize) {
		return // ErrCopiedKey; a device's key is always given with its signing key
	}
	k := NewKey(in.Epoch, in.From, in.Seed)
	k.SignPub = in.Sign
	g.addKey(sender, k)
	if _, ok := g.Next[sender]; !ok {
		g.Next[sender] = in.From // a member's messages before the user joined stay unread
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
	if len(g.Held) < MaxHeld {
		g.Held = append(g.Held, Held{from, in})
	}
}

// holdKey keeps a sender key from someone the user cannot place in a
// group yet, at most MaxHeldKeys per sender, the newest; an event that
// carries no key is dropped.
func (b *Book) holdKey(from string, in *wire.GroupInfo) {
	if len(in.Seed) != 32 || in.Leave || from == Sender(b.Self, b.Dev) {
		return
	}
	var mine []int
	for i, h := range b.Held {
		if h.From == from {
			if h.Info.ID == in.ID && h.Info.Epoch == in.Epoch {
				return
			}
			mine = append(mine, i)
		}
	}
	if len(mine) >= MaxHeldKeys {
		b.Held = slices.Delete(b.Held, mine[0], mine[0]+1)
	}
	b.Held = append(b.Held, Held{from, in})
}

// takeHeld tries again the keys held back for group id, now that a
// roster of it came.
func (b *Book) takeHeld(id string, x Env, out *[]Notice) {
	var todo []Held
	b.Held = slices.DeleteFunc(b.Held, func(h Held) bool {
		if h.Info.ID == id {
			todo = append(todo, h)
			return true
		}
		return false
	})
	for _, h := range todo {
		b.take(h.From, h.Info, x, out)
	}
}

// TakeLeaving returns the members who asked the holder (the user) to
// leave, for it to remove them, and forgets them.
func (g *Group) TakeLeaving() []string {
	l := g.Leaving
	g.Leaving = nil
	return l
}

// ToGive returns the other members who lack the user's current key, or
// whose current key the user lacks: the group links to open and keys to
// give.
func (g *Group) ToGive() []string {
	var todo []string
	for _, m := range g.Members {
		if m == g.Self {
			continue
		}
		if k := g.Latest(m); g.SentKey[m] != g.Epoch || k == nil || k.Epoch != g.Epoch {
			todo = append(todo, m)
		}
	}
	return todo
}

// Given records that member m was given the user's key of epoch.
func (g *Group) Given(m string, epoch uint64) { g.SentKey[m] = epoch }

// HasKeys reports whether the user holds the current key of every other
// member and has given its own to all of them.
func (g *Group) HasKeys() bool {
	for _, m := range g.Members {
		if m == g.Self {
			continue
		}
		k := g.Latest(m)
		if k == nil || k.Epoch != g.Epoch || g.SentKey[m] != g.Epoch {
			return false
		}
	}
	return true
}

// Waiting reports whether some group the user is in lacks a key of a
// member's or has not given its own to one; members for whom closed is
// true (whose keys changed, until confirmed) are not waited for.
func (b *Book) Waiting(closed func(member string) bool) bool {
	for _, g := range b.Groups {
		if g.Epoch == 0 || g.Gone || g.Dev != "" { // a linked device gives and takes keys over group device links only
			continue
		}
		for _, m := range g.Members {
			if m == b.Self || closed(m) {
				continue
			}
			if k := g.Latest(m); k == nil || k.Epoch != g.Epoch || g.SentKey[m] != g.Epoch {
				return true
			}
		}
	}
	return false
}

// Relinked is told that the user's link with name is a new one: every
// key the user gave name goes again, over it.
func (b *Book) Relinked(name string) {
	for _, g := range b.Groups {
		delete(g.SentKey, name)
	}
}

// Readers returns the members whose messages the user reads, sorted: the
// roster's and those who left, up to where they stopped.
func (g *Group) Readers() []string {
	var out []string
	for m := range g.Next {
		if _, final := g.Final[m]; g.Member(NameOf(m)) || final {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// NextToRead returns member's next message to read and its key, or a nil
// key when there is nothing more to read from them: all they wrote before
// leaving is read (they leave the readers; one back in is read from its
// new key on).
func (g *Group) NextToRead(member string) (uint64, *Key) {
	seq := g.Next[member]
	k := g.KeyFor(member, seq)
	if n, final := g.Final[member]; final && seq >= n { // all they wrote before leaving is read
		delete(g.Final, member)
		if !g.Member(member) {
			delete(g.Next, member)
		} else if last := g.Latest(member); last != nil && last.From > seq {
			g.Next[member] = last.From // back in: not what they wrote while out
		}
		return seq, nil
	}
	return seq, k
}

// Took records that member's message seq was read (or skipped: deleted,
// or expired, before the user read it).
func (g *Group) Took(member string, seq uint64) { g.Next[member] = seq + 1 }

// MarkRead records that the user has seen every message delivered, and
// reports whether that changed anything.
func (g *Group) MarkRead() bool {
	if g.Read == nil {
		g.Read = map[string]uint64{}
	}
	changed := false
	for m, n := range g.Next {
		changed = changed || g.Read[m] != n
		g.Read[m] = n
	}
	return changed
}

// Change says why a member's keys no longer count (KeysChanged).
type Change int

const (
	NewKeys Change = iota // the name's keys changed: an update, or another owner
	Revoked               // the name was revoked
	Lapsed                // the name expired and its grace period is over: anyone may register it
)

// KeysChanged is what the user does in every group with name when it sees
// name's keys change on the chain (or the name revoked, or free: why): it
// makes its own key new (the old one is the name's old holder's too), to
// be given to every member but name, until the user confirms name's new
// keys (a lapsed name: until its holder registers it again with the same
// keys). It returns one notice per group it made a new key in.
func (b *Book) KeysChanged(name string, why Change, x Env) []Notice {
	var out []Notice
	for _, id := range sortedIDs(b.Groups) {
		g := b.Groups[id]
		if g.Epoch == 0 || g.Gone || !g.Member(name) || name == b.Self {
			continue
		}
		g.rekey(x)
		clear(g.SentKey)
		what, until := "keys changed on the chain", "until you confirm the new keys"
		switch why {
		case Revoked:
			what = "name was revoked"
		case Lapsed:
			what, until = "name expired and anyone may register it now", "unless they register it again with the same keys"
		}
		out = append(out, Notice{g.ID, name, fmt.Sprintf("%s's %s: nothing goes to %s %s, and nothing from the old ones is read", name, what, name, until)})
	}
	return out
}

// Recovered is what the user does in every group once its own name has
// new keys (a recovery from the phrase, docs/devices.md): it makes its
// own key new, since the lost device holds the old one, to be given to
// every member over new links (each member drops its link with the user
// when it confirms the new keys), and forgets the members' keys and read
// positions: each gives a new key over the new link once it confirms.
func (b *Book) Recovered(x Env) []Notice {
	var out []Notice
	for _, id := range sortedIDs(b.Groups) {
		g := b.Groups[id]
		if g.Epoch == 0 || g.Gone {
			continue
		}
		for m := range g.Keys {
			// Each member gives a new key once it confirms, for what it
			// writes from then on; what it wrote before is not for the
			// user's new keys.
			if NameOf(m) != b.Self {
				g.forget(m)
			}
		}
		g.rekey(x)
		clear(g.SentKey)
		out = append(out, Notice{g.ID, b.Self, fmt.Sprintf("%s recovered the name on a new device: a new key for what %s writes from now, given to each member once they confirm", b.Self, b.Self)})
	}
	return out
}

// Confirmed forgets, in every group, the keys name gave the user (its old
// holder's) and makes the user's key new once more: the new holder gets,
// over a new link, a key for what the user writes from now on only (not
// what it wrote while name was unconfirmed), and gives its own.
func (b *Book) Confirmed(name string, x Env) []Notice {
	var out []Notice
	for _, id := range sortedIDs(b.Groups) {
		g := b.Groups[id]
		if g.Epoch == 0 {
			continue
		}
		for m := range g.Keys {
			if NameOf(m) == name {
				g.forget(m)
			}
		}
		g.forget(name)
		for m := range g.SentKey {
			if NameOf(m) == name {
				delete(g.SentKey, m)
			}
		}
		if g.Member(name) && !g.Gone {
			g.rekey(x)
			clear(g.SentKey)
			out = append(out, Notice{g.ID, b.Self, fmt.Sprintf("%s confirmed %s's new keys", b.Self, name)})
		}
	}
	return out
}

func sortedIDs(gs map[string]*Group) []string {
	ids := make([]string, 0, len(gs))
	for id := range gs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// forget drops what the user holds of sender's stream.
func (g *Group) forget(sender string) {
	delete(g.Keys, sender)
	delete(g.Next, sender)
	delete(g.Read, sender)
	delete(g.Final, sender)
}

// Linked is what a device just linked to the user's name (dev, as Sender
// names it) does with the groups its welcome carried: every key in them
// is another device's (the user's first device's own, with its signing
// seed, and what the first device read with), so it keeps none; it keeps
// where the first device stood in each stream (what it read, so nothing
// is shown twice; the first device's own stream, which was the user's:
// first, the next message of the first device's, given), and makes a key
// of its own in every group it is in, starting at its own first message
// (first, the group's ID: 0). Each device gives its keys over a group
// device link (docs/protocol.md, Groups on several devices).
func (b *Book) Linked(dev string, first func(id string) uint64, x Env) {
	b.Dev = dev
	b.Held = nil
	for _, id := range sortedIDs(b.Groups) {
		g := b.Groups[id]
		g.Dev = dev
		clear(g.Keys)
		clear(g.SentKey)
		g.Leaving, g.Held = nil, nil
		if g.Epoch == 0 || g.Gone {
			continue
		}
		g.Next[g.Self] = first(id)
		if g.Read == nil {
			g.Read = map[string]uint64{}
		}
		g.Read[g.Self] = first(id)
		g.rekey(x)
	}
}

// Unlisted is what the user does in every group once a device no longer
// listed on its member's record (listed says which are) has been given
// the user's current key: a new key, within the epoch, given again to
// every device but that one; and nothing more is read from an unlisted
// device. It returns one notice per group it made a new key in.
func (b *Book) Unlisted(listed func(sender string) bool, x Env) []Notice {
	var out []Notice
	for _, id := range sortedIDs(b.Groups) {
		g := b.Groups[id]
		if g.Epoch == 0 {
			continue
		}
		var gone []string
		for m := range g.Keys {
			if DevOf(m) != "" && m != g.Me() && !listed(m) {
				gone = append(gone, m)
			}
		}
		for _, m := range gone {
			delete(g.Keys, m)
			delete(g.Next, m)
		}
		given := false
		for m, e := range g.SentKey {
			if DevOf(m) != "" && !listed(m) {
				given = given || e == g.Epoch
				delete(g.SentKey, m)
			}
		}
		if given && !g.Gone {
			g.rekey(x)
			clear(g.SentKey)
			out = append(out, Notice{g.ID, g.Self, "a device was removed from its name: a new key for what you write from now, which it does not get"})
		}
	}
	return out
}

// MarkReadUpTo records what the user read of sender's stream on another
// of its devices (below n), and reports whether that changed anything.
func (g *Group) MarkReadUpTo(sender string, n uint64) bool {
	if g.Read == nil {
		g.Read = map[string]uint64{}
	}
	if n <= g.Read[sender] {
		return false
	}
	g.Read[sender] = n
	return true
}
