package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/mattn/go-runewidth"
	"github.com/spf13/cobra"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/internal/cli"
	"github.com/parley-im/parley/internal/screen"
)

// chatBackend is what the chat UI needs of the client.
type chatBackend interface {
	Contacts() []string
	Groups() []client.Group
	History() []client.Message
	ContactProfile(ctx context.Context, name string) (*wire.Profile, error)
	SendEvent(ctx context.Context, name string, e *wire.Event) (client.Message, error)
	ConfirmKeys(ctx context.Context, name string) (*bns.Record, error)
	MarkRead(ctx context.Context, name string) error
	Unread(name string) int
	Verified(name string) bool
	Block(ctx context.Context, name string) error
	Unblock(ctx context.Context, name string) error
	Verify(ctx context.Context, name, number string) error
	SafetyNumber(rec *bns.Record) string
	Answer(ctx context.Context, from string, accept bool) error
	ReceiptFrom(ctx context.Context, name string) (wire.Receipt, error)
	StateOf(name string, seq uint64, r wire.Receipt) string
	SendFile(ctx context.Context, name, path, caption string, progress client.Progress) (client.Message, error)
	GetFile(ctx context.Context, name string, ref wire.Ref, dest string, progress client.Progress) error
	Blocked() []string
	Requests(ctx context.Context) ([]client.Pending, map[string]error, error)
}

// chatHelp lists the commands the input line takes.
const chatHelp = "/reply REF TEXT · /react REF EMOJI · /edit N TEXT · /delete N · /timer 1h|0 · /file PATH · /get REF · /block · /unblock · /confirm · /verify SAFETY-NUMBER · /accept [NAME] · /decline [NAME] · PgUp/PgDn or the wheel scroll"

