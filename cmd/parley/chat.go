package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/mattn/go-runewidth"
	"github.com/spf13/cobra"

	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/cli"
	"github.com/parley-im/parley/internal/screen"
)

// chatBackend is what the chat UI needs of the agent: its API
// (*api.Client), or a fake in tests.
type chatBackend interface {
	ContactList(ctx context.Context) (api.Contacts, error)
	Groups(ctx context.Context, sync bool) (api.Groups, error)
	History(ctx context.Context) (api.History, error)
	ContactProfile(ctx context.Context, name string, fetch bool) (api.Profile, error)
	Send(ctx context.Context, conv string, r api.SendRequest) (api.Sent, error)
	React(ctx context.Context, conv string, r api.ReactRequest) error
	Edit(ctx context.Context, conv string, r api.EditRequest) error
	Delete(ctx context.Context, conv string, r api.DeleteRequest) error
	SetTimer(ctx context.Context, conv string, seconds int64) (api.TimerResult, error)
	ConfirmKeys(ctx context.Context, name string) (api.ConfirmResult, error)
	MarkRead(ctx context.Context, conv string) error
	Block(ctx context.Context, name string) error
	Unblock(ctx context.Context, name string) error
	Verify(ctx context.Context, name, number string) error
	Answer(ctx context.Context, from string, accept bool) error
	SendFile(ctx context.Context, conv string, r api.SendFileRequest) (api.Sent, error)
	GetFile(ctx context.Context, conv string, r api.GetFileRequest) (api.Saved, error)
	Requests(ctx context.Context) (api.Requests, error)
}

var _ chatBackend = (*api.Client)(nil)

// chatHelp lists the commands the input line takes.
const chatHelp = "/reply REF TEXT · /react REF EMOJI · /edit N TEXT · /delete N · /timer 1h|0 · /file PATH · /get REF · /block · /unblock · /confirm · /verify SAFETY-NUMBER · /accept [NAME] · /decline [NAME] · PgUp/PgDn or the wheel scroll"

// Messages the UI receives from outside its own input.
type (
	// eventMsg is an event of the agent's stream.
	eventMsg  api.Event
	errMsg    struct{ err error }
	statusMsg string
	sentMsg   struct {
		to     string
		queued *api.Queued
		err    error
	}
	// requestsMsg: the contact requests waiting in the user's inboxes.
	requestsMsg struct {
		from []string
		err  error
	}
)

type chatModel struct {
	ctx      context.Context
	be       chatBackend
	me       string
	contacts []string          // the list: contacts' names, "#" and each group's ID, "?" and each pending request's sender
	requests []string          // who asked to become a contact (sorted)
	blocked  map[string]bool   // contacts the user blocks
	labels   map[string]string // what the list shows for a conversation
	names    map[string]string // contacts' display names, from their profiles
	selected int
	unread   map[string]int
	history  []api.Message
	input    textinput.Model
	status   string
	warning  string // a key-change warning for the selected contact
	incoming <-chan tea.Msg
	width    int
	height   int
	scroll   int   // lines the conversation is scrolled back from its end
	clock    clock // when now is, and the zone times are shown in
}

func newChatModel(ctx context.Context, me string, be chatBackend, incoming <-chan tea.Msg, start string) chatModel {
	in := textinput.New()
	in.Placeholder = "type a message; Enter sends; /help lists commands; Tab or ↑/↓ switch; Esc quits"
	in.Focus()
	in.CharLimit = 4000
	m := chatModel{ctx: ctx, be: be, me: me, unread: map[string]int{}, labels: map[string]string{}, names: map[string]string{},
		input: in, incoming: incoming, width: 100, height: 30}
	m.reload()
	m.refreshList()
	for _, c := range m.contacts {
		m.loadProfile(c)
	}
	m.refreshList()
	list, _ := be.ContactList(ctx)
	for _, ct := range list.Contacts {
		m.unread[ct.Name] = ct.Unread
	}
	for i, c := range m.contacts {
		if c == start || m.labels[c] == start {
			m.selected = i
		}
	}
	m.markRead()
	return m
}

