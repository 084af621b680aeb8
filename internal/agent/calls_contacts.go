package agent

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/internal/api"
)

// contacts lists the contacts: with ?check=0, without asking the chain or
// their hubs anything (what the device holds), else each one's keys
// checked on the chain and where a request stands asked of their hubs, as
// 'parley contacts' shows them.
func (a *Agent) contacts(k *call) (any, error) {
	ctx := k.ctx
	c, err := a.client(ctx, k)
	if err != nil {
		return nil, err
	}
	check := k.query("check") != "0"
	blocked := c.Blocked()
	out := api.Contacts{Contacts: []api.Contact{}}
	for _, n := range c.Contacts() {
		ct := api.Contact{Name: n, Verified: c.Verified(n), Unread: c.Unread(client.ContactConv(n)), Blocked: slices.Contains(blocked, n), Keys: "unchecked"}
		if !check {
			out.Contacts = append(out.Contacts, ct)
			continue
		}
		if p, err := c.ContactProfile(ctx, n); err == nil {
			ct.DisplayName = p.DisplayName
		}
		var kc *client.KeyChange
		switch err := c.CheckKeys(ctx, n); {
		case errors.As(err, &kc) && kc.Revoked():
			ct.Keys, ct.KeyChange = "revoked", apiKeyChange(kc)
		case errors.As(err, &kc) && kc.Free():
			ct.Keys, ct.KeyChange = "free", apiKeyChange(kc)
		case errors.As(err, &kc):
			ct.Keys, ct.KeyChange = "changed", apiKeyChange(kc)
		case client.IsOffline(err):
			ct.Keys = "unchecked"
		case err != nil:
			ct.Keys, ct.CheckError = "error", a.apiError(err)
		default:
			ct.Keys = "confirmed"
		}
		if end, ok := c.Lapsing(ctx, n); ok {
			ct.GraceUntil = end
		}
		if ct.KeyChange == nil {
			switch c.Asking(ctx, n) {
			case client.RequestQueued:
				ct.Asking = "queued"
			case client.RequestSent:
				ct.Asking = "sent"
			case client.IntroWritten:
				ct.Asking = "introduced"
			}
		}
		out.Contacts = append(out.Contacts, ct)
	}
	return out, nil
}

func (a *Agent) addContact(k *call) (any, error) {
	var req api.AddContactRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	name := req.Name
	if strings.TrimSpace(req.Greeting) == "" {
		return nil, usagef("the first message (--message) is empty: leave the flag out for the default")
	}
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	if name == c.Name {
		return nil, usagef("%s is your own name: add someone else's", name)
	}
	// On a device linked to the name, a request is signed by this
	// device's key (the conversation runs on device-pair sessions); a
	// contact the user's other devices have is one here already.
	if req.Known {
		err = c.Introduce(k.ctx, name, req.Greeting)
	} else {
		err = c.Request(k.ctx, name, req.Greeting)
	}
	var q *client.QueuedError
	switch {
	case errors.Is(err, client.ErrIntroPending):
		return api.AddContactResult{Outcome: "intro_pending"}, nil
	case errors.As(err, &q) && q.Intro:
		return api.AddContactResult{Outcome: "intro_queued", Queued: apiQueued(q)}, nil
	case errors.As(err, &q) && q.Request:
		return api.AddContactResult{Outcome: "request_queued", Queued: apiQueued(q)}, nil
	case errors.As(err, &q): // the greeting waits for the user's hub
		return api.AddContactResult{Outcome: "greeting_queued", Queued: apiQueued(q)}, nil
	case errors.Is(err, client.ErrNoAnswer):
		return nil, coded(api.CodeNoAnswer, fmt.Errorf("you asked %s already; they have not answered yet", name),
			fmt.Sprintf("to ask again: 'parley contacts remove %s', then 'parley contacts add %s'", name, name))
	case errors.Is(err, client.ErrAlreadyContact):
		return nil, coded(api.CodeAlreadyContact, fmt.Errorf("%s is a contact already", name),
			fmt.Sprintf("if %s removed you, 'parley contacts reset %s' sends them a new request", name, name))
	case err != nil:
		return nil, err
	case req.Known:
		return api.AddContactResult{Outcome: "introduced"}, nil
	}
	return api.AddContactResult{Outcome: "sent"}, nil
}

func (a *Agent) answer(accept bool) func(k *call) (any, error) {
	return func(k *call) (any, error) {
		c, err := a.client(k.ctx, k)
		if err != nil {
			return nil, err
		}
		name := k.param("name")
		if err := c.Answer(k.ctx, name, accept); err != nil {
			return nil, err
		}
		if accept {
			// What the requester wrote after the request is read now: a
			// watch saw it arrive before the conversation existed here
			// (or before it started over), and nothing new on their hubs
			// would make it look again.
			ms, err := c.Receive(k.ctx, client.ContactConv(name))
			for _, m := range ms {
				am := apiEvent(c.Name, m)
				a.publish(api.Event{Type: api.EventMessage, Message: &am})
			}
			if quiet(err) != nil {
				k.warn("", err)
			}
		}
		return nil, nil
	}
}