// Messages the UI receives from outside its own input.
type (
	incomingMsg client.Message
	errMsg      struct{ err error }
	statusMsg   string
	receiptMsg  struct {
		name string
		r    wire.Receipt
	}
	sentMsg struct {
		to  string
		err error
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
	receipts map[string]wire.Receipt
	selected int
	unread   map[string]int
	history  []client.Message
	input    textinput.Model
	status   string
	warning  string // a key-change warning for the selected contact
	incoming <-chan tea.Msg
	width    int
	height   int
	scroll   int // lines the conversation is scrolled back from its end
	// explain presents an error as parley does (nil: its plain message).
	explain func(error) (what, hint string)
	clock   clock // when now is, and the zone times are shown in
}

func newChatModel(ctx context.Context, me string, be chatBackend, incoming <-chan tea.Msg, start string) chatModel {
	in := textinput.New()
	in.Placeholder = "type a message; Enter sends; /help lists commands; Tab or ↑/↓ switch; Esc quits"
	in.Focus()
	in.CharLimit = 4000
	m := chatModel{ctx: ctx, be: be, me: me, unread: map[string]int{}, labels: map[string]string{}, names: map[string]string{}, receipts: map[string]wire.Receipt{}, history: be.History(),
		input: in, incoming: incoming, width: 100, height: 30}
	m.refreshList()
	for _, c := range m.contacts {
		m.loadProfile(c)
	}
	m.refreshList()
	for i, c := range m.contacts {
		if c == start || m.labels[c] == start {
			m.selected = i
		}
		m.unread[c] = be.Unread(c)
	}
	m.markRead()
	return m
}

// markRead marks the open conversation read.
func (m *chatModel) markRead() {
	if cur := m.current(); cur != "" {
		delete(m.unread, cur)
		m.be.MarkRead(m.ctx, cur)
	}
}

// refreshList lists the contacts, the groups the user is in and the
// pending requests, and marks who is blocked.
func (m *chatModel) refreshList() {
	cur := m.current()
	m.contacts = m.be.Contacts()
	m.blocked = map[string]bool{}
	for _, b := range m.be.Blocked() {
		m.blocked[b] = true
	}
	for _, c := range m.contacts {
		m.labels[c] = c
		if m.be.Verified(c) {
			m.labels[c] += " ✓"
		}
		if m.blocked[c] {
			m.labels[c] += " ⊘"
		}
		if n := m.names[c]; n != "" {
			m.labels[c] += " (" + n + ")"
		}
	}
	for _, g := range m.be.Groups() {
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
	if !slices.Contains(m.requests, name) && !slices.Contains(m.be.Contacts(), name) {
		m.requests = append(m.requests, name)
		slices.Sort(m.requests)
	}
	m.refreshList()
}

// fetchRequests reads the requests waiting in the user's inboxes.
func (m chatModel) fetchRequests() tea.Cmd {
	return func() tea.Msg {
		pending, _, err := m.be.Requests(m.ctx)
		var from []string
		for _, p := range pending {
			from = append(from, p.From)
		}
		return requestsMsg{from: from, err: err}
	}
}

// errText is how the chat shows an error: as parley presents it.
func (m chatModel) errText(err error) string {
	if m.explain != nil {
		if what, hint := m.explain(err); what != "" {
			if hint != "" {
				what += " (" + hint + ")"
			}
			return what
		}
	}
	return cli.Plain(err)
}

// loadProfile reads a contact's display name from its profile (at start,
// and when the contact shares a new profile key).
func (m *chatModel) loadProfile(name string) {
	if strings.HasPrefix(name, "#") {
		return
	}
	if p, err := m.be.ContactProfile(m.ctx, name); err == nil {
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
	return tea.Batch(textinput.Blink, m.waitIncoming(), m.fetchReceipt(m.current()), m.fetchRequests())
}

// fetchReceipt reads what a contact says it has of the user's messages.
func (m chatModel) fetchReceipt(name string) tea.Cmd {
	if name == "" || strings.HasPrefix(name, "#") || strings.HasPrefix(name, "?") {
		return nil
	}
	return func() tea.Msg {
		r, err := m.be.ReceiptFrom(m.ctx, name)
		if err != nil {
			return nil
		}
		return receiptMsg{name: name, r: r}
	}
}

func (m chatModel) send(to string, e *wire.Event) tea.Cmd {
	return func() tea.Msg {
		_, err := m.be.SendEvent(m.ctx, to, e)
		return sentMsg{to: to, err: err}
	}
}

// transfer sends a file (/file PATH) or saves one (/get REF) in the
// current directory.
func (m chatModel) transfer(to, verb, arg string) tea.Cmd {
	return func() tea.Msg {
		if verb == "/file" {
			_, err := m.be.SendFile(m.ctx, to, arg, "", nil)
			return sentMsg{to: to, err: err}
		}
		label, err := parseRef(arg, m.me)
		if err != nil {
			return statusMsg(m.errText(err))
		}
		if msg, ok := client.FindLabel(m.history, m.me, to, label); ok && msg.File != nil {
			dest := filepath.Base(msg.File.Name)
			if err := m.be.GetFile(m.ctx, to, msg.ID(), dest, nil); err != nil {
				return statusMsg(m.errText(err))
			}
			return statusMsg("saved " + dest + " (SHA-256 checked)")
		}
		return statusMsg(fmt.Sprintf("message %s shares no file", label))
	}
}

// command turns an input line into the event it sends.
func (m chatModel) command(line string) (*wire.Event, error) {
	if !strings.HasPrefix(line, "/") {
		return &wire.Event{Kind: wire.KindText, Text: line}, nil
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
		msg, ok := client.FindLabel(m.history, m.me, m.current(), label)
		if !ok {
			return nil, fmt.Errorf("no message %s in this conversation", label)
		}
		ref := msg.ID()
		switch verb {
		case "/reply":
			return &wire.Event{Kind: wire.KindText, Ref: &ref, Text: text}, nil
		case "/react":
			return &wire.Event{Kind: wire.KindReact, Ref: &ref, Emoji: text}, nil
		case "/edit":
			return &wire.Event{Kind: wire.KindEdit, Ref: &ref, Text: text}, nil
		}
		return &wire.Event{Kind: wire.KindDelete, Ref: &ref}, nil
	case "/timer":
		d, err := time.ParseDuration(arg)
		if err != nil || d < 0 || (d > 0 && d < time.Second) {
			return nil, fmt.Errorf("/timer takes a duration such as 30s, 1h, or 0 for off")
		}
		return &wire.Event{Kind: wire.KindTimer, TTL: int64(d / time.Second)}, nil
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
			return m, m.fetchReceipt(m.current())
		case tea.KeyShiftTab, tea.KeyUp:
			m.move(-1)
			return m, m.fetchReceipt(m.current())
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
				rec, err := m.be.ConfirmKeys(m.ctx, to)
				if err != nil {
					m.status = "confirm: " + m.errText(err)
				} else {
					m.warning, m.status = "", fmt.Sprintf("confirmed %s's keys (safety number %s); if they changed, a new request went to %s: the conversation starts over when they accept", to, m.be.SafetyNumber(rec), to)
				}
				return m, nil
			}
			if verb, arg, _ := strings.Cut(text, " "); verb == "/file" || verb == "/get" {
				m.status = "transferring " + arg + "…"
				return m, m.transfer(to, verb, arg)
			}
			e, err := m.command(text)
			if err != nil {
				m.status = m.errText(err)
				return m, nil
			}
			m.status = "sending…"
			return m, m.send(to, e)
		}
	case sentMsg:
		var kc *client.KeyChange
		switch {
		case errors.As(msg.err, &kc) && kc.Revoked():
			m.warning = "⚠ " + kc.Error()
			m.status = "not sent"
		case errors.As(msg.err, &kc):
			m.warning = fmt.Sprintf("⚠ %s — new safety number %s. Check it with %s, then type /confirm.", kc.Error(), kc.Safety, kc.Name)
			m.status = "not sent"
		case errors.Is(msg.err, client.ErrQueued):
			m.status = m.errText(msg.err)
			m.history = m.be.History()
		case msg.err != nil:
			m.status = "not sent: " + m.errText(msg.err)
		default:
			m.status = ""
			m.history = m.be.History()
		}
		return m, m.fetchReceipt(msg.to)
	case receiptMsg:
		m.receipts[msg.name] = msg.r
		return m, nil
	case incomingMsg:
		if msg.Kind == client.KindReceipt || msg.Kind == wire.KindReceipts {
			return m, tea.Batch(m.waitIncoming(), m.fetchReceipt(msg.From))
		}
		if msg.Kind == client.KindRequest {
			m.addRequest(msg.From)
			m.status = fmt.Sprintf("contact request from %s (signature checked): /accept %s or /decline %s", msg.From, msg.From, msg.From)
			if msg.Text != "" {
				m.status = fmt.Sprintf("contact request from %s (signature checked): “%s” — /accept %s or /decline %s", msg.From, screen.Line(msg.Text), msg.From, msg.From)
			}
			return m, m.waitIncoming()
		}
		m.history = m.be.History() // edits, reactions and deletes change earlier messages
		if msg.Kind == wire.KindProfile {
			m.loadProfile(msg.From)
		}
		m.refreshList() // a group may have come
		if conv := client.ConversationOf(m.me, client.Message(msg)); conv != m.current() {
			if msg.Kind == wire.KindText {
				m.unread[conv]++
			}
		} else {
			m.markRead()
		}
		return m, m.waitIncoming()
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
		return m, nil
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
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
		if cur == "" || client.ConversationOf(m.me, msg) != cur {
			continue
		}
		state := ""
		if msg.From == m.me && !strings.HasPrefix(cur, "#") {
			state = m.be.StateOf(cur, msg.Seq, m.receipts[cur])
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
			"on the chain. NAME (a contact, or a group's name or ID) opens that conversation; any other is an error.",
		Example: "  parley chat\n  parley chat bob",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			c, err := h.client(ctx)
			if err != nil {
				return err
			}
			start := ""
			if len(args) == 1 {
				if start, err = chatStart(c, args[0]); err != nil {
					return err
				}
			}
			incoming := make(chan tea.Msg, 64)
			go c.Watch(ctx, func(m client.Message) { incoming <- incomingMsg(m) }, func(err error) { incoming <- errMsg{err} })
			model := newChatModel(ctx, c.Name, c, incoming, start)
			model.explain, model.clock = h.explain, h.clock
			_, err = tea.NewProgram(model, tea.WithAltScreen(), tea.WithMouseCellMotion(), tea.WithContext(ctx)).Run()
			if errors.Is(err, tea.ErrProgramKilled) {
				return nil
			}
			return err
		},
	}
}

// chatStart finds the conversation NAME names: a contact, or a group by
// its name or ID; anything else is an error (client.ErrNotContact), never
// a new conversation.
func chatStart(be chatBackend, name string) (string, error) {
	if slices.Contains(be.Contacts(), name) {
		return name, nil
	}
	var found []string
	for _, g := range be.Groups() {
		if !g.Gone && (g.ID == strings.TrimPrefix(name, "#") || g.Name == name) {
			found = append(found, "#"+g.ID)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("%w: %s (no contact or group of yours has that name)", client.ErrNotContact, name)
	}
	return "", fmt.Errorf("%d groups are named %q: give the group's ID ('parley group list')", len(found), name)
}
