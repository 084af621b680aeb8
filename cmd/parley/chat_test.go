package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/mattn/go-runewidth"

	"github.com/parley-im/parley/internal/api"
)

type fakeBackend struct {
	history   []api.Message
	sent      []fakeSent
	sendErr   error
	confirmed []string
	read      []string
	blocked   []string
	unblocked []string
	verified  []string
	answered  []string
	state     string                 // of the user's own messages (default "sent")
	groups    []api.Group            // nil: one group, trip
	profiles  map[string]api.Profile // nil: alice's, Alice L.
	pending   []string               // senders of contact requests
	isBlocked map[string]bool
}

// fakeSent is what the chat asked of the agent: a message (Kind text,
// Ref the reply's label), a reaction, an edit or a delete.
type fakeSent struct {
	To, Kind, Text, Emoji, Ref string
}

func (f *fakeBackend) ContactList(context.Context) (api.Contacts, error) {
	var out api.Contacts
	for _, n := range []string{"alice", "carol"} {
		out.Contacts = append(out.Contacts, api.Contact{Name: n, Verified: n == "carol", Blocked: f.isBlocked[n]})
	}
	return out, nil
}
func (f *fakeBackend) Requests(context.Context) (api.Requests, error) {
	var out api.Requests
	for _, n := range f.pending {
		out.Requests = append(out.Requests, api.Request{From: n})
	}
	return out, nil
}
func (f *fakeBackend) History(context.Context) (api.History, error) {
	out := api.History{Messages: slices.Clone(f.history)}
	for i, s := range f.sent {
		if s.Kind != "text" {
			continue
		}
		state := f.state
		if state == "" {
			state = "sent"
		}
		out.Messages = append(out.Messages, api.Message{From: "me", To: s.To, Conversation: s.To, ID: api.Ref{By: "me", Seq: uint64(i)},
			Label: fmt.Sprintf("me/%d", i), Kind: "text", Text: s.Text, State: state})
	}
	return out, nil
}
func (f *fakeBackend) record(s fakeSent) error {
	if f.sendErr != nil {
		return f.sendErr
	}
	f.sent = append(f.sent, s)
	return nil
}
func (f *fakeBackend) Send(_ context.Context, conv string, r api.SendRequest) (api.Sent, error) {
	return api.Sent{}, f.record(fakeSent{To: conv, Kind: "text", Text: r.Text, Ref: r.Reply})
}
func (f *fakeBackend) React(_ context.Context, conv string, r api.ReactRequest) error {
	return f.record(fakeSent{To: conv, Kind: "react", Emoji: r.Emoji, Ref: r.Ref})
}
func (f *fakeBackend) Edit(_ context.Context, conv string, r api.EditRequest) error {
	return f.record(fakeSent{To: conv, Kind: "edit", Text: r.Text, Ref: r.Ref})
}
func (f *fakeBackend) Delete(_ context.Context, conv string, r api.DeleteRequest) error {
	return f.record(fakeSent{To: conv, Kind: "delete", Ref: r.Ref})
}
func (f *fakeBackend) SetTimer(_ context.Context, conv string, seconds int64) (api.TimerResult, error) {
	return api.TimerResult{}, f.record(fakeSent{To: conv, Kind: "timer", Text: fmt.Sprint(seconds)})
}
func (f *fakeBackend) MarkRead(_ context.Context, name string) error {
	f.read = append(f.read, name)
	return nil
}
func (f *fakeBackend) Answer(_ context.Context, from string, accept bool) error {
	f.answered = append(f.answered, fmt.Sprint(from, accept))
	return nil
}
func (f *fakeBackend) ContactProfile(_ context.Context, name string, _ bool) (api.Profile, error) {
	noProfile := &api.Error{Code: api.CodeNoProfile, Message: "no profile shared"}
	if f.profiles != nil {
		if p, ok := f.profiles[name]; ok {
			return p, nil
		}
		return api.Profile{}, noProfile
	}
	if name == "alice" {
		return api.Profile{DisplayName: "Alice L."}, nil
	}
	return api.Profile{}, noProfile
}
func (f *fakeBackend) Groups(context.Context, bool) (api.Groups, error) {
	if f.groups != nil {
		return api.Groups{Groups: f.groups}, nil
	}
	return api.Groups{Groups: []api.Group{{ID: "g1", Name: "trip", Members: []string{"alice", "carol", "me"}}}}, nil
}
func (f *fakeBackend) SendFile(_ context.Context, conv string, r api.SendFileRequest) (api.Sent, error) {
	return api.Sent{}, f.record(fakeSent{To: conv, Kind: "text", Text: "file " + r.Path})
}
func (f *fakeBackend) GetFile(context.Context, string, api.GetFileRequest) (api.Saved, error) {
	return api.Saved{}, nil
}
func (f *fakeBackend) Block(_ context.Context, name string) error {
	f.blocked = append(f.blocked, name)
	if f.isBlocked == nil {
		f.isBlocked = map[string]bool{}
	}
	f.isBlocked[name] = true
	return nil
}
func (f *fakeBackend) Unblock(_ context.Context, name string) error {
	f.unblocked = append(f.unblocked, name)
	delete(f.isBlocked, name)
	return nil
}
func (f *fakeBackend) Verify(_ context.Context, name, number string) error {
	if number != "12345" {
		return &api.Error{Code: api.CodeSafetyMismatch, Message: "the safety number does not match"}
	}
	f.verified = append(f.verified, name)
	return nil
}
func (f *fakeBackend) ConfirmKeys(_ context.Context, name string) (api.ConfirmResult, error) {
	f.confirmed = append(f.confirmed, name)
	return api.ConfirmResult{Safety: "12345 (" + name + ")"}, nil
}

