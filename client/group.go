package client

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parley-im/parley/client/group"
	"github.com/parley-im/parley/client/outbox"
	"github.com/parley-im/parley/client/store"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
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
// (keychange.go). A group's messages in the history have Conv =
// GroupConv(its ID); its notices (KindNotice) say who joined, left, was removed,
// renamed it, and whose keys changed.
//
// The rules (who may change what, epochs, keys held back, hand-overs,
// leaving, key changes) are package group's state machine (c.book), which
// does no I/O; this file does the sending, reading and saving around it,
// and keeps the user's stream in each group (c.groupOut).

// ErrNotMember: the user is not (or no longer) a member of the group.
var ErrNotMember = errors.New("client: not a member of the group")

// Group is a group chat as the user knows it (Groups).
type Group struct {
	ID      string
	Name    string
	Creator string   // who holds the roster: its maker, or whom it was handed to
	Members []string // sorted, the user included while a member
	Epoch   uint64   // each change of the roster is a new one
	Gone    bool     // the user is not a member now (removed, or left)
}

// groupConv is a group as a conversation that events change (its
// history is the client's, its stream the outbox's).
type groupConv struct {
	g   *group.Group
	out *outbox.Stream
}

func (gc groupConv) setTimer(d time.Duration)  { gc.g.TimerS = int64(d / time.Second) }
func (gc groupConv) outStream() *outbox.Stream { return gc.out }

func (gc groupConv) forget(m *Message) string {
	if !gc.out.Forget(m.Seq) {
		return ""
	}
	if k := gc.g.KeyFor(m.From, m.Seq); k != nil {
		return wire.GroupPath(k.Seed, m.Seq)
	}
	return ""
}

// gstream is the user's stream in group id (made empty if it has none
// yet); the caller holds c.mu.
func (c *Client) gstream(id string) *outbox.Stream {
	st := c.groupOut[id]
	if st == nil {
		st = &outbox.Stream{}
		c.groupOut[id] = st
	}
	return st
}

// genv is what the group state machine needs of the client; the caller
// holds c.mu while the machine runs.
func (c *Client) genv() group.Env {
	return group.Env{Rand: rand.Reader, Sent: func(id string) uint64 { return c.gstream(id).Next() },
		Rekeyed: func(id string) { c.gstream(id).Rekeyed() }} // the index moves with the key
}

// KindNotice is the kind of a group's notice in the history: a change of
// its roster or name, or of a member's keys, as the user's client learned
// it (made on the device, never sent). From is who made the change; Text
// says what happened, in full.
const KindNotice = "notice"

// keysChangedInGroups is what the user does in every group with name when
// it sees name's keys change on the chain (group.Book.KeysChanged: its
// key there is made new), and more: what waits in those groups for the
// user's hubs was sealed with the key name's old holder has, so it never
// goes out. It is listed as deleted in the group's index, shown as not
// sent, and the group's history says so. The caller holds c.mu.
func (c *Client) keysChangedInGroups(name string, why group.Change) {
	ns := c.book.KeysChanged(name, why, c.genv())
	c.notice(ns)
	for _, n := range ns {
		var unsent []string
		for _, seq := range c.gstream(n.Group).Withhold() {
			what := "your event"
			for _, m := range c.history {
				if m.Conv == GroupConv(n.Group) && m.From == c.Name && m.Seq == seq {
					if l, ok := m.Label(); ok {
						what = l.String()
					} else {
						what = "your " + m.Kind
					}
				}
			}
			unsent = append(unsent, what)
		}
		if len(unsent) > 0 {
			c.notice([]group.Notice{{Group: n.Group, By: c.Name, Text: fmt.Sprintf("not sent: %s; %s's keys changed before it left this device, and it was sealed with a key their old holder has; write it again", strings.Join(unsent, ", "), name)}})
		}
	}
}

// notice puts the group machine's notices in the history; the caller
// holds c.mu.
func (c *Client) notice(ns []group.Notice) {
	for _, n := range ns {
		c.history = append(c.history, Message{From: n.By, Conv: GroupConv(n.Group), Kind: KindNotice, Text: n.Text, Time: c.now()})
	}
}

