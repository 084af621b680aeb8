package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/parley-im/parley/internal/peercred"
)

// Bounds of what a Client reads from an agent.
const (
	// MaxAnswer bounds one answer (or one line of an NDJSON answer): a
	// whole history fits.
	MaxAnswer = 64 << 20
	// MaxEvent bounds one event of the stream.
	MaxEvent = 1 << 20
)

// Client calls an agent's API: over its Unix socket (NewUnix) or on a
// handler in the same process (NewLocal). It is safe for concurrent use;
// OnNote and OnProgress are set before the first call.
type Client struct {
	hc *http.Client
	// OnNote receives each note of every call as it arrives (nil: dropped).
	OnNote func(*Note)
	// OnProgress receives each progress report (nil: dropped).
	OnProgress func(*Progress)
}

// ErrAgentGone: the agent stopped answering in the middle of a call (it
// was stopped or died); what the call did so far is the agent's to keep.
var ErrAgentGone = errors.New("the agent stopped while it served this command")

// base is the URL every path is joined to; the host is never dialled
// (the transport reaches the agent).
const base = "http://parley-agent"

// ErrForeignAgent: the process serving the agent socket is another
// user's: nothing is sent to it.
var ErrForeignAgent = errors.New("the agent socket is served by another user's process")

// NewUnix is a Client of the agent listening on the Unix socket at path,
// served by a process of this user (the kernel says whose, where it can:
// another user's is ErrForeignAgent, and nothing is sent to it; off Linux
// the home's permissions, checked before dialling, are the only check).
func NewUnix(path string) *Client { return newUnix(path, os.Getuid()) }

func newUnix(path string, uid int) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", path)
			if err != nil {
				return nil, err
			}
			if peer, ok := peercred.Of(c); ok && peer.UID != uid {
				c.Close()
				return nil, fmt.Errorf("%w (user %d): %s", ErrForeignAgent, peer.UID, path)
			}
			return c, nil
		},
		MaxIdleConns:    2,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{hc: &http.Client{Transport: tr}}
}

// NewLocal is a Client of h, served in this process with no socket: the
// one code path a command takes when no agent runs.
func NewLocal(h http.Handler) *Client {
	return &Client{hc: &http.Client{Transport: localTransport{h}}}
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Do calls method path with in as its JSON body (nil: none) and decodes
// the result into out (nil: dropped). The error is the call's *Error, or a
// transport failure; a call can return a result and an error together
// (out is then filled too).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	res, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	ct := res.Header.Get("Content-Type")
	if ct != NDJSON {
		var env struct {
			Result json.RawMessage `json:"result"`
			Error  *Error          `json:"error"`
			Notes  []*Note         `json:"notes"`
		}
		if err := json.NewDecoder(io.LimitReader(res.Body, MaxAnswer)).Decode(&env); err != nil {
			return fmt.Errorf("the agent answered %s with no API envelope: %w", res.Status, err)
		}
		for _, n := range env.Notes {
			c.note(n)
		}
		return finish(env.Result, env.Error, out)
	}
	return eachLine(ctx, res.Body, MaxAnswer, func(line []byte) (bool, error) {
		var f struct {
			Progress *Progress       `json:"progress"`
			Note     *Note           `json:"note"`
			Done     bool            `json:"done"`
			Result   json.RawMessage `json:"result"`
			Error    *Error          `json:"error"`
		}
		if err := json.Unmarshal(line, &f); err != nil {
			return true, fmt.Errorf("the agent's answer is not NDJSON: %w", err)
		}
		switch {
		case f.Done:
			return true, finish(f.Result, f.Error, out)
		case f.Note != nil:
			c.note(f.Note)
		case f.Progress != nil && c.OnProgress != nil:
			c.OnProgress(f.Progress)
		}
		return false, nil
	}, func(err error) error { return fmt.Errorf("%w (%w)", ErrAgentGone, err) })
}