// reload takes the history anew (edits, reactions, deletes, receipts and
// expiries change what it shows).
func (m *chatModel) reload() {
	if h, err := m.be.History(m.ctx); err == nil {
		m.history = h.Messages
	} else {
		m.status = m.errText(err)
	}
}

// markRead marks the open conversation read.
func (m *chatModel) markRead() {
	if cur := m.current(); cur != "" && !strings.HasPrefix(cur, "?") {
		delete(m.unread, cur)
		m.be.MarkRead(m.ctx, cur)
	}
}

// refreshList lists the contacts, the groups the user is in and the
// pending requests, and marks who is verified and who is blocked.
func (m *chatModel) refreshList() {
	cur := m.current()
	list, err := m.be.ContactList(m.ctx)
	if err != nil {
		m.status = m.errText(err)
	}
	m.contacts = m.contacts[:0]
	m.blocked = map[string]bool{}
	for _, ct := range list.Contacts {
		c := ct.Name
		m.contacts = append(m.contacts, c)
		m.blocked[c] = ct.Blocked
		m.labels[c] = c
		if ct.Verified {
			m.labels[c] += " ✓"
		}
		if ct.Blocked {
			m.labels[c] += " ⊘"
		}
		if n := m.names[c]; n != "" {
			m.labels[c] += " (" + n + ")"
		}
	}
	gs, _ := m.be.Groups(m.ctx, false)
	for _, g := range gs.Groups {
		if !g.Gone {
			m.contacts = append(m.contacts, "#"+g.ID)
			m.labels["#"+g.ID] = "#" + screen.Line(g.Name)
		}
	}
	for _, r := range m.requests {
		m.contacts = append(m.contacts, "?"+r)
		m.labels["?"+r] = "? " + r
	}
	m.selected = min(m.selected, max(0, len(m.contacts)-1))
	for i, c := range m.contacts {
		if c == cur {
			m.selected = i
		}
	}
}

// addRequest lists a pending request from name (once), unless name is a
// contact already.
func (m *chatModel) addRequest(name string) {
	if !slices.Contains(m.requests, name) && !slices.Contains(m.contacts, name) {
		m.requests = append(m.requests, name)
		slices.Sort(m.requests)
	}
	m.refreshList()
}

// fetchRequests reads the requests waiting in the user's inboxes.
func (m chatModel) fetchRequests() tea.Cmd {
	return func() tea.Msg {
		rs, err := m.be.Requests(m.ctx)
		var from []string
		for _, p := range rs.Requests {
			from = append(from, p.From)
		}
		return requestsMsg{from: from, err: err}
	}
}

// errText is how the chat shows an error: as parley presents it.
func (m chatModel) errText(err error) string {
	var ae *api.Error
	if errors.As(err, &ae) {
		if ae.Hint != "" {
			return ae.Message + " (" + ae.Hint + ")"
		}
		return ae.Message
	}
	return cli.Plain(err)
}

// loadProfile reads a contact's display name from its profile (at start,
// and when the contact shares a new profile key).
func (m *chatModel) loadProfile(name string) {
	if strings.HasPrefix(name, "#") || strings.HasPrefix(name, "?") {
		return
	}
	if p, err := m.be.ContactProfile(m.ctx, name, false); err == nil {
		m.names[name] = screen.Line(p.DisplayName)
	}
}

func (m chatModel) current() string {
	if len(m.contacts) == 0 {
		return ""
	}
	return m.contacts[m.selected]
}

func (m chatModel) waitIncoming() tea.Cmd {
	if m.incoming == nil {
		return nil
	}
	return func() tea.Msg { return <-m.incoming }
}

func (m chatModel) Init() tea.Cmd {
	return tea.Batch(textinput.Blink, m.waitIncoming(), m.fetchRequests())
}

