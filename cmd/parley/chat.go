package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
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
}

// chatHelp lists the commands the input line takes.
const chatHelp = "/reply REF TEXT · /react REF EMOJI · /edit N TEXT · /delete N · /timer 1h|0 · /file PATH · /get REF · /block · /unblock · /confirm · /verify SAFETY-NUMBER · /accept NAME · /decline NAME"

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
)

type chatModel struct {
	ctx      context.Context
	be       chatBackend
	me       string
	contacts []string          // conversations: contacts' names, then "#" and each group's ID
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

// refreshList lists the contacts and the groups the user is in.
func (m *chatModel) refreshList() {
	cur := m.current()
	m.contacts = m.be.Contacts()
	for _, c := range m.contacts {
		m.labels[c] = c
		if n := m.names[c]; n != "" {
			m.labels[c] = c + " (" + n + ")"
		}
		if m.be.Verified(c) {
			m.labels[c] += " ✓"
		}
	}
	for _, g := range m.be.Groups() {
		if !g.Gone {
			m.contacts = append(m.contacts, "#"+g.ID)
			m.labels["#"+g.ID] = "#" + screen.Line(g.Name)
		}
	}
	for i, c := range m.contacts {
		if c == cur {
			m.selected = i
		}
	}
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
	return tea.Batch(textinput.Blink, m.waitIncoming(), m.fetchReceipt(m.current()))
}

// fetchReceipt reads what a contact says it has of the user's messages.
func (m chatModel) fetchReceipt(name string) tea.Cmd {
	if name == "" || strings.HasPrefix(name, "#") {
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
		ref, err := parseRef(arg, m.me)
		if err != nil {
			return statusMsg(err.Error())
		}
		for _, msg := range m.history {
			if msg.ID() == ref && msg.File != nil {
				dest := filepath.Base(msg.File.Name)
				if err := m.be.GetFile(m.ctx, to, ref, dest, nil); err != nil {
					return statusMsg(err.Error())
				}
				return statusMsg("saved " + dest + " (SHA-256 checked)")
			}
		}
		return statusMsg(fmt.Sprintf("message %s shares no file", ref))
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
	case "/reply", "/react":
		ref, err := parseRef(arg, m.me)
		if err != nil {
			return nil, err
		}
		if verb == "/reply" {
			return &wire.Event{Kind: wire.KindText, Ref: &ref, Text: text}, nil
		}
		return &wire.Event{Kind: wire.KindReact, Ref: &ref, Emoji: text}, nil
	case "/edit", "/delete":
		seq, err := ownRef(arg, m.me)
		if err != nil {
			return nil, err
		}
		if verb == "/edit" {
			return &wire.Event{Kind: wire.KindEdit, Ref: &wire.Ref{By: m.me, Seq: seq}, Text: text}, nil
		}
		return &wire.Event{Kind: wire.KindDelete, Ref: &wire.Ref{By: m.me, Seq: seq}}, nil
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
	case tea.KeyMsg:
		switch msg.Type {
		case tea.KeyEsc, tea.KeyCtrlC:
			return m, tea.Quit
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
			switch text {
			case "/help":
				m.status = chatHelp
				return m, nil
			case "/block":
				if err := m.be.Block(m.ctx, to); err != nil {
					m.status = "block: " + err.Error()
				} else {
					m.status = "blocked " + to + " (/unblock to undo)"
				}
				return m, nil
			case "/unblock":
				if err := m.be.Unblock(m.ctx, to); err != nil {
					m.status = "unblock: " + err.Error()
				} else {
					m.status = "unblocked " + to
				}
				return m, nil
			}
			if verb, number, _ := strings.Cut(text, " "); verb == "/verify" {
				if err := m.be.Verify(m.ctx, to, number); err != nil {
					m.status = "verify: " + err.Error()
				} else {
					m.status = to + " is verified: the safety number matches"
					m.refreshList()
				}
				return m, nil
			}
			if text == "/confirm" {
				rec, err := m.be.ConfirmKeys(m.ctx, to)
				if err != nil {
					m.status = "confirm: " + err.Error()
				} else {
					m.warning, m.status = "", fmt.Sprintf("confirmed %s's keys (safety number %s); if they changed, a new request went to %s: the conversation starts over when they accept", to, m.be.SafetyNumber(rec), to)
				}
				return m, nil
			}
			if verb, arg, _ := strings.Cut(text, " "); verb == "/accept" || verb == "/decline" {
				if err := m.be.Answer(m.ctx, arg, verb == "/accept"); err != nil {
					m.status = verb[1:] + ": " + err.Error()
				} else {
					m.status = strings.TrimSuffix(verb[1:], "e") + "ed " + arg
					m.refreshList()
				}
				return m, nil
			}
			if verb, arg, _ := strings.Cut(text, " "); verb == "/file" || verb == "/get" {
				m.status = "transferring " + arg + "…"
				return m, m.transfer(to, verb, arg)
			}
			e, err := m.command(text)
			if err != nil {
				m.status = err.Error()
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
			m.status = "queued: the hub is unreachable; it goes out when it is back"
			m.history = m.be.History()
		case msg.err != nil:
			m.status = "error: " + msg.err.Error()
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
			m.status = fmt.Sprintf("contact request from %s (signature checked): /accept %s or /decline %s", msg.From, msg.From, msg.From)
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
		m.status = msg.err.Error()
		return m, m.waitIncoming()
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
	m.warning = ""
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
	left.WriteString(titleStyle.Render("contacts") + "\n")
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
	right.WriteString(titleStyle.Render(screen.Sprintf("%s ↔ %s", m.me, m.labels[cur]).String()) + "\n")
	var lines []string
	for _, msg := range m.history {
		if cur != "" && client.ConversationOf(m.me, msg) == cur {
			state := ""
			if msg.From == m.me && !strings.HasPrefix(cur, "#") {
				state = m.be.StateOf(cur, msg.Seq, m.receipts[cur])
			}
			lines = append(lines, strings.Split(formatMessage(msg, state).String(), "\n")...)
		}
	}
	if max := m.height - 6; max > 0 && len(lines) > max {
		lines = lines[len(lines)-max:]
	}
	right.WriteString(strings.Join(lines, "\n"))
	body := lipgloss.JoinHorizontal(lipgloss.Top,
		lipgloss.NewStyle().Width(listWidth).Render(left.String()),
		lipgloss.NewStyle().Width(max(20, m.width-listWidth-2)).Render(right.String()))
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
		Long: "chat shows your contacts with unread counts and a conversation, receives messages live through\n" +
			"the hubs' change notifications, and warns when a contact's keys change on the chain.",
		Example: "  parley chat\n  parley chat bob",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			c, err := h.client(ctx)
			if err != nil {
				return err
			}
			incoming := make(chan tea.Msg, 64)
			go c.Watch(ctx, func(m client.Message) { incoming <- incomingMsg(m) }, func(err error) { incoming <- errMsg{err} })
			start := ""
			if len(args) == 1 {
				start = args[0]
			}
			_, err = tea.NewProgram(newChatModel(ctx, c.Name, c, incoming, start), tea.WithAltScreen(), tea.WithContext(ctx)).Run()
			if errors.Is(err, tea.ErrProgramKilled) {
				return nil
			}
			return err
		},
	}
}