// send sends the request for method path, with in as its JSON body (nil:
// none), asking for NDJSON; the caller closes the answer's body.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", JSON)
	}
	req.Header.Set("Accept", NDJSON)
	res, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("the agent does not answer: %w", err)
	}
	return res, nil
}

// eachLine calls fn with each line of body (each at most max bytes, its
// newline taken off) until fn says it is done, and returns fn's error
// then. If body ends or breaks first, it returns ctx's error if ctx
// ended, and ended's error otherwise.
func eachLine(ctx context.Context, body io.Reader, max int, fn func(line []byte) (done bool, err error), ended func(error) error) error {
	r := bufio.NewReaderSize(body, 64<<10)
	for {
		line, err := readLine(r, max)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return ended(err)
		}
		if done, err := fn(line); done || err != nil {
			return err
		}
	}
}

func (c *Client) note(n *Note) {
	if c.OnNote != nil && n != nil {
		c.OnNote(n)
	}
}

// finish decodes result into out and returns e (as an error, nil if nil).
func finish(result json.RawMessage, e *Error, out any) error {
	if out != nil && len(result) > 0 && string(result) != "null" {
		if err := json.Unmarshal(result, out); err != nil {
			return fmt.Errorf("the agent's result does not decode: %w", err)
		}
	}
	if e != nil {
		return e
	}
	return nil
}