// sendText sends a message (a reply, if reply is a label).
func (m chatModel) sendText(to, text, reply string) tea.Cmd {
	return func() tea.Msg {
		res, err := m.be.Send(m.ctx, to, api.SendRequest{Text: text, Reply: reply})
		return sentMsg{to: to, queued: res.Queued, err: err}
	}
}

// act runs a change to a message (react, edit, delete, timer).
func (m chatModel) act(to string, f func() error) tea.Cmd {
	return func() tea.Msg { return sentMsg{to: to, err: f()} }
}

// transfer sends a file (/file PATH) or saves one (/get REF) in the
// current directory.
func (m chatModel) transfer(to, verb, arg string) tea.Cmd {
	return func() tea.Msg {
		if verb == "/file" {
			path, err := abs(arg)
			if err != nil {
				return statusMsg(m.errText(err))
			}
			res, err := m.be.SendFile(m.ctx, to, api.SendFileRequest{Path: path})
			return sentMsg{to: to, queued: res.Queued, err: err}
		}
		label, err := parseRef(arg, m.me)
		if err != nil {
			return statusMsg(m.errText(err))
		}
		msg, ok := m.find(to, label)
		if !ok || msg.File == nil {
			return statusMsg(fmt.Sprintf("message %s shares no file", label))
		}
		dir, err := abs(".")
		if err != nil {
			return statusMsg(m.errText(err))
		}
		saved, err := m.be.GetFile(m.ctx, to, api.GetFileRequest{Ref: label, Dir: dir})
		if err != nil {
			return statusMsg(m.errText(err))
		}
		return statusMsg("saved " + filepath.Base(saved.Path) + " (SHA-256 checked)")
	}
}

// find is the message of conversation conv people refer to as label.
func (m chatModel) find(conv, label string) (api.Message, bool) {
	for i := len(m.history) - 1; i >= 0; i-- {
		if h := m.history[i]; h.Label == label && !h.Earlier && h.Conversation == conv {
			return h, true
		}
	}
	return api.Message{}, false
}

// parseRef reads a message's label, NAME/N, as 'parley read' shows it;
// a bare N is the user's own message N. It returns it as labels are
// written.
func parseRef(s, me string) (string, error) {
	by, n, ok := strings.Cut(s, "/")
	if !ok {
		by, n = me, s
	}
	if _, err := strconv.ParseUint(n, 10, 64); err != nil || by == "" {
		return "", cli.Usage(fmt.Errorf("%q is not a message reference (NAME/N, as 'parley read' shows them)", s))
	}
	return by + "/" + n, nil
}

// ownRef reads the label of one of the user's messages.
func ownRef(s, me string) (string, error) {
	label, err := parseRef(s, me)
	if by, _, _ := strings.Cut(label, "/"); err == nil && by != me {
		err = cli.Usage(fmt.Errorf("%s is %s's message: only its author can change it", label, by))
	}
	return label, err
}

// command runs an input line: a message, or a command on one.
func (m chatModel) command(to, line string) (tea.Cmd, error) {
	if !strings.HasPrefix(line, "/") {
		return m.sendText(to, line, ""), nil
	}
	verb, rest, _ := strings.Cut(line, " ")
	arg, text, _ := strings.Cut(rest, " ")
	switch verb {
	case "/reply", "/react", "/edit", "/delete":
		parse := parseRef
		if verb == "/edit" || verb == "/delete" {
			parse = ownRef
		}
		label, err := parse(arg, m.me)
		if err != nil {
			return nil, err
		}
		if _, ok := m.find(to, label); !ok {
			return nil, fmt.Errorf("no message %s in this conversation", label)
		}
		switch verb {
		case "/reply":
			return m.sendText(to, text, label), nil
		case "/react":
			return m.act(to, func() error { return m.be.React(m.ctx, to, api.ReactRequest{Ref: label, Emoji: text}) }), nil
		case "/edit":
			return m.act(to, func() error { return m.be.Edit(m.ctx, to, api.EditRequest{Ref: label, Text: text}) }), nil
		}
		return m.act(to, func() error { return m.be.Delete(m.ctx, to, api.DeleteRequest{Ref: label}) }), nil
	case "/timer":
		d, err := time.ParseDuration(arg)
		if err != nil || d < 0 || (d > 0 && d < time.Second) {
			return nil, fmt.Errorf("/timer takes a duration such as 30s, 1h, or 0 for off")
		}
		return m.act(to, func() error {
			_, err := m.be.SetTimer(m.ctx, to, int64(d/time.Second))
			return err
		}), nil
	}
	return nil, fmt.Errorf("unknown command %s; %s", verb, chatHelp)
}

