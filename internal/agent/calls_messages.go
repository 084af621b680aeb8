package agent

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/internal/api"
)

// apiMessage is m, an entry of me's history, as the API carries it
// (never a file's key).
func apiMessage(me string, m client.Message) api.Message {
	out := apiEvent(me, client.Event{From: m.From, Conv: m.Conv, Seq: m.Seq, Time: m.Time, Kind: m.Kind, Text: m.Text, Ref: m.Ref,
		RefLabel: m.RefLabel, Emoji: m.Emoji, File: m.File, TTL: m.TTL, Expires: m.Expires, N: m.N})
	out.Edited, out.Deleted, out.Reactions, out.Earlier = m.Edited, m.Deleted, maps.Clone(m.Reactions), m.Earlier
	return out
}

// apiEvent is e, which arrived for me, as the API carries it: a message
// as it arrived (never a file's key).
func apiEvent(me string, e client.Event) api.Message {
	to := e.Conv.String() // the contact written to, or the group
	if _, ok := e.Conv.Contact(); ok && e.From != me {
		to = me
	}
	out := api.Message{Conversation: e.Conv.String(), ID: api.Ref{By: e.From, Seq: e.Seq}, From: e.From, To: to,
		Time: e.Time, Kind: e.Kind, Text: e.Text, Emoji: e.Emoji, TTL: int64(e.TTL / time.Second), Expires: e.Expires}
	if l, ok := e.Label(); ok {
		out.Label = l.String()
	}
	if e.Ref != nil {
		out.Ref = &api.Ref{By: e.Ref.By, Seq: e.Ref.Seq}
	}
	if e.RefLabel != nil {
		out.RefLabel = e.RefLabel.String()
	}
	if e.File != nil {
		out.File = &api.File{Name: e.File.Name, Size: e.File.Size}
	}
	return out
}

// receiptCache is what a conversation's other side last said it has of
// the user's messages: a contact's receipt, or a group's members'.
type receiptCache struct {
	r     wire.Receipt
	group map[string]wire.Receipt
}

// cachedReceipt is conv's receipt as last read.
func (a *Agent) cachedReceipt(conv client.Conv) receiptCache {
	a.receiptsMu.Lock()
	defer a.receiptsMu.Unlock()
	return a.receipts[conv]
}

// readReceipt reads conv's receipt from the other side's hubs (their
// last known one while they do not answer) and keeps it.
func (a *Agent) readReceipt(k *call, c *client.Client, conv client.Conv) receiptCache {
	var rc receiptCache
	if id, ok := conv.Group(); ok {
		rc.group, _ = c.GroupReceipts(k.ctx, id)
	} else if name, ok := conv.Contact(); ok {
		rc.r, _ = c.ReceiptFrom(k.ctx, name)
	}
	a.receiptsMu.Lock()
	a.receipts[conv] = rc
	a.receiptsMu.Unlock()
	return rc
}

// states fills in the delivery state of the user's own messages in ms,
// from the receipts as last read.
func (a *Agent) states(c *client.Client, ms []api.Message) {
	members := map[client.Conv]int{}
	for _, g := range c.Groups() {
		members[client.GroupConv(g.ID)] = len(g.Members) - 1
	}
	for i := range ms {
		m := &ms[i]
		if m.From != c.Name {
			continue
		}
		conv := convOf(m.Conversation)
		rc := a.cachedReceipt(conv)
		_, group := conv.Group()
		switch st := c.StateOf(conv, m.ID.Seq, rc.r); {
		case group && st != client.StateQueued:
			m.State = client.GroupState(m.ID.Seq, members[conv], rc.group)
		default:
			m.State = st
		}
	}
}

// conversation is the call's conversation (the API's form: a contact's
// name, or "#" and a group's ID); the zero Conv, which no conversation
// matches, if the path names none.
func (k *call) conversation() client.Conv { return convOf(k.param("conv")) }

// convOf is the conversation conv names (the API's form, as
// client.Conv.String gives it); the zero Conv, which no conversation
// matches, if conv is empty.
func convOf(conv string) client.Conv {
	v, _ := client.ParseConv(conv)
	return v
}

// conversationLabel names a conversation for a person: a contact's name,
// or "the group NAME" for "#" and a group's ID.
func conversationLabel(c *client.Client, conv client.Conv) string {
	if id, ok := conv.Group(); ok {
		for _, g := range c.Groups() {
			if g.ID == id {
				return "the group " + g.Name
			}
		}
	}
	return conv.String()
}

