package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/spf13/cobra"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client"
)

// chatBackend is what the chat UI needs of the client.
type chatBackend interface {
	Contacts() []string
	History() []client.Message
	Send(ctx context.Context, name, text string) error
	ConfirmKeys(ctx context.Context, name string) (*bns.Record, error)
}

// Messages the UI receives from outside its own input.
type (
	incomingMsg client.Message
	errMsg      struct{ err error }
	sentMsg     struct {
		to, text string
		err      error
	}
)

type chatModel struct {
	ctx      context.Context
	be       chatBackend
	me       string
	contacts []string
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
	in.Placeholder = "type a message; Enter sends; /confirm accepts changed keys; Tab or ↑/↓ switch; Esc quits"
	in.Focus()
	in.CharLimit = 4000
	m := chatModel{ctx: ctx, be: be, me: me, contacts: be.Contacts(), unread: map[string]int{}, history: be.History(),
		input: in, incoming: incoming, width: 100, height: 30}
	for i, c := range m.contacts {
		if c == start {
			m.selected = i
		}
	}
	return m
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

func (m chatModel) Init() tea.Cmd { return tea.Batch(textinput.Blink, m.waitIncoming()) }

func (m chatModel) send(to, text string) tea.Cmd {
	return func() tea.Msg { return sentMsg{to: to, text: text, err: m.be.Send(m.ctx, to, text)} }
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
			if text == "/confirm" {
				rec, err := m.be.ConfirmKeys(m.ctx, to)
				if err != nil {
					m.status = "confirm: " + err.Error()
				} else {
					m.warning, m.status = "", fmt.Sprintf("confirmed %s's keys (safety number %s)", to, client.SafetyNumber(rec))
				}
				return m, nil
			}
			m.status = "sending…"
			return m, m.send(to, text)
		}
	case sentMsg:
		var kc *client.KeyChange
		switch {
		case errors.As(msg.err, &kc):
			m.warning = fmt.Sprintf("⚠ %s — new safety number %s. Check it with %s, then type /confirm.", kc.Error(), client.SafetyNumber(kc.Current), kc.Name)
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
		return m, nil
	case incomingMsg:
		m.history = append(m.history, client.Message(msg))
		if msg.From != m.current() {
			m.unread[msg.From]++
		}
		return m, m.waitIncoming()
	case errMsg:
		m.status = msg.err.Error()
		return m, m.waitIncoming()
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
	delete(m.unread, m.current())
	m.warning = ""
}

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
		line := c
		if n := m.unread[c]; n > 0 {
			line += fmt.Sprintf(" (%d)", n)
		}
		if i == m.selected {
			line = selectedStyle.Render("▸ " + line)
		} else {
			line = "  " + line
		}
		left.WriteString(line + "\n")
	}
	var right strings.Builder
	cur := m.current()
	right.WriteString(titleStyle.Render(fmt.Sprintf("%s ↔ %s", m.me, cur)) + "\n")
	var lines []string
	for _, msg := range m.history {
		if cur != "" && (msg.From == cur || msg.To == cur) {
			lines = append(lines, fmt.Sprintf("%s: %s", msg.From, msg.Text))
		}
	}
	if max := m.height - 6; max > 0 && len(lines) > max {
		lines = lines[len(lines)-max:]
	}
	right.WriteString(strings.Join(lines, "\n"))
	body := lipgloss.JoinHorizontal(lipgloss.Top,
		lipgloss.NewStyle().Width(22).Render(left.String()),
		lipgloss.NewStyle().Width(max(20, m.width-24)).Render(right.String()))
	out := body + "\n"
	if m.warning != "" {
		out += warnStyle.Render(m.warning) + "\n"
	}
	if m.status != "" {
		out += dimStyle.Render(m.status) + "\n"
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