func (m chatModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tea.MouseMsg:
		switch msg.Button {
		case tea.MouseButtonWheelUp:
			m.scrollBy(3)
		case tea.MouseButtonWheelDown:
			m.scrollBy(-3)
		}
		return m, nil
	case tea.KeyMsg:
		switch msg.Type {
		case tea.KeyEsc, tea.KeyCtrlC:
			return m, tea.Quit
		case tea.KeyPgUp:
			m.scrollBy(m.page())
			return m, nil
		case tea.KeyPgDown:
			m.scrollBy(-m.page())
			return m, nil
		case tea.KeyTab, tea.KeyDown:
			m.move(1)
			return m, nil
		case tea.KeyShiftTab, tea.KeyUp:
			m.move(-1)
			return m, nil
		case tea.KeyEnter:
			text := strings.TrimSpace(m.input.Value())
			to := m.current()
			if text == "" || to == "" {
				return m, nil
			}
			m.input.SetValue("")
			m.scroll = 0
			if verb, arg, _ := strings.Cut(text, " "); verb == "/accept" || verb == "/decline" {
				if arg == "" && strings.HasPrefix(to, "?") {
					arg = to[1:] // the request open in the list
				}
				if err := m.be.Answer(m.ctx, arg, verb == "/accept"); err != nil {
					m.status = verb[1:] + ": " + m.errText(err)
				} else {
					m.status = strings.TrimSuffix(verb[1:], "e") + "ed " + arg
					m.requests = slices.DeleteFunc(m.requests, func(r string) bool { return r == arg })
					m.refreshList()
				}
				return m, nil
			}
			if strings.HasPrefix(to, "?") {
				m.status = fmt.Sprintf("%s is not a contact yet: /accept or /decline their request", to[1:])
				return m, nil
			}
			switch text {
			case "/help":
				m.status = chatHelp
				return m, nil
			case "/block":
				if err := m.be.Block(m.ctx, to); err != nil {
					m.status = "block: " + m.errText(err)
				} else {
					m.status = "blocked " + to + " (/unblock to undo)"
					m.refreshList()
				}
				return m, nil
			case "/unblock":
				if err := m.be.Unblock(m.ctx, to); err != nil {
					m.status = "unblock: " + m.errText(err)
				} else {
					m.status = "unblocked " + to
					m.refreshList()
				}
				return m, nil
			}
			if verb, number, _ := strings.Cut(text, " "); verb == "/verify" {
				if err := m.be.Verify(m.ctx, to, number); err != nil {
					m.status = "verify: " + m.errText(err)
				} else {
					m.status = to + " is verified: the safety number matches"
					m.refreshList()
				}
				return m, nil
			}
			if text == "/confirm" {
				res, err := m.be.ConfirmKeys(m.ctx, to)
				switch {
				case err != nil:
					m.status = "confirm: " + m.errText(err)
				case res.Unchanged:
					m.warning, m.status = "", fmt.Sprintf("%s's keys on the chain are the ones you confirmed: nothing to do", to)
				default:
					m.warning, m.status = "", fmt.Sprintf("confirmed %s's new keys (safety number %s); a new request went to %s: the conversation starts over when they accept", to, res.Safety, to)
				}
				return m, nil
			}
			if verb, arg, _ := strings.Cut(text, " "); verb == "/file" || verb == "/get" {
				m.status = "transferring " + arg + "…"
				return m, m.transfer(to, verb, arg)
			}
			cmd, err := m.command(to, text)
			if err != nil {
				m.status = m.errText(err)
				return m, nil
			}
			m.status = "sending…"
			return m, cmd
		}
	case sentMsg:
		var ae *api.Error
		switch {
		case errors.As(msg.err, &ae) && ae.KeyChange != nil && (ae.KeyChange.Revoked || ae.KeyChange.Free):
			m.warning = "⚠ " + ae.KeyChange.Message
			m.status = "not sent"
		case errors.As(msg.err, &ae) && ae.KeyChange != nil:
			kc := ae.KeyChange
			m.warning = fmt.Sprintf("⚠ %s — new safety number %s. Check it with %s, then type /confirm.", kc.Message, kc.Safety, kc.Name)
			m.status = "not sent"
		case msg.err != nil:
			m.status = "not sent: " + m.errText(msg.err)
		case msg.queued != nil:
			m.status = "queued on this device: " + msg.queued.Why
			m.reload()
		default:
			m.status = ""
			m.reload()
		}
		return m, nil
	case eventMsg:
		return m.event(api.Event(msg))
	case errMsg:
		m.status = m.errText(msg.err)
		return m, m.waitIncoming()
	case requestsMsg:
		if msg.err != nil {
			m.status = "requests: " + m.errText(msg.err)
		}
		for _, r := range msg.from {
			m.addRequest(r)
		}
		return m, nil
	case statusMsg:
		m.status = string(msg)
		return m, m.waitIncoming()
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
}