// msg is a text message of conversation conv from from, number n.
func msg(from, conv string, n uint64, text string) api.Message {
	return api.Message{From: from, To: "me", Conversation: conv, ID: api.Ref{By: from, Seq: n}, Label: fmt.Sprintf("%s/%d", from, n), Kind: "text", Text: text}
}

// step feeds msg to the model and runs the command it returns, feeding
// back what a send or a receipt fetch answers (a few rounds at most).
func step(t *testing.T, m tea.Model, msg tea.Msg) tea.Model {
	t.Helper()
	m, cmd := m.Update(msg)
	for range 3 {
		if cmd == nil {
			break
		}
		out := cmd()
		switch out.(type) {
		case sentMsg:
			m, cmd = m.Update(out)
		default:
			cmd = nil
		}
	}
	return m
}

func typeText(t *testing.T, m tea.Model, s string) tea.Model {
	m = step(t, m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)})
	return step(t, m, tea.KeyMsg{Type: tea.KeyEnter})
}

func TestChatModel(t *testing.T) {
	be := &fakeBackend{history: []api.Message{msg("alice", "alice", 0, "hello from alice")}}
	var m tea.Model = newChatModel(context.Background(), "me", be, nil, "alice")
	if v := m.View(); !strings.Contains(v, "▸ alice (Alice L.)") || !strings.Contains(v, "alice: hello from alice") {
		t.Fatalf("initial view:\n%s", v)
	}
	psst := msg("carol", "carol", 0, "psst")
	be.history = append(be.history, psst)
	m = step(t, m, eventMsg(api.Event{Type: api.EventMessage, Message: &psst}))
	if v := m.View(); !strings.Contains(v, "carol ✓ (1)") || strings.Contains(v, "alice ✓") {
		t.Fatalf("no unread count for carol, or a verified mark on alice:\n%s", v)
	}
	m = step(t, m, tea.KeyMsg{Type: tea.KeyTab})
	if v := m.View(); !strings.Contains(v, "▸ carol ✓") || strings.Contains(v, "carol ✓ (1)") || !strings.Contains(v, "carol: psst") {
		t.Fatalf("after switching to carol:\n%s", v)
	}
	m = typeText(t, m, "hi carol")
	if len(be.sent) != 1 || be.sent[0].To != "carol" || be.sent[0].Text != "hi carol" {
		t.Fatalf("sent %+v", be.sent)
	}
	if v := m.View(); !strings.Contains(v, "[me/0] me: hi carol [sent]") {
		t.Fatalf("own message not shown as sent:\n%s", v)
	}
	// carol's receipt changes: the mark follows.
	be.state = "read"
	m = step(t, m, eventMsg(api.Event{Type: api.EventReceipt, Conversation: "carol"}))
	if v := m.View(); !strings.Contains(v, "[me/0] me: hi carol [read]") {
		t.Fatalf("own message not shown:\n%s", v)
	}
	if strings.Join(be.read, ",") != "alice,carol" {
		t.Fatalf("conversations marked read: %v", be.read)
	}
	// Commands: a reply, a reaction, an edit, a delete, a timer.
	for line, want := range map[string]fakeSent{
		"/reply carol/0 yes": {To: "carol", Kind: "text", Text: "yes", Ref: "carol/0"},
		"/react carol/0 👍":   {To: "carol", Kind: "react", Emoji: "👍", Ref: "carol/0"},
		"/edit 0 hi, carol":  {To: "carol", Kind: "edit", Text: "hi, carol", Ref: "me/0"},
		"/delete 0":          {To: "carol", Kind: "delete", Ref: "me/0"},
	} {
		n := len(be.sent)
		m = typeText(t, m, line)
		if len(be.sent) != n+1 {
			t.Fatalf("%s sent nothing: %s", line, m.View())
		}
		got := be.sent[n]
		if got != want {
			t.Fatalf("%s sent %+v", line, got)
		}
	}
	m = typeText(t, m, "/file /tmp/x.png")
	if last := be.sent[len(be.sent)-1]; last.Text != "file /tmp/x.png" {
		t.Fatalf("/file sent %+v", last)
	}
	n := len(be.sent)
	m = typeText(t, m, "/edit carol/0 not mine")
	if len(be.sent) != n || !strings.Contains(m.View(), "only its author") {
		t.Fatalf("editing carol's message: %s", m.View())
	}
	m = typeText(t, m, "/verify 99999")
	if len(be.verified) != 0 || !strings.Contains(m.View(), "verify: the safety number does not match") {
		t.Fatalf("a wrong safety number: %v\n%s", be.verified, m.View())
	}
	m = typeText(t, m, "/verify 12345")
	if strings.Join(be.verified, ",") != "carol" {
		t.Fatalf("verified %v", be.verified)
	}
	m = typeText(t, m, "/unblock")
	if strings.Join(be.unblocked, ",") != "carol" {
		t.Fatalf("unblocked %v", be.unblocked)
	}
	m = typeText(t, m, "/block")
	if strings.Join(be.blocked, ",") != "carol" {
		t.Fatalf("blocked %v", be.blocked)
	}
	// carol's keys changed: the send is refused with a warning.
	be.sendErr = &api.Error{Code: api.CodeKeysChanged, Message: "carol's name changed hands at height 42 (transfer)",
		KeyChange: &api.KeyChange{Name: "carol", Reason: "transfer", Height: 42, Safety: "54321", Message: "carol's name changed hands at height 42 (transfer)"}}
	m = typeText(t, m, "still you?")
	if v := m.View(); !strings.Contains(v, "⚠") || !strings.Contains(v, "transfer") || !strings.Contains(v, "/confirm") {
		t.Fatalf("no key-change warning:\n%s", v)
	}
	be.sendErr = nil
	m = typeText(t, m, "/confirm")
	if len(be.confirmed) != 1 || be.confirmed[0] != "carol" || strings.Contains(m.View(), "⚠") {
		t.Fatalf("confirm: %v\n%s", be.confirmed, m.View())
	}
	// A group message: the group's entry counts it, and shows it when open.
	inGroup := msg("alice", "#g1", 0, "group hello")
	be.history = append(be.history, inGroup)
	m = step(t, m, eventMsg(api.Event{Type: api.EventMessage, Message: &inGroup}))
	if v := m.View(); !strings.Contains(v, "#trip (1)") {
		t.Fatalf("no unread count for the group:\n%s", v)
	}
	m = step(t, m, tea.KeyMsg{Type: tea.KeyTab})
	if v := m.View(); !strings.Contains(v, "me ↔ #trip") || !strings.Contains(v, "alice: group hello") || strings.Contains(v, "hi carol") {
		t.Fatalf("the group's conversation:\n%s", v)
	}
	// A disappearing message runs out while the chat is open.
	be.history = slices.DeleteFunc(be.history, func(m api.Message) bool { return m.Text == "group hello" })
	m = step(t, m, eventMsg(api.Event{Type: api.EventExpired}))
	if v := m.View(); strings.Contains(v, "group hello") {
		t.Fatalf("an expired message is still shown:\n%s", v)
	}
	// A contact request arrives while chatting, and is accepted.
	m = step(t, m, eventMsg(api.Event{Type: api.EventRequest, Request: &api.Request{From: "dave"}}))
	if v := m.View(); !strings.Contains(v, "contact request from dave") {
		t.Fatalf("no request shown:\n%s", v)
	}
	m = typeText(t, m, "/accept dave")
	if strings.Join(be.answered, ",") != "davetrue" {
		t.Fatalf("answered %v", be.answered)
	}
	if _, cmd := m.Update(tea.KeyMsg{Type: tea.KeyEsc}); cmd == nil {
		t.Fatal("Esc does not quit")
	}
}