// readLine reads one line of at most max bytes (without its newline).
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max {
			return nil, errors.New("a line longer than the API allows")
		}
		if err == nil {
			return bytes.TrimSuffix(line, []byte("\n")), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if err == io.EOF && len(line) > 0 {
				return line, nil
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// Events follows the agent's event stream from after the event whose
// cursor is after ("": from now), calling fn with each event until ctx
// ends, fn returns an error, or the stream ends (an error then).
func (c *Client) Events(ctx context.Context, after string, fn func(Event) error) error {
	q := ""
	if after != "" {
		q = "?after=" + url.QueryEscape(after)
	}
	res, err := c.send(ctx, http.MethodGet, Prefix+"/events"+q, nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		var env Envelope
		json.NewDecoder(io.LimitReader(res.Body, MaxEvent)).Decode(&env)
		if env.Error != nil {
			return env.Error
		}
		return fmt.Errorf("the agent answered %s to the event stream", res.Status)
	}
	return eachLine(ctx, res.Body, MaxEvent, func(line []byte) (bool, error) {
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return true, fmt.Errorf("the agent's event stream is not NDJSON: %w", err)
		}
		if ev.Type == EventPing {
			return false, nil
		}
		err := fn(ev)
		return err != nil, err
	}, func(err error) error { return fmt.Errorf("the agent's event stream ended: %w", err) })
}

// path builds an API path from its parts, each escaped as one segment.
func path(parts ...string) string {
	p := Prefix
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// call is Do for a call whose result is a T.
func call[T any](ctx context.Context, c *Client, method, p string, in any) (T, error) {
	var out T
	err := c.Do(ctx, method, p, in, &out)
	return out, err
}

// The calls, one method each (docs/api.md documents them).

func (c *Client) Agent(ctx context.Context) (AgentInfo, error) {
	return call[AgentInfo](ctx, c, http.MethodGet, path("agent"), nil)
}

func (c *Client) Unlock(ctx context.Context, passphrase string) error {
	return c.Do(ctx, http.MethodPost, path("unlock"), UnlockRequest{passphrase}, nil)
}

func (c *Client) Init(ctx context.Context, r InitRequest) (InitResult, error) {
	return call[InitResult](ctx, c, http.MethodPost, path("init"), r)
}

func (c *Client) Restore(ctx context.Context, r RestoreRequest) (RestoreResult, error) {
	return call[RestoreResult](ctx, c, http.MethodPost, path("restore"), r)
}

func (c *Client) Recover(ctx context.Context, r RecoverRequest) (RecoverResult, error) {
	return call[RecoverResult](ctx, c, http.MethodPost, path("recover"), r)
}

// Devices is GET /v1/devices.
func (c *Client) Devices(ctx context.Context) (Devices, error) {
	return call[Devices](ctx, c, http.MethodGet, path("devices"), nil)
}

// DevicesSeen is POST /v1/devices/seen.
func (c *Client) DevicesSeen(ctx context.Context, r DevicesSeenRequest) error {
	return c.Do(ctx, http.MethodPost, path("devices", "seen"), r, nil)
}

// HubsSeen is POST /v1/hubs/seen.
func (c *Client) HubsSeen(ctx context.Context, r HubsSeenRequest) error {
	return c.Do(ctx, http.MethodPost, path("hubs", "seen"), r, nil)
}

// RemoveDevice is POST /v1/devices/remove.
func (c *Client) RemoveDevice(ctx context.Context, r DeviceRemoveRequest) (DeviceChange, error) {
	return call[DeviceChange](ctx, c, http.MethodPost, path("devices", "remove"), r)
}

// DeviceOffer is POST /v1/devices/offer.
func (c *Client) DeviceOffer(ctx context.Context, r LinkCodeRequest) (DeviceOffer, error) {
	return call[DeviceOffer](ctx, c, http.MethodPost, path("devices", "offer"), r)
}

// AddDevice is POST /v1/devices/add.
func (c *Client) AddDevice(ctx context.Context, r LinkCodeRequest) (DeviceChange, error) {
	return call[DeviceChange](ctx, c, http.MethodPost, path("devices", "add"), r)
}

// Link is POST /v1/link.
func (c *Client) Link(ctx context.Context, r LinkRequest) (DeviceOffer, error) {
	return call[DeviceOffer](ctx, c, http.MethodPost, path("link"), r)
}

// LinkWait is POST /v1/link/wait.
func (c *Client) LinkWait(ctx context.Context, r LinkAcceptRequest) (DeviceOffer, error) {
	return call[DeviceOffer](ctx, c, http.MethodPost, path("link", "wait"), r)
}

// LinkAccept is POST /v1/link/accept.
func (c *Client) LinkAccept(ctx context.Context, r LinkAcceptRequest) (Linked, error) {
	return call[Linked](ctx, c, http.MethodPost, path("link", "accept"), r)
}

func (c *Client) Register(ctx context.Context, r RegisterRequest) (RegisterResult, error) {
	return call[RegisterResult](ctx, c, http.MethodPost, path("register"), r)
}

func (c *Client) ChangePassphrase(ctx context.Context, r PassphraseRequest) error {
	return c.Do(ctx, http.MethodPost, path("passphrase"), r, nil)
}

func (c *Client) Whois(ctx context.Context, name string) (Whois, error) {
	return call[Whois](ctx, c, http.MethodGet, path("names", name), nil)
}

func (c *Client) Contacts(ctx context.Context) (Contacts, error) {
	return call[Contacts](ctx, c, http.MethodGet, path("contacts"), nil)
}

// ContactNames lists the contacts without checking their keys.
func (c *Client) ContactNames(ctx context.Context) ([]string, error) {
	var out Contacts
	err := c.Do(ctx, http.MethodGet, path("contacts")+"?check=0", nil, &out)
	names := make([]string, 0, len(out.Contacts))
	for _, ct := range out.Contacts {
		names = append(names, ct.Name)
	}
	return names, err
}

// ContactList lists the contacts without checking their keys.
func (c *Client) ContactList(ctx context.Context) (Contacts, error) {
	return call[Contacts](ctx, c, http.MethodGet, path("contacts")+"?check=0", nil)
}

func (c *Client) AddContact(ctx context.Context, r AddContactRequest) (AddContactResult, error) {
	return call[AddContactResult](ctx, c, http.MethodPost, path("contacts"), r)
}

func (c *Client) Answer(ctx context.Context, name string, accept bool) error {
	verb := "decline"
	if accept {
		verb = "accept"
	}
	return c.Do(ctx, http.MethodPost, path("contacts", name, verb), nil, nil)
}

func (c *Client) ConfirmKeys(ctx context.Context, name string) (ConfirmResult, error) {
	return call[ConfirmResult](ctx, c, http.MethodPost, path("contacts", name, "confirm"), nil)
}

func (c *Client) Reset(ctx context.Context, name, greeting string) error {
	return c.Do(ctx, http.MethodPost, path("contacts", name, "reset"), GreetingRequest{greeting}, nil)
}

func (c *Client) Safety(ctx context.Context, name string) (Safety, error) {
	return call[Safety](ctx, c, http.MethodGet, path("contacts", name, "safety"), nil)
}

func (c *Client) Verify(ctx context.Context, name, number string) error {
	return c.Do(ctx, http.MethodPost, path("contacts", name, "verify"), VerifyRequest{number}, nil)
}

func (c *Client) Unverify(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodPost, path("contacts", name, "unverify"), nil, nil)
}

func (c *Client) RemoveContact(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, path("contacts", name), nil, nil)
}