// event takes an event of the agent's stream in.
func (m chatModel) event(ev api.Event) (tea.Model, tea.Cmd) {
	switch ev.Type {
	case api.EventRequest:
		r := ev.Request
		m.addRequest(r.From)
		m.status = fmt.Sprintf("contact request from %s (signature checked): /accept %s or /decline %s", r.From, r.From, r.From)
		if r.Greeting != "" {
			m.status = fmt.Sprintf("contact request from %s (signature checked): “%s” — /accept %s or /decline %s", r.From, screen.Line(r.Greeting), r.From, r.From)
		}
	case api.EventReceipt, api.EventExpired:
		m.reload()
	case api.EventMessage:
		msg := ev.Message
		m.reload() // edits, reactions and deletes change earlier messages
		if msg.Kind == api.KindProfile {
			m.loadProfile(msg.From)
		}
		m.refreshList() // a group may have come
		if conv := msg.Conversation; conv != m.current() {
			if msg.Kind == api.KindText {
				m.unread[conv]++
			}
		} else {
			m.markRead()
		}
	case api.EventKeyChange:
		kc := ev.KeyChange
		if kc.Name == m.current() {
			m.warning = "⚠ " + kc.Message + " — " + kc.Hint
		} else {
			m.status = kc.Message
		}
	case api.EventWarning:
		if ev.Error != nil {
			m.status = m.errText(ev.Error)
		}
	case api.EventHub, api.EventChain:
		if ev.Up != nil && !*ev.Up && ev.Error != nil {
			m.status = m.errText(ev.Error)
		} else if ev.Up != nil && *ev.Up {
			m.status = ""
		}
	}
	return m, m.waitIncoming()
}

func (m *chatModel) move(d int) {
	if len(m.contacts) == 0 {
		return
	}
	m.selected = (m.selected + d + len(m.contacts)) % len(m.contacts)
	m.markRead()
	m.warning, m.scroll = "", 0
}

// page is how many lines of a conversation the window shows.
func (m chatModel) page() int { return max(1, m.height-6) }

// scrollBy scrolls the conversation n lines back (n < 0: forward), never
// past its start (its first line shown above the line that says what
// follows) or its end.
func (m *chatModel) scrollBy(n int) {
	m.scroll = max(0, min(m.scroll+n, len(m.conversationLines())-(m.page()-1)))
}