// TestChatModelIsTerminalSafe: the chat shows what a contact wrote (a
// display name, messages, a reference, a reaction, a file's name, a
// group's name and ID) escaped, and a message's second line indented
// under its header, never as a line of its own.
func TestChatModelIsTerminalSafe(t *testing.T) {
	evilGroup := escTitle + "0123456789abcdef0123456789"
	be := &fakeBackend{
		profiles: map[string]api.Profile{"alice": {DisplayName: rlo + "eci" + escClear}},
		groups:   []api.Group{{ID: evilGroup, Name: escTitle + rlo + "friends", Members: []string{"alice", "me"}}},
		history: []api.Message{
			msg("alice", "alice", 0, "hi"+escClear+"\n"+posing),
			withRef(msg("alice", "alice", 1, "look"), escTitle+escClear+"/0"),
			withFile(msg("alice", "alice", 2, ""), "invoice"+rlo+"fdp.exe"),
			{From: "me", To: "alice", Conversation: "alice", Label: "me/0", Kind: "text", Text: "hello", Reactions: map[string]string{"alice": escClear}},
			msg("alice", "#"+evilGroup, 0, "all"+escClear+"\n"+posing),
		},
	}
	var m tea.Model = newChatModel(context.Background(), "me", be, nil, "alice")
	v := m.View()
	assertInert(t, "the chat", v)
	for _, want := range []string{`alice (\u202eeci\x1b[2J)`, `↪ \x1b]0;title\x07\x1b[2J/0 look`, `invoice\u202efdp.exe`, `hello \x1b[2Jalice`} {
		if !strings.Contains(v, want) {
			t.Errorf("the chat does not show %q:\n%s", want, v)
		}
	}
	// The conversation's pane begins at column 22: there, the message's
	// second line begins with spaces, under its text.
	lines := strings.Split(v, "\n")
	i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, posing) })
	if i < 1 || !strings.Contains(lines[i-1], `alice: hi\x1b[2J`) || len([]rune(lines[i])) < 22 ||
		!regexp.MustCompile(`^ {10,}`+posing).MatchString(string([]rune(lines[i])[22:])) {
		t.Errorf("the second line of alice's message is not indented under it:\n%s", v)
	}
	m = step(t, m, tea.KeyMsg{Type: tea.KeyTab})
	m = step(t, m, tea.KeyMsg{Type: tea.KeyTab})
	v = m.View()
	assertInert(t, "the chat's group", v)
	if !strings.Contains(v, `me ↔ #\x1b]0;title\x07\u202efriends`) {
		t.Errorf("the group's name is not shown escaped:\n%s", v)
	}
}