// ContactProfile is a contact's profile; fetch reads their hubs first.
func (c *Client) ContactProfile(ctx context.Context, name string, fetch bool) (Profile, error) {
	return call[Profile](ctx, c, http.MethodGet, path("contacts", name, "profile")+"?fetch="+bit(fetch), nil)
}

func (c *Client) Profile(ctx context.Context) (Profile, error) {
	return call[Profile](ctx, c, http.MethodGet, path("profile"), nil)
}

func (c *Client) SetProfile(ctx context.Context, u ProfileUpdate) error {
	return c.Do(ctx, http.MethodPut, path("profile"), u, nil)
}

func (c *Client) Requests(ctx context.Context) (Requests, error) {
	return call[Requests](ctx, c, http.MethodGet, path("requests"), nil)
}

func (c *Client) ClearRequests(ctx context.Context) (Cleared, error) {
	return call[Cleared](ctx, c, http.MethodPost, path("requests", "clear"), nil)
}

// Messages is conversation conv; fetch reads what is new from the hubs
// first; last > 0 keeps the newest last.
func (c *Client) Messages(ctx context.Context, conv string, fetch bool, last int) (Conversation, error) {
	q := "?fetch=" + bit(fetch)
	if last > 0 {
		q += "&last=" + strconv.Itoa(last)
	}
	return call[Conversation](ctx, c, http.MethodGet, path("conversations", conv, "messages")+q, nil)
}

func (c *Client) MarkRead(ctx context.Context, conv string) error {
	return c.Do(ctx, http.MethodPost, path("conversations", conv, "read"), nil, nil)
}

func (c *Client) Send(ctx context.Context, conv string, r SendRequest) (Sent, error) {
	return call[Sent](ctx, c, http.MethodPost, path("conversations", conv, "messages"), r)
}

func (c *Client) React(ctx context.Context, conv string, r ReactRequest) error {
	return c.Do(ctx, http.MethodPost, path("conversations", conv, "react"), r, nil)
}

func (c *Client) Edit(ctx context.Context, conv string, r EditRequest) error {
	return c.Do(ctx, http.MethodPost, path("conversations", conv, "edit"), r, nil)
}

func (c *Client) Delete(ctx context.Context, conv string, r DeleteRequest) error {
	return c.Do(ctx, http.MethodPost, path("conversations", conv, "delete"), r, nil)
}

// Timer is the conversation's disappearing-message timer (0 off).
func (c *Client) Timer(ctx context.Context, conv string) (TimerResult, error) {
	return call[TimerResult](ctx, c, http.MethodGet, path("conversations", conv, "timer"), nil)
}

func (c *Client) SetTimer(ctx context.Context, conv string, seconds int64) (TimerResult, error) {
	return call[TimerResult](ctx, c, http.MethodPut, path("conversations", conv, "timer"), TimerRequest{seconds})
}

func (c *Client) SendFile(ctx context.Context, conv string, r SendFileRequest) (Sent, error) {
	return call[Sent](ctx, c, http.MethodPost, path("conversations", conv, "files"), r)
}

func (c *Client) GetFile(ctx context.Context, conv string, r GetFileRequest) (Saved, error) {
	return call[Saved](ctx, c, http.MethodPost, path("conversations", conv, "files", "get"), r)
}

