package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/parley-im/parley/internal/screen"
)

// TestChatScenario: bob, with two contact requests waiting (carol's and
// dave's) and a contact he blocked (erin), opens the chat on the real
// client: both requests are listed, erin is marked blocked; he accepts
// carol's from the chat and reads her greeting. 'parley chat nobody' is
// an error that says what to do, not a new conversation.
func TestChatScenario(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "correct horse battery staple")
	homes := map[string]string{}
	for i, n := range []string{"bob", "carol", "dave", "erin"} {
		homes[n] = filepath.Join(t.TempDir(), n)
		initHome(t, rpc, homes[n])
		parley(t, "--home", homes[n], "register", n, "--hub", hubs[i%2])
	}
	for _, n := range []string{"carol", "dave", "erin"} {
		awaitName(t, homes[n], "bob")
		parley(t, "--home", homes[n], "contacts", "add", "bob", "--message", "hi bob, "+n+" here")
	}
	awaitName(t, homes["bob"], "erin")
	parley(t, "--home", homes["bob"], "contacts", "accept", "erin")
	parley(t, "--home", homes["bob"], "block", "erin")

	code, stderr := parleyErr(t, "--home", homes["bob"], "chat", "nobody")
	if lines := strings.Split(stderr, "\n"); code != 1 || lines[0] != "parley: not a contact: nobody (no contact or group of yours has that name)" ||
		lines[1] != "parley: hint: 'parley contacts add NAME' asks them; 'parley requests' lists who asked you" {
		t.Fatalf("parley chat nobody: exit %d:\n%s", code, stderr)
	}

	ctx := context.Background()
	h := &home{dir: homes["bob"], stderr: screen.NewWriter(io.Discard, false), cmd: "parley chat", barAt: -1}
	c, err := h.api(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m tea.Model = newChatModel(ctx, "bob", c, nil, "")
	m = step(t, m, m.(chatModel).fetchRequests()())
	v := m.View()
	for _, want := range []string{"erin ⊘", "? carol", "? dave"} {
		if !strings.Contains(v, want) {
			t.Errorf("the chat does not show %q:\n%s", want, v)
		}
	}
	for m.(chatModel).current() != "?carol" {
		m = step(t, m, tea.KeyMsg{Type: tea.KeyTab})
	}
	m = typeText(t, m, "/accept")
	if v = m.View(); !strings.Contains(v, "accepted carol") || strings.Contains(v, "? carol") || !strings.Contains(v, "? dave") {
		t.Fatalf("after /accept on carol's request:\n%s", v)
	}
	h.release(ctx)

	if out := parley(t, "--home", homes["bob"], "read", "carol"); !strings.Contains(out, "carol: hi bob, carol here") {
		t.Fatalf("bob reads carol after accepting her in the chat:\n%s", out)
	}
	var out bytes.Buffer
	run(ctx, []string{"--home", homes["bob"], "requests"}, nil, &out, io.Discard)
	if !strings.Contains(out.String(), "dave") || strings.Contains(out.String(), "carol") {
		t.Fatalf("requests left after the chat:\n%s", out.String())
	}
}