// paneWidth is the width of the conversation's pane.
func (m chatModel) paneWidth() int { return max(20, m.width-listWidth-2) }

// conversationLines renders the open conversation as the lines the pane
// shows: each message wrapped to the pane, its later lines (its own and
// the wrapped ones) indented under its text.
func (m chatModel) conversationLines() []string {
	cur := m.current()
	if r, ok := strings.CutPrefix(cur, "?"); ok {
		return wrap(screen.Sprintf("%s asks to become your contact (the signature is checked against the chain): /accept to take it, /decline to refuse", r).String(),
			m.paneWidth(), 2)
	}
	var lines []string
	for _, msg := range m.history {
		if cur == "" || msg.Conversation != cur {
			continue
		}
		state := ""
		if msg.From == m.me && !strings.HasPrefix(cur, "#") {
			state = msg.State
		}
		indent := runewidth.StringWidth(messageHeader(msg, m.clock).String())
		for _, l := range strings.Split(formatMessage(msg, state, m.clock).String(), "\n") {
			lines = append(lines, wrap(l, m.paneWidth(), indent)...)
		}
	}
	return lines
}

// wrap cuts line into lines of at most width columns, at a space where
// it can; each after the first begins with indent spaces (fewer if the
// indent would leave too little room), so none begins at the margin.
func wrap(line string, width, indent int) []string {
	indent = min(indent, width/2)
	var out []string
	for runewidth.StringWidth(line) > width {
		cut, col, space := 0, 0, -1
		for i, r := range line {
			w := runewidth.RuneWidth(r)
			if col+w > width {
				if r == ' ' {
					space = i // the line ends just before a space
				}
				break
			}
			if r == ' ' && col > indent {
				space = i
			}
			col += w
			cut = i + len(string(r))
		}
		if space > 0 {
			cut = space
		}
		out = append(out, strings.TrimRight(line[:cut], " "))
		line = strings.Repeat(" ", indent) + strings.TrimLeft(line[cut:], " ")
	}
	return append(out, line)
}

// listWidth is the width of the list of conversations.
const listWidth = 22

var (
	titleStyle    = lipgloss.NewStyle().Bold(true)
	selectedStyle = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("12"))
	dimStyle      = lipgloss.NewStyle().Foreground(lipgloss.Color("8"))
	warnStyle     = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("9"))
)

func (m chatModel) View() string {
	var left strings.Builder
	left.WriteString(titleStyle.Render("conversations") + "\n")
	if len(m.contacts) == 0 {
		left.WriteString(dimStyle.Render("none yet:\nparley contacts add NAME") + "\n")
	}
	for i, c := range m.contacts {
		count := ""
		if n := m.unread[c]; n > 0 {
			count = fmt.Sprintf(" (%d)", n)
		}
		line := runewidth.Truncate(screen.Line(m.labels[c]), listWidth-2-runewidth.StringWidth(count), "…") + count
		if i == m.selected {
			line = selectedStyle.Render("▸ " + line)
		} else {
			line = "  " + line
		}
		left.WriteString(line + "\n")
	}
	var right strings.Builder
	cur := m.current()
	title := screen.Sprintf("%s ↔ %s", m.me, m.labels[cur]).String()
	if m.blocked[cur] {
		title += " — blocked: nothing reaches you from them (/unblock)"
	}
	right.WriteString(titleStyle.Render(runewidth.Truncate(title, m.paneWidth(), "…")) + "\n")
	// The page's last lines, or earlier ones when scrolled back; a line at
	// the top (bottom) says how many are out of sight above (below).
	lines := m.conversationLines()
	later := m.scroll > 0
	avail := m.page()
	if later {
		avail--
	}
	end := max(0, len(lines)-m.scroll)
	start := max(0, end-avail)
	var shown []string
	if start > 0 {
		start++
		shown = append(shown, dimStyle.Render(fmt.Sprintf("↑ %d earlier lines (PgUp)", start)))
	}
	shown = append(shown, lines[start:end]...)
	if later {
		shown = append(shown, dimStyle.Render(fmt.Sprintf("↓ %d later lines (PgDn)", len(lines)-end)))
	}
	right.WriteString(strings.Join(shown, "\n"))
	body := lipgloss.JoinHorizontal(lipgloss.Top,
		lipgloss.NewStyle().Width(listWidth).Render(left.String()),
		lipgloss.NewStyle().Width(m.paneWidth()).Render(right.String()))
	out := body + "\n"
	if m.warning != "" {
		out += warnStyle.Render(screen.Line(m.warning)) + "\n"
	}
	if m.status != "" {
		out += dimStyle.Render(screen.Line(m.status)) + "\n"
	}
	return out + m.input.View() + "\n"
}