// messages is a conversation: with ?fetch=1 what is new is read from the
// other side's hubs first (and their receipt); ?last=N keeps the newest N.
// A contact whose keys changed is said in a note: the conversation is
// closed, what it holds is shown.
func (a *Agent) messages(k *call) (any, error) {
	ctx, conv := k.ctx, k.conversation()
	last, err := k.intQuery("last")
	if err != nil {
		return nil, err
	}
	c, err := a.client(ctx, k)
	if err != nil {
		return nil, err
	}
	var kc *client.KeyChange
	if name, ok := conv.Contact(); ok {
		if err := c.CheckKeys(ctx, name); errors.As(err, &kc) {
			k.warn("", kc) // closed: what it holds is shown, nothing new is read
		} else if errors.Is(err, client.ErrNotContact) {
			return nil, err
		}
	}
	var rerr error
	if k.flag("fetch") {
		if _, rerr = c.Receive(ctx, conv); errors.Is(rerr, client.ErrKeysChanged) {
			rerr = nil // said above
		}
		rerr = quiet(rerr) // their hubs down: what was fetched before is shown
		a.readReceipt(k, c, conv)
	}
	out := api.Conversation{Conversation: conv.String(), Label: conversationLabel(c, conv), Messages: []api.Message{}}
	for _, m := range c.Conversation(conv) {
		out.Messages = append(out.Messages, apiMessage(c.Name, m))
	}
	if last > 0 && len(out.Messages) > last {
		out.Messages = out.Messages[len(out.Messages)-last:]
	}
	a.states(c, out.Messages)
	return out, rerr
}

func (a *Agent) history(k *call) (any, error) {
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	out := api.History{Messages: []api.Message{}}
	for _, m := range c.History() {
		out.Messages = append(out.Messages, apiMessage(c.Name, m))
	}
	a.states(c, out.Messages)
	return out, nil
}

func (a *Agent) search(k *call) (any, error) {
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	want, in := strings.ToLower(k.query("q")), k.query("in")
	if strings.TrimSpace(want) == "" {
		return nil, usagef("give the words to search for")
	}
	out := api.SearchResult{Messages: []api.Message{}}
	for _, m := range c.History() {
		if m.Deleted || (in != "" && m.Conv != convOf(in)) {
			continue
		}
		text := strings.ToLower(m.Text)
		if m.File != nil {
			text += " " + strings.ToLower(m.File.Name)
		}
		if strings.Contains(text, want) {
			out.Messages = append(out.Messages, apiMessage(c.Name, m))
		}
	}
	return out, nil
}

func (a *Agent) markRead(k *call) (any, error) {
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	return nil, quiet(c.MarkRead(k.ctx, k.conversation()))
}