// TestChatScrollback: a conversation longer than the window shows its end;
// PgUp and the mouse wheel go back through it, PgDn forward, never past
// either end, and the pane says how many lines are out of sight.
func TestChatScrollback(t *testing.T) {
	be := &fakeBackend{}
	for i := range 50 {
		be.history = append(be.history, msg("alice", "alice", uint64(i), fmt.Sprintf("line %d", i)))
	}
	var m tea.Model = newChatModel(context.Background(), "me", be, nil, "alice")
	m = step(t, m, tea.WindowSizeMsg{Width: 100, Height: 20}) // 14 lines of conversation
	v := m.View()
	if !strings.Contains(v, "line 49") || strings.Contains(v, "line 36 ") || !strings.Contains(v, "line 37 ") || !strings.Contains(v, "↑ 37 earlier lines (PgUp)") {
		t.Fatalf("the end of the conversation:\n%s", v)
	}
	m = step(t, m, tea.KeyMsg{Type: tea.KeyPgUp})
	if v = m.View(); !strings.Contains(v, "line 24 ") || !strings.Contains(v, "line 35 ") || strings.Contains(v, "line 36 ") || !strings.Contains(v, "↓ 14 later lines (PgDn)") {
		t.Fatalf("one page back:\n%s", v)
	}
	m = step(t, m, tea.MouseMsg{Button: tea.MouseButtonWheelUp, Action: tea.MouseActionPress})
	if v = m.View(); !strings.Contains(v, "line 21 ") || !strings.Contains(v, "line 32 ") || !strings.Contains(v, "↓ 17 later lines") {
		t.Fatalf("the wheel, three lines further back:\n%s", v)
	}
	for range 10 {
		m = step(t, m, tea.KeyMsg{Type: tea.KeyPgUp})
	}
	if v = m.View(); !strings.Contains(v, "line 0 ") || strings.Contains(v, "earlier lines") {
		t.Fatalf("at the start:\n%s", v)
	}
	m = step(t, m, tea.MouseMsg{Button: tea.MouseButtonWheelDown, Action: tea.MouseActionPress})
	for range 10 {
		m = step(t, m, tea.KeyMsg{Type: tea.KeyPgDown})
	}
	if v = m.View(); !strings.Contains(v, "line 49") || strings.Contains(v, "later lines") {
		t.Fatalf("back at the end:\n%s", v)
	}
}