// conversationOf returns the contact or group of conv, or nil; the caller
// holds c.mu.
func (c *Client) conversationOf(conv Conv) conversation {
	if id, ok := conv.Group(); ok {
		if g := c.book.Groups[id]; g != nil {
			return groupConv{g, c.gstream(g.ID)}
		}
		return nil
	}
	if ct := c.contacts[conv.name]; ct != nil {
		return ct
	}
	return nil
}

func (c *Client) group(id string) (*group.Group, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.book.Group(id)
	if g == nil {
		return nil, fmt.Errorf("client: no group %s", id)
	}
	return g, nil
}

// Groups returns the groups the user knows, by name.
func (c *Client) Groups() []Group {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Group
	for _, g := range c.book.Groups {
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
	if err := c.groupsHere(); err != nil {
		return "", err
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
	c.mu.Lock()
	g, notices := c.book.Create(name, all, c.genv())
	c.notice(notices)
	err := c.saveUnlock()
	if err != nil {
		return "", err
	}
	_, err = c.SyncGroups(ctx)
	return g.ID, err
}

// changeRoster is a roster change by the holder: a new epoch.
func (c *Client) changeRoster(ctx context.Context, id string, change func(g *group.Group) error) error {
	if err := c.groupsHere(); err != nil {
		return err
	}
	g, err := c.group(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	notices, err := g.Change(change, c.genv())
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("client: %w", err)
	}
	c.notice(notices)
	err = c.saveUnlock()
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
	return c.changeRoster(ctx, id, group.Invite(name))
}

// RemoveMember removes name from the group (creator only): every member
// makes a new key that name does not get; name is told the new roster,
// without any key.
func (c *Client) RemoveMember(ctx context.Context, id, name string) error {
	// What they wrote until now (as their index on their hubs says) stays
	// readable to the others; nothing after.
	if err := c.groupsHere(); err != nil {
		return err
	}
	wrote := c.groupIndexOf(ctx, id, name)
	if err := c.changeRoster(ctx, id, group.Remove(name, wrote)); err != nil {
		return err
	}
	g, _ := c.group(id)
	c.mu.Lock()
	info := g.Roster()
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
	k := g.Latest(member)
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
	return c.changeRoster(ctx, id, group.Rename(name))
}

// LeaveGroup tells the creator the user leaves; the user stops reading
// and writing the group. (The creator then starts an epoch without them.)
func (c *Client) LeaveGroup(ctx context.Context, id string) error {
	if err := c.groupsHere(); err != nil {
		return err
	}
	g, err := c.group(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if g.Creator == c.Name {
		next := g.Successor()
		c.mu.Unlock()
		return c.HandOver(ctx, id, next)
	}
	info, notices := g.Leave(c.gstream(id).Next())
	c.notice(notices)
	err = c.saveUnlock()
	if err != nil {
		return err
	}
	err = c.tellMember(ctx, g, g.Creator, info, true)
	if errors.Is(err, ErrQueued) || errors.Is(err, ErrKeysChanged) { // left here either way; a holder whose keys changed is told nothing
		err = nil
	}
	return err
}

// HandOver makes member the group's creator (who holds its roster from
// now on) and the user, its creator, leaves: a last roster, without the
// user and without keys, goes to every other member, who make new keys
// for its epoch. With no other member (member ""), the group just ends.
func (c *Client) HandOver(ctx context.Context, id, member string) error {
	if err := c.groupsHere(); err != nil {
		return err
	}
	if member != "" {
		if _, err := c.checkName(ctx, member); err != nil && !IsOffline(err) {
			return err // never to a name whose keys changed, unconfirmed (offline, the roster waits for the check)
		}
	}
	g, err := c.group(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	info, notices, err := g.HandOver(member, c.gstream(id).Next())
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("client: %w", err)
	}
	c.notice(notices)
	err = c.saveUnlock()
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

// SyncGroups brings every group up to date: it reads every contact
// conversation and group link (rosters and keys come that way), the
// creator removes members who asked to leave, each member links with
// members it has no link with yet and gives its current key to those who
// do not have it, then it reads every member's new messages. It returns
// what it read. Members whose link waits for their introduction get the
// key on a later call.
func (c *Client) SyncGroups(ctx context.Context) ([]Event, error) {
	ms, err := c.syncGroups(ctx, true, true)
	return events(ms), err
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
			ms, err := c.receive(ctx, ContactConv(n))
			out = append(out, ms...)
			if !errors.Is(err, ErrKeysChanged) { // said where it matters: sending, reading, listing
				firstErr = cmp.Or(firstErr, err)
			}
		}
		ms, err := c.receiveLinks(ctx)
		out = append(out, ms...)
		firstErr = cmp.Or(firstErr, err)
		_, err = c.receiveGLinks(ctx)
		firstErr = cmp.Or(firstErr, err)
	}
	c.mu.Lock()
	ids := c.book.Active()
	c.mu.Unlock()
	for _, id := range ids {
		g, _ := c.group(id)
		c.mu.Lock()
		leaving := g.TakeLeaving()
		c.mu.Unlock()
		for _, m := range leaving {
			if err := c.RemoveMember(ctx, id, m); err != nil {
				firstErr = cmp.Or(firstErr, err)
			}
		}
		c.checkDevices(ctx, g)
		if err := c.giveKeys(ctx, g); err != nil {
			firstErr = cmp.Or(firstErr, err)
		}
		if err := c.giveDeviceKeys(ctx, g); err != nil {
			firstErr = cmp.Or(firstErr, err)
		}
		if read {
			ms, err := c.receiveGroup(ctx, id)
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
func (c *Client) giveKeys(ctx context.Context, g *group.Group) error {
	c.mu.Lock()
	todo := g.ToGive()
	if c.book.Dev != "" {
		todo = nil // a linked device has no group links: its keys go over group device links (giveDeviceKeys)
	}
	c.mu.Unlock()
	var firstErr error
	for _, m := range todo {
		if _, err := c.link(ctx, m); err != nil && !quiet(err) {
			firstErr = cmp.Or(firstErr, fmt.Errorf("client: group link with %s: %w", m, err))
		}
		c.mu.Lock()
		info, epoch := g.Info(false), g.Epoch
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
		g.Given(m, epoch)
		err = c.saveUnlock()
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
func (c *Client) tellMember(ctx context.Context, g *group.Group, m string, info *wire.GroupInfo, always bool) error {
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
	_, cerr := c.SendEvent(ctx, ContactConv(m), e())
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
	return c.book.Waiting(func(m string) bool {
		l, ct := c.links[m], c.contacts[m]
		return (l != nil && l.changed != nil) || (ct != nil && ct.changed != nil)
	})
}

// hasGroupKeys reports whether the user holds the current key of every
// other member of the group and has given its own to all of them.
func (c *Client) hasGroupKeys(id string) bool {
	g, err := c.group(id)
	if err != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return g.HasKeys()
}

// memberChecks is how many members SendGroup looks up at once.
const memberChecks = 8

// checkMembers looks every other member of g up on the chain (checkName):
// one whose keys changed makes the user's key new (keysChangedInGroups),
// and rekeyed says some member's keys are changed. If a member cannot be
// looked up (the chain does not answer), the error says so, wrapping
// ErrOffline: nothing may be written to the group then.
func (c *Client) checkMembers(ctx context.Context, g *group.Group) (rekeyed bool, _ error) {
	c.mu.Lock()
	others := g.Others()
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
	for i, m := range others {
		err := errs[i]
		rekeyed = rekeyed || errors.Is(err, ErrKeysChanged)
		if err != nil && !errors.Is(err, ErrKeysChanged) {
			// Never sealed on keys that may have changed: with the chain
			// down, nothing is written to the group.
			return rekeyed, fmt.Errorf("client: a group message is written only once every member's keys are checked, and %s's cannot be now (send it again when the chain answers): %w", m, err)
		}
	}
	return rekeyed, nil
}

// sendGroup writes an event to the group on the user's hubs. It first
// looks every other member up on the chain: if one's keys changed, the
// user's key is made new first (and given to the others), so nothing
// sent from then on is readable with keys the name's old holder has. If
// a member cannot be looked up (the chain does not answer), nothing is
// written and the error says so (wrapping ErrOffline).
func (c *Client) sendGroup(ctx context.Context, id string, e *wire.Event) (Message, error) {
	g, err := c.group(id)
	if err != nil {
		return Message{}, err
	}
	if err := c.writable(ctx, false); err != nil {
		return Message{}, err
	}
	c.refreshMine(ctx)
	c.mu.Lock()
	c.adoptDevice()
	c.mu.Unlock()
	rekeyed, err := c.checkMembers(ctx, g)
	if err != nil {
		return Message{}, err
	}
	if c.checkDevices(ctx, g) {
		rekeyed = true // a device that had the key is no longer listed
	}
	if rekeyed {
		c.giveKeys(ctx, g) // the others' copies of the new key; what fails goes with the next sync
	}
	c.giveDeviceKeys(ctx, g) // likewise, to every device
	c.mu.Lock()
	k := g.Mine()
	if k == nil {
		c.mu.Unlock()
		return Message{}, fmt.Errorf("%w %s", ErrNotMember, g.Name)
	}
	if e.Ref != nil && e.Kind != wire.KindText {
		i := c.find(*e.Ref, GroupConv(g.ID))
		if i < 0 || (e.Kind != wire.KindReact && c.history[i].From != c.Name) {
			c.mu.Unlock()
			return Message{}, fmt.Errorf("%w: %s of yours in the group", ErrNoMessage, e.Ref)
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
	out := c.gstream(id)
	seq := out.Next()
	mk, err := k.MessageKey(seq)
	if err != nil {
		c.mu.Unlock()
		return Message{}, err
	}
	path := wire.GroupPath(k.Seed, seq)
	blob, err := wire.SealGroupMessage(mk, k.Signer(c.id.SigningKey()), g.ID, k.Epoch, seq, path, plain)
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
	m := c.apply(groupConv{g, out}, messageOf(c.Name, GroupConv(g.ID), seq, e))
	out.Add(seq, path, blob, hubExp)
	err = c.saveUnlock()
	if err != nil {
		return m, err
	}
	return m, c.flushQueued(ctx, g.Name, out, seq)
}

// receiveGroup reads every member's new messages, member by member, each
// in order; like Receive, a message that does not open or that a hub
// withholds is reported and nothing after it from that member is shown.
func (c *Client) receiveGroup(ctx context.Context, id string) ([]Message, error) {
	g, err := c.group(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	members := g.Readers()
	c.mu.Unlock()
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

// errLookUpAuthor: receiveMember found a new message and looks its author
// up before opening it.
var errLookUpAuthor = errors.New("client: look the author up first")

func (c *Client) receiveMember(ctx context.Context, g *group.Group, member string) ([]Message, error) {
	name, dev := group.NameOf(member), group.DevOf(member)
	author := c.memberConv(name)
	var (
		hubs    []string
		addr    string
		onChain []byte
		looked  bool
	)
	switch {
	case author != nil && dev == "" && name != c.Name:
		// A member's first device, vouched for by the group link or the
		// contact conversation, as before there were devices.
		if c.closed(author) != nil {
			return nil, nil // their keys changed: nothing more from the old holder
		}
		author.recvMu.Lock()
		defer author.recvMu.Unlock()
		hubs, addr = c.whereIs(author)
		c.mu.Lock()
		onChain = author.Record.Profile.SigningKey[:]
		c.mu.Unlock()
	default:
		// Another device (or, on a linked device, any device of a member
		// without a link, or of the user's): read only while the record,
		// at the latest verified height, lists it (docs/protocol.md,
		// Groups on several devices).
		rec, err := c.groupRecord(ctx, name)
		if err != nil {
			if IsOffline(err) {
				return nil, nil // read when the chain answers
			}
			return nil, err
		}
		key, ok := senderKey(rec, member)
		if !ok || !listed(rec, key) {
			return nil, nil // a device no longer listed: nothing more is read from it
		}
		c.glinkMu.Lock()
		defer c.glinkMu.Unlock()
		hubs, addr, onChain, looked = rec.Profile.Hubs, auth.NativeAddress(key[:]), key[:], true
	}
	var out []Message
	var index *wire.Index
	// The author is looked up (at the latest verified height, once per
	// height) when a new message of theirs is found, before it is opened:
	// a long-running watch shows nothing a changed member's old device
	// writes after the change. A member with nothing new costs no lookup.
	for {
		c.mu.Lock()
		seq, k := g.NextToRead(member)
		c.mu.Unlock()
		if k == nil {
			return out, nil
		}
		path := wire.GroupPath(k.Seed, seq)
		var (
			sv      *store.Save
			saveErr error
		)
		_, err := c.getVerified(ctx, hubs, addr, path, func(blob []byte) error {
			if !looked {
				return errLookUpAuthor
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			var plain []byte
			err := k.Open(seq, func(mk [32]byte) (err error) { // the chain does not move for a blob that does not open
				plain, err = wire.OpenGroupMessage(mk, k.Verifier(onChain), g.ID, k.Epoch, seq, path, blob)
				return err
			})
			if err != nil {
				return fmt.Errorf("client: group %s: message %d from %s was altered or forged: %w", g.Name, seq, name, err)
			}
			m, _ := eventMessage(name, GroupConv(g.ID), seq, plain)
			m.Device = dev
			g.Took(member, seq)
			untilRead(&m) // a disappearing message's timer starts when it is read
			out = append(out, c.apply(groupConv{g, c.gstream(g.ID)}, m))
			sv, saveErr = c.prepare()
			return nil
		})
		saveErr = cmp.Or(saveErr, c.write(sv))
		if errors.Is(err, errLookUpAuthor) {
			looked = true
			if _, err := c.checkName(ctx, name); err != nil && !IsOffline(err) {
				return out, err // their keys changed: nothing more from the old holder
			}
			continue
		}
		if errors.Is(err, hub.ErrNotFound) {
			if index == nil {
				c.mu.Lock()
				last := g.Latest(member)
				c.mu.Unlock()
				index = c.bestIndex(ctx, hubs, addr, wire.GroupIndexPath(last.Seed), wire.GroupIndexKey(last.Seed))
			}
			switch {
			case index.IsDeleted(seq), index.IsExpired(seq, c.now()): // deleted, or expired on its hubs, before it was read: step past it
				c.mu.Lock()
				k.MessageKey(seq)
				g.Took(member, seq)
				err = c.saveUnlock()
				if err != nil {
					return out, err
				}
				continue
			case seq < index.Count:
				return out, &WithheldError{Name: name + " in " + g.Name, Seq: seq, Count: index.Count}
			}
			return out, nil
		}
		if err := cmp.Or(err, saveErr); err != nil {
			return out, err
		}
	}
}

// markGroupRead records that the user has seen everything received in
// the group, and tells the members (unless read receipts are off); the
// timers of the disappearing messages just read start now.
func (c *Client) markGroupRead(ctx context.Context, id string) error {
	g, err := c.group(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	changed := g.MarkRead()
	started := c.startTimers(GroupConv(g.ID), func(m string) uint64 { return g.Read[m] })
	var sv *store.Save
	if changed || started {
		sv, err = c.prepare()
	}
	c.mu.Unlock()
	if err = cmp.Or(err, c.write(sv)); err != nil || !changed {
		return err
	}
	if err := c.syncGroupRead(ctx, g); err != nil {
		return err
	}
	return c.writeGroupReceipt(ctx, g)
}

// writeGroupReceipt puts the user's receipt for the group on the user's
// hubs, under the user's current sender key.
func (c *Client) writeGroupReceipt(ctx context.Context, g *group.Group) error {
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
func (c *Client) groupReceiptBlob(g *group.Group) (string, []byte) {
	k := g.Mine()
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
		if k := g.Latest(m); k != nil && m != c.Name {
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