func chatCmd(h *home) *cobra.Command {
	return &cobra.Command{
		Use:   "chat [NAME]",
		Short: "Open the terminal chat",
		Long: "chat shows your contacts (✓ verified, ⊘ blocked), groups and pending contact requests with unread\n" +
			"counts, and a conversation, wrapped to the window (PgUp/PgDn or the mouse wheel scroll back); it\n" +
			"receives messages live through the hubs' change notifications and warns when a contact's keys change\n" +
			"on the chain. NAME (a contact, or a group's name or ID) opens that conversation; any other is an error.\n" +
			"It runs the home's agent (unless one runs already: then it is its front-end), so every other parley\n" +
			"command on the home works while it is open.",
		Example: "  parley chat\n  parley chat bob",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			c, err := h.connect(ctx, api.ModeDaemon, false)
			if err != nil {
				return err
			}
			info, err := h.start(ctx, c)
			if err != nil {
				return err
			}
			start := ""
			if len(args) == 1 {
				if start, err = chatStart(ctx, c, args[0]); err != nil {
					return err
				}
			}
			incoming := make(chan tea.Msg, 64)
			// What the calls note shows in the status line, never on the
			// screen under the chat.
			c.OnNote = func(n *api.Note) {
				select {
				case incoming <- statusMsg(n.Message):
				default:
				}
			}
			go func() {
				err := c.Events(ctx, info.Cursor, func(ev api.Event) error {
					select {
					case incoming <- eventMsg(ev):
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				})
				if ctx.Err() == nil {
					incoming <- errMsg{err}
				}
			}()
			model := newChatModel(ctx, info.Name, c, incoming, start)
			model.clock = h.clock
			_, err = tea.NewProgram(model, tea.WithAltScreen(), tea.WithMouseCellMotion(), tea.WithContext(ctx)).Run()
			if errors.Is(err, tea.ErrProgramKilled) {
				return nil
			}
			return err
		},
	}
}

// chatStart finds the conversation NAME names: a contact, or a group by
// its name or ID; anything else is an error (not_contact), never a new
// conversation.
func chatStart(ctx context.Context, be chatBackend, name string) (string, error) {
	list, err := be.ContactList(ctx)
	if err != nil {
		return "", err
	}
	for _, ct := range list.Contacts {
		if ct.Name == name {
			return name, nil
		}
	}
	gs, err := be.Groups(ctx, false)
	if err != nil {
		return "", err
	}
	var found []string
	for _, g := range gs.Groups {
		if !g.Gone && (g.ID == strings.TrimPrefix(name, "#") || g.Name == name) {
			found = append(found, "#"+g.ID)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", &api.Error{Code: api.CodeNotContact, Message: fmt.Sprintf("not a contact: %s (no contact or group of yours has that name)", name),
			Hint: "'parley contacts add NAME' asks them; 'parley requests' lists who asked you"}
	}
	return "", fmt.Errorf("%d groups are named %q: give the group's ID ('parley group list')", len(found), name)
}