func (c *Client) History(ctx context.Context) (History, error) {
	return call[History](ctx, c, http.MethodGet, path("history"), nil)
}

func (c *Client) Search(ctx context.Context, words, in string) (SearchResult, error) {
	q := "?q=" + url.QueryEscape(words)
	if in != "" {
		q += "&in=" + url.QueryEscape(in)
	}
	return call[SearchResult](ctx, c, http.MethodGet, path("search")+q, nil)
}

// Groups lists the groups; sync brings them up to date first.
func (c *Client) Groups(ctx context.Context, sync bool) (Groups, error) {
	return call[Groups](ctx, c, http.MethodGet, path("groups")+"?sync="+bit(sync), nil)
}

func (c *Client) Group(ctx context.Context, group string) (GroupDetail, error) {
	return call[GroupDetail](ctx, c, http.MethodGet, path("groups", group), nil)
}

func (c *Client) CreateGroup(ctx context.Context, r CreateGroupRequest) (Created, error) {
	return call[Created](ctx, c, http.MethodPost, path("groups"), r)
}

// GroupAction is invite, remove, rename, hand-over (with name) or leave.
func (c *Client) GroupAction(ctx context.Context, group, action, name string) error {
	var in any
	if action != "leave" {
		in = NameRequest{name}
	}
	return c.Do(ctx, http.MethodPost, path("groups", group, action), in, nil)
}

func (c *Client) Block(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodPost, path("blocked"), NameRequest{name}, nil)
}

func (c *Client) Unblock(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, path("blocked", name), nil, nil)
}

func (c *Client) Settings(ctx context.Context) (Settings, error) {
	return call[Settings](ctx, c, http.MethodGet, path("settings"), nil)
}

func (c *Client) SetReadReceipts(ctx context.Context, on bool) error {
	return c.Do(ctx, http.MethodPut, path("settings", "read-receipts"), OnOff{on}, nil)
}

func (c *Client) SetNotifications(ctx context.Context, on bool) error {
	return c.Do(ctx, http.MethodPut, path("settings", "notifications"), OnOff{on}, nil)
}

func (c *Client) SetNode(ctx context.Context, r NodeRequest) (NodeResult, error) {
	return call[NodeResult](ctx, c, http.MethodPut, path("settings", "node"), r)
}

func (c *Client) SetTrust(ctx context.Context, r TrustRequest) (TrustResult, error) {
	return call[TrustResult](ctx, c, http.MethodPut, path("settings", "trust"), r)
}

func (c *Client) SetBackup(ctx context.Context, r BackupRequest) error {
	return c.Do(ctx, http.MethodPut, path("backup"), r, nil)
}

func (c *Client) Name(ctx context.Context) (NameInfo, error) {
	return call[NameInfo](ctx, c, http.MethodGet, path("name"), nil)
}

func (c *Client) Renew(ctx context.Context) (Renewed, error) {
	return call[Renewed](ctx, c, http.MethodPost, path("name", "renew"), nil)
}

func (c *Client) SetHubs(ctx context.Context, r HubsRequest) (HubsResult, error) {
	return call[HubsResult](ctx, c, http.MethodPut, path("name", "hubs"), r)
}

func (c *Client) Revoke(ctx context.Context, r RevokeRequest) (Height, error) {
	return call[Height](ctx, c, http.MethodPost, path("name", "revoke"), r)
}

func (c *Client) ForgetOwner(ctx context.Context, r ForgetOwnerRequest) (ForgetOwnerResult, error) {
	return call[ForgetOwnerResult](ctx, c, http.MethodPost, path("name", "forget-owner"), r)
}

func (c *Client) Transfer(ctx context.Context, r TransferRequest) (Height, error) {
	return call[Height](ctx, c, http.MethodPost, path("name", "transfer"), r)
}

func (c *Client) Status(ctx context.Context) (Status, error) {
	return call[Status](ctx, c, http.MethodGet, path("status"), nil)
}

func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