func (a *Agent) confirm(k *call) (any, error) {
	ctx, name := k.ctx, k.param("name")
	c, err := a.client(ctx, k)
	if err != nil {
		return nil, err
	}
	if err := c.CheckKeys(ctx, name); !errors.Is(err, client.ErrKeysChanged) {
		if err == nil {
			return api.ConfirmResult{Unchanged: true}, nil
		}
		return nil, err
	}
	rec, err := c.ConfirmKeys(ctx, name)
	if rec == nil {
		return nil, err
	}
	return api.ConfirmResult{Safety: c.SafetyNumber(rec)}, err
}

func (a *Agent) reset(k *call) (any, error) {
	var req api.GreetingRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	return nil, c.Reset(k.ctx, k.param("name"), req.Greeting)
}

func (a *Agent) safety(k *call) (any, error) {
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	rec, err := c.ContactRecord(k.param("name"))
	if err != nil {
		return nil, err
	}
	return api.Safety{Name: k.param("name"), Me: c.Name, Safety: c.SafetyNumber(rec)}, nil
}

func (a *Agent) verify(k *call) (any, error) {
	var req api.VerifyRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	return nil, c.Verify(k.ctx, k.param("name"), req.Number)
}

func (a *Agent) unverify(k *call) (any, error) {
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	return nil, c.Unverify(k.param("name"))
}

func (a *Agent) removeContact(k *call) (any, error) {
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	if err := c.RemoveContact(k.ctx, k.param("name")); err != nil {
		return nil, err
	}
	return nil, nil
}

// contactProfile is a contact's profile: with ?fetch=1, what is new from
// their hubs is read first (a new profile key, say).
func (a *Agent) contactProfile(k *call) (any, error) {
	ctx, name := k.ctx, k.param("name")
	c, err := a.client(ctx, k)
	if err != nil {
		return nil, err
	}
	if k.flag("fetch") {
		if _, err := c.Receive(ctx, client.ContactConv(name)); quiet(err) != nil {
			k.warn("", err)
		}
	}
	p, err := c.ContactProfile(ctx, name)
	if err != nil {
		return nil, err
	}
	return api.Profile{DisplayName: p.DisplayName, Status: p.Status, Avatar: p.Avatar}, nil
}

func (a *Agent) profile(k *call) (any, error) {
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	p := c.MyProfile()
	return api.Profile{DisplayName: p.DisplayName, Status: p.Status, Avatar: p.Avatar}, nil
}

func (a *Agent) setProfile(k *call) (any, error) {
	var req api.ProfileUpdate
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	if req.Avatar != nil {
		if _, _, _, err := wire.CheckAvatar(req.Avatar); err != nil {
			return nil, fmt.Errorf("%w: %w", errNotAvatar, err)
		}
	}
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	p := c.MyProfile()
	if req.DisplayName != nil {
		p.DisplayName = *req.DisplayName
	}
	if req.Status != nil {
		p.Status = *req.Status
	}
	if req.Avatar != nil {
		p.Avatar = req.Avatar
	}
	return nil, c.SetProfile(k.ctx, p)
}

func (a *Agent) requests(k *call) (any, error) {
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	pending, bad, err := c.Requests(k.ctx)
	if err != nil {
		return nil, err
	}
	out := api.Requests{Requests: []api.Request{}}
	for _, p := range pending {
		out.Requests = append(out.Requests, apiRequest(p))
	}
	ids := make([]string, 0, len(bad))
	for id := range bad {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		e := bad[id]
		if errors.Is(e, client.ErrSenderUnknown) {
			out.Waiting = append(out.Waiting, id)
			continue
		}
		out.Refused = append(out.Refused, api.RefusedEntry{ID: id, Reason: a.apiError(e).Message, Junk: errors.Is(e, client.ErrUndecodable)})
	}
	return out, nil
}

// apiRequest is p as the API carries it (never its keys).
func apiRequest(p client.Pending) api.Request {
	r := api.Request{ID: p.ID, From: p.From, Device: p.Device}
	if p.Intro != nil {
		r.Greeting, r.Time = p.Intro.Greeting, p.Intro.Time
	}
	return r
}

func (a *Agent) clearRequests(k *call) (any, error) {
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	junk, err := c.ClearUndecodable(k.ctx)
	out := api.Cleared{Removed: []api.Junk{}}
	for _, j := range junk {
		out.Removed = append(out.Removed, api.Junk{ID: j.ID, Hub: j.Hub, Reason: j.Reason})
	}
	return out, err
}

func (a *Agent) block(k *call) (any, error) {
	var req api.NameRequest
	if err := k.decode(&req); err != nil {
		return nil, err
	}
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	if err := c.Block(k.ctx, req.Name); err != nil {
		return nil, err
	}
	return nil, nil
}

func (a *Agent) unblock(k *call) (any, error) {
	c, err := a.client(k.ctx, k)
	if err != nil {
		return nil, err
	}
	if err := c.Unblock(k.ctx, k.param("name")); err != nil {
		return nil, err
	}
	return nil, nil
}