// parseRef reads a message's label, NAME/N, as 'parley read' shows it; a
// bare N is the user's (me's) own message N.
func parseRef(s, me string) (wire.Ref, error) {
	by, n, ok := strings.Cut(s, "/")
	if !ok {
		by, n = me, s
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	ref := wire.Ref{By: by, Seq: seq}
	if err != nil || ref.Check() != nil {
		return wire.Ref{}, usagef("%q is not a message reference (NAME/N, as 'parley read' shows them)", s)
	}
	return ref, nil
}

// resolveRef reads the label s of a message of conversation conv and
// returns the message's ID, what events refer to.
func resolveRef(c *client.Client, conv client.Conv, s string) (wire.Ref, error) {
	label, err := parseRef(s, c.Name)
	if err != nil {
		return wire.Ref{}, err
	}
	return c.Resolve(conv, label)
}

// ownRef resolves the label s of one of the user's messages in
// conversation conv, written on this device, to its ID.
func ownRef(c *client.Client, conv client.Conv, s string) (wire.Ref, error) {
	label, err := parseRef(s, c.Name)
	if err != nil {
		return wire.Ref{}, err
	}
	if label.By != c.Name {
		return wire.Ref{}, usagef("%s is %s's message: only its author can change it", label, label.By)
	}
	ref, err := c.Resolve(conv, label)
	if err == nil && !c.WrittenHere(ref) {
		return wire.Ref{}, usagef("%s was written on another of your devices: only that device can edit or delete it", label)
	}
	return ref, err
}

// checkText refuses a message's text as a person gave it: empty, too
// long, or not UTF-8.
func checkText(text string) error {
	var te *client.TextError
	if err := client.CheckText(text); errors.As(err, &te) {
		switch {
		case te.Err == client.ErrEmptyText:
			return usagef("the message is empty: nothing was sent")
		case te.Err == client.ErrTextTooLong && te.Bytes <= client.MaxTextBytes:
			return hinted(fmt.Errorf("the message is %d bytes (%d characters), %d of them control characters, which take 6 bytes each in a message: it does not fit", te.Bytes, te.Chars, te.Controls),
				"send it as a file: parley send-file NAME FILE")
		case te.Err == client.ErrTextTooLong:
			return hinted(fmt.Errorf("the message is %d bytes (%d characters); a message holds at most %d bytes", te.Bytes, te.Chars, client.MaxTextBytes),
				"shorten it, or send it as a file: parley send-file NAME FILE")
		}
		return errors.New("the message is not UTF-8 text: nothing was sent")
	}
	return nil
}

// queuedOK turns "queued" into a note: the message is safe on this
// device; the note says why no hub took it and what sends it.
func (a *Agent) queuedOK(k *call, err error) error {
	var q *client.QueuedError
	switch {
	case errors.As(err, &q):
		k.addNote(&api.Note{Code: api.CodeQueued, Message: "queued: " + queuedWhy(q)})
		return nil
	case errors.Is(err, client.ErrQueued) && client.IsOffline(err):
		// The offline note names what does not answer.
		k.addNote(&api.Note{Code: api.CodeQueued, Message: "queued: it goes out with a later parley command, once what is offline answers"})
		return nil
	case errors.Is(err, client.ErrQueued):
		k.warn("", err)
		return nil
	}
	return err
}

// sent is what became of message m, sent with error err.
func (a *Agent) sent(c *client.Client, m client.Message, err error) (any, error) {
	var q *client.QueuedError
	out := api.Sent{Message: apiMessage(c.Name, m)}
	switch {
	case errors.As(err, &q):
		out.Queued = apiQueued(q)
	case err != nil:
		return nil, err
	}
	// Every front-end of the agent (a chat, the web app, a watch) sees
	// what was sent from another.
	ev := out.Message
	a.publish(api.Event{Type: api.EventMessage, Message: &ev})
	return out, nil
}

// inConv starts a call on a conversation: it decodes the request into
// req, checks it (check may be nil), and returns the client and the
// call's conversation.
func (a *Agent) inConv(k *call, req any, check func() error) (*client.Client, client.Conv, error) {
	if err := k.decode(req); err != nil {
		return nil, client.Conv{}, err
	}
	if check != nil {
		if err := check(); err != nil {
			return nil, client.Conv{}, err
		}
	}
	c, err := a.client(k.ctx, k)
	return c, k.conversation(), err
}

// fetchRef resolves the label s of a message of conv, someone else's
// perhaps, reading what is new in conv first (the message may be new).
func fetchRef(k *call, c *client.Client, conv client.Conv, s string) (wire.Ref, error) {
	if _, err := parseRef(s, c.Name); err != nil {
		return wire.Ref{}, err
	}
	if _, err := c.Receive(k.ctx, conv); quiet(err) != nil {
		k.warn("", err)
	}
	return resolveRef(c, conv, s)
}

// changeOwn is edit and delete: the request (read into req) names one of
// the user's messages by its label (*ref), and change makes the event
// that changes it.
func (a *Agent) changeOwn(k *call, req any, ref *string, check func() error, change func(wire.Ref) *wire.Event) (any, error) {
	c, conv, err := a.inConv(k, req, check)
	if err != nil {
		return nil, err
	}
	id, err := ownRef(c, conv, *ref)
	if err != nil {
		return nil, err
	}
	m, err := c.SendEvent(k.ctx, conv, change(id))
	return nil, a.changed(k, c, m, err)
}

// changed publishes what a reaction, an edit, a deletion, a timer or a
// file sent through SendEvent or SendFile (m, with err) did: sent or
// queued, it is in the history, and every front-end of the agent (a
// chat, the web app, a watch) shows it, as it shows what arrives from the
// other side. It returns err unless the message was queued (queuedOK).
// (The client's React, Edit, Delete and SetTimer send the same events but
// do not return the message.)
func (a *Agent) changed(k *call, c *client.Client, m client.Message, err error) error {
	if err := a.queuedOK(k, err); err != nil {
		return err
	}
	if m.From == "" {
		return nil // nothing was kept
	}
	ev := apiMessage(c.Name, m)
	a.publish(api.Event{Type: api.EventMessage, Message: &ev})
	return nil
}

func (a *Agent) send(k *call) (any, error) {
	var req api.SendRequest
	c, conv, err := a.inConv(k, &req, func() error { return checkText(req.Text) })
	if err != nil {
		return nil, err
	}
	e := &wire.Event{Kind: wire.KindText, Text: req.Text}
	if req.Reply != "" {
		ref, err := resolveRef(c, conv, req.Reply)
		if err != nil {
			return nil, err
		}
		e.Ref = &ref
	}
	m, err := c.SendEvent(k.ctx, conv, e)
	return a.sent(c, m, err)
}

func (a *Agent) react(k *call) (any, error) {
	var req api.ReactRequest
	c, conv, err := a.inConv(k, &req, nil)
	if err != nil {
		return nil, err
	}
	ref, err := fetchRef(k, c, conv, req.Ref)
	if err != nil {
		return nil, err
	}
	m, err := c.SendEvent(k.ctx, conv, &wire.Event{Kind: wire.KindReact, Ref: &ref, Emoji: req.Emoji})
	return nil, a.changed(k, c, m, err)
}

func (a *Agent) edit(k *call) (any, error) {
	var req api.EditRequest
	return a.changeOwn(k, &req, &req.Ref, func() error { return checkText(req.Text) }, func(id wire.Ref) *wire.Event {
		return &wire.Event{Kind: wire.KindEdit, Ref: &id, Text: req.Text}
	})
}

func (a *Agent) deleteMessage(k *call) (any, error) {
	var req api.DeleteRequest
	return a.changeOwn(k, &req, &req.Ref, nil, func(id wire.Ref) *wire.Event {
		return &wire.Event{Kind: wire.KindDelete, Ref: &id}
	})
}

// timer is the conversation's disappearing-message timer as either side
// last set it.
func (a *Agent) timer(k *call) (any, error) {
	conv := k.conversation()
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	if id, ok := conv.Group(); ok {
		if _, err := c.FindGroup(id); err != nil {
			return nil, coded(api.CodeNoGroup, err, "")
		}
	}
	d, err := c.Timer(conv)
	if err != nil {
		return nil, err
	}
	return api.TimerResult{Label: conversationLabel(c, conv), Seconds: int64(d / time.Second)}, nil
}

func (a *Agent) setTimer(k *call) (any, error) {
	var req api.TimerRequest
	c, conv, err := a.inConv(k, &req, func() error {
		if req.Seconds < 0 {
			return usagef("a timer of %d seconds: give 0 (off) or more", req.Seconds)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	m, err := c.SendEvent(k.ctx, conv, &wire.Event{Kind: wire.KindTimer, TTL: req.Seconds})
	if err := a.changed(k, c, m, err); err != nil {
		return nil, err
	}
	if req.Seconds > 0 {
		k.warn("", c.CheckHubExpiry(k.ctx)) // disappearing messages rely on it while the device is off
	}
	return api.TimerResult{Label: conversationLabel(c, conv), Seconds: req.Seconds}, nil
}

// localPath checks a path a caller gives for a file: absolute, and not in
// the home (the agent never sends its own keys or state as a file, nor
// writes into the home for a caller).
func (a *Agent) localPath(p, what string) (string, error) {
	if p == "" || strings.ContainsRune(p, 0) || !filepath.IsAbs(p) {
		return "", usagef("%s %q is not an absolute path", what, p)
	}
	p = filepath.Clean(p)
	home, err := filepath.Abs(a.home.dir)
	if err != nil {
		return "", err
	}
	real := p
	if r, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
		real = filepath.Join(r, filepath.Base(p))
	}
	if rh, err := filepath.EvalSymlinks(home); err == nil {
		home = rh
	}
	for _, q := range []string{p, real} {
		if q == home || strings.HasPrefix(q, home+string(filepath.Separator)) {
			return "", coded(api.CodePermission, fmt.Errorf("%s %s is in the home %s: parley keeps its own files there", what, p, a.home.dir), "choose a file outside the home")
		}
	}
	return p, nil
}

func (a *Agent) sendFile(k *call) (any, error) {
	var (
		req api.SendFileRequest
		p   string
	)
	c, conv, err := a.inConv(k, &req, func() (err error) {
		p, err = a.localPath(req.Path, "the file")
		return err
	})
	if err != nil {
		return nil, err
	}
	m, err := c.SendFile(k.ctx, conv, p, req.Caption, func(done, total int64) {
		k.progress(api.Progress{Stage: "send", Done: done, Total: total})
	})
	if err := a.changed(k, c, m, err); err != nil {
		return nil, err
	}
	return api.Sent{Message: apiMessage(c.Name, m)}, nil
}

func (a *Agent) getFile(k *call) (any, error) {
	var req api.GetFileRequest
	c, conv, err := a.inConv(k, &req, func() error {
		if req.Dest == "" && req.Dir == "" {
			return usagef("give where to save the file (dest or dir)")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ref, err := fetchRef(k, c, conv, req.Ref)
	if err != nil {
		return nil, err
	}
	dest := req.Dest
	if dest == "" {
		for _, m := range c.Conversation(conv) {
			if m.ID() == ref && m.File != nil {
				if base := filepath.Base(m.File.Name); base != "." && base != "/" && base != ".." {
					dest = filepath.Join(req.Dir, base)
				}
			}
		}
		if dest == "" {
			return nil, fmt.Errorf("message %s with %s shares no file", req.Ref, conv)
		}
	}
	if dest, err = a.localPath(dest, "the destination"); err != nil {
		return nil, err
	}
	err = c.GetFile(k.ctx, conv, ref, dest, func(done, total int64) {
		k.progress(api.Progress{Stage: "receive", Done: done, Total: total})
	})
	if err != nil {
		return nil, err
	}
	return api.Saved{Path: dest}, nil
}

// apiGroup is g as the API carries it (never its keys).
func apiGroup(g client.Group) api.Group {
	return api.Group{ID: g.ID, Name: g.Name, Creator: g.Creator, Members: append([]string{}, g.Members...), Gone: g.Gone}
}

func (a *Agent) groups(k *call) (any, error) {
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	if k.flag("sync") {
		c.SyncGroups(k.ctx)
	}
	out := api.Groups{Groups: []api.Group{}}
	for _, g := range c.Groups() {
		ag := apiGroup(g)
		ag.Unread = c.Unread(client.GroupConv(g.ID))
		out.Groups = append(out.Groups, ag)
	}
	return out, nil
}

func (a *Agent) createGroup(k *call) (any, error) {
	var req api.CreateGroupRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	if req.Name == "" || len(req.Members) == 0 {
		return nil, usagef("a group needs a name and at least one member")
	}
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	id, err := c.CreateGroup(k.ctx, req.Name, req.Members)
	if id == "" {
		return nil, err
	}
	return api.Created{ID: id}, err
}

// group is a group, found by name or ID and brought up to date, with the
// members whose keys changed.
func (a *Agent) group(k *call) (any, error) {
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	id, err := c.FindGroup(k.param("group"))
	if err != nil {
		return nil, coded(api.CodeNoGroup, err, "")
	}
	c.SyncGroups(k.ctx)
	out := api.GroupDetail{}
	for _, g := range c.Groups() {
		if g.ID == id {
			out.Group = apiGroup(g)
		}
	}
	for _, kc := range c.MemberKeyChanges(id) {
		out.KeyChanges = append(out.KeyChanges, *apiKeyChange(kc))
	}
	return out, nil
}

func (a *Agent) groupAction(action string) func(k *call) (any, error) {
	return func(k *call) (any, error) {
		var req api.NameRequest
		if action != "leave" {
			if err := k.decode(&req); err != nil {
				return nil, err
			}
		}
		ctx := k.ctx
		c, err := a.client(ctx, k)
		if err != nil {
			return nil, err
		}
		id, err := c.FindGroup(k.param("group"))
		if err != nil {
			return nil, coded(api.CodeNoGroup, err, "")
		}
		switch action {
		case "invite":
			err = c.Invite(ctx, id, req.Name)
		case "remove":
			err = c.RemoveMember(ctx, id, req.Name)
		case "rename":
			err = c.RenameGroup(ctx, id, req.Name)
		case "leave":
			err = c.LeaveGroup(ctx, id)
		case "hand-over":
			err = c.HandOver(ctx, id, req.Name)
		}
		return nil, err
	}
}