// TestChatWrapsLongLines: a long message is wrapped to the pane, and its
// wrapped lines are indented under its text, so none (a line that would
// begin "you: send me your passphrase") stands at the margin.
func TestChatWrapsLongLines(t *testing.T) {
	long := strings.Repeat("blah ", 14) + posing + " " + strings.Repeat("more words here ", 12)
	be := &fakeBackend{history: []api.Message{msg("alice", "alice", 0, long)}}
	var m tea.Model = newChatModel(context.Background(), "me", be, nil, "alice")
	m = step(t, m, tea.WindowSizeMsg{Width: 100, Height: 30})
	pane := 100 - listWidth - 2
	var body []string
	for _, l := range strings.Split(m.View(), "\n") {
		r := []rune(l)
		if len(r) > listWidth {
			body = append(body, strings.TrimRight(string(r[listWidth:]), " "))
		}
	}
	first := slices.IndexFunc(body, func(l string) bool { return strings.HasPrefix(l, "[alice/0] alice: blah") })
	if first < 0 || first+3 >= len(body) {
		t.Fatalf("the message is not shown wrapped:\n%s", m.View())
	}
	words := strings.Fields(body[first])
	for _, l := range body[first+1 : first+4] {
		if runewidth.StringWidth(l) > pane || !strings.HasPrefix(l, strings.Repeat(" ", len("[alice/0] alice: "))) {
			t.Errorf("a wrapped line is too wide or not indented under the text: %q", l)
		}
		words = append(words, strings.Fields(l)...)
	}
	if got := strings.Join(words, " "); !strings.Contains(got, posing) {
		t.Errorf("the wrapped text lost words: %q", got)
	}
	for _, tc := range []struct {
		line          string
		width, indent int
		want          []string
	}{
		{"short", 10, 2, []string{"short"}},
		{"aaaa bbbb cccc", 9, 2, []string{"aaaa bbbb", "  cccc"}},
		{"abcdefghijkl", 5, 2, []string{"abcde", "  fgh", "  ijk", "  l"}},
		{"漢字漢字漢字", 5, 0, []string{"漢字", "漢字", "漢字"}},
	} {
		if got := wrap(tc.line, tc.width, tc.indent); !slices.Equal(got, tc.want) {
			t.Errorf("wrap(%q, %d, %d) = %q, want %q", tc.line, tc.width, tc.indent, got, tc.want)
		}
	}
}

// TestChatRequestsAndBlocked: every pending request is listed (those in
// the inbox when the chat opens, and those that come), opens to what to
// do, and /accept without a name takes the one open; a blocked contact
// is marked in the list and the conversation's title.
func TestChatRequestsAndBlocked(t *testing.T) {
	be := &fakeBackend{pending: []string{"erin", "dave"}, isBlocked: map[string]bool{"carol": true}}
	var m tea.Model = newChatModel(context.Background(), "me", be, nil, "carol")
	m = step(t, m, m.(chatModel).fetchRequests()())
	m = step(t, m, eventMsg(api.Event{Type: api.EventRequest, Request: &api.Request{From: "frank"}}))
	v := m.View()
	for _, want := range []string{"▸ carol ✓ ⊘", "me ↔ carol ✓ ⊘ — blocked", "? dave", "? erin", "? frank"} {
		if !strings.Contains(v, want) {
			t.Errorf("the chat does not show %q:\n%s", want, v)
		}
	}
	for range 2 { // from carol: #trip, then dave's request
		m = step(t, m, tea.KeyMsg{Type: tea.KeyTab})
	}
	if v = m.View(); !strings.Contains(v, "dave asks to become your contact") {
		t.Fatalf("dave's request, open:\n%s", v)
	}
	m = typeText(t, m, "hello?")
	if len(be.sent) != 0 || !strings.Contains(m.View(), "dave is not a contact yet") {
		t.Fatalf("writing to a request: sent %v\n%s", be.sent, m.View())
	}
	m = typeText(t, m, "/accept")
	if strings.Join(be.answered, ",") != "davetrue" || strings.Contains(m.View(), "? dave") || !strings.Contains(m.View(), "? erin") {
		t.Fatalf("/accept on dave's request: answered %v\n%s", be.answered, m.View())
	}
	m = typeText(t, m, "/decline frank")
	if strings.Join(be.answered, ",") != "davetrue,frankfalse" || strings.Contains(m.View(), "? frank") {
		t.Fatalf("/decline frank: answered %v\n%s", be.answered, m.View())
	}
	// carol unblocked: the mark goes.
	for m.(chatModel).current() != "carol" {
		m = step(t, m, tea.KeyMsg{Type: tea.KeyTab})
	}
	m = typeText(t, m, "/unblock")
	if v = m.View(); strings.Contains(v, "⊘") {
		t.Fatalf("carol is still marked blocked:\n%s", v)
	}
}

// TestChatStart: parley chat NAME opens a contact's or a group's
// conversation; any other name is an error, never a new conversation.
func TestChatStart(t *testing.T) {
	be := &fakeBackend{}
	for in, want := range map[string]string{"alice": "alice", "trip": "#g1", "g1": "#g1", "#g1": "#g1"} {
		if got, err := chatStart(context.Background(), be, in); got != want || err != nil {
			t.Errorf("chatStart(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	if _, err := chatStart(context.Background(), be, "mallory"); !api.IsCode(err, api.CodeNotContact) {
		t.Errorf("chatStart(mallory) = %v", err)
	}
}

// withRef is m replying to the message labelled label.
func withRef(m api.Message, label string) api.Message {
	by, _, _ := strings.Cut(label, "/")
	m.Ref, m.RefLabel = &api.Ref{By: by}, label
	return m
}

// withFile is m sharing a file named name.
func withFile(m api.Message, name string) api.Message {
	m.File = &api.File{Name: name, Size: 9}
	return m
}
