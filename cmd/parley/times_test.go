package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/api"
)

// at runs the CLI with clk as its clock and zone, failing the test on a
// non-zero exit; it returns stdout.
func at(t *testing.T, clk clock, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := runWith(context.Background(), runOptions{clock: clk}, args, nil, &out, &errb); code != 0 {
		t.Fatalf("parley %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return out.String()
}

// TestMessageTimesAndNumbers: read and watch show each message's time in
// the reader's zone (with its date when not today), and references count
// text messages only: alice's profile, reaction and edit take no number,
// so her messages are alice/1, alice/2, alice/3 on both sides, and a
// reply, a reaction and an edit name them so.
func TestMessageTimesAndNumbers(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	h := world(t, rpc, hubs[0], "alice", "bob")
	var aliceNow, bobNow time.Time
	utc := time.UTC
	cet := time.FixedZone("CET", 3600)
	alice := clock{now: func() time.Time { return aliceNow }, loc: utc}
	bob := clock{now: func() time.Time { return bobNow }, loc: cet}
	day := time.Date(2024, 3, 1, 9, 30, 0, 0, utc)
	aliceNow, bobNow = day, day.Add(time.Minute)

	at(t, alice, "--home", h["alice"], "profile", "set", "--name", "Alice A.")
	at(t, alice, "--home", h["alice"], "contacts", "add", "bob") // alice/1, after her profile's key
	at(t, bob, "--home", h["bob"], "contacts", "accept", "alice")
	at(t, bob, "--home", h["bob"], "read", "alice")
	bobNow = day.Add(2 * time.Minute)
	if out := at(t, bob, "--home", h["bob"], "send", "alice", "hi alice"); out != "sent (bob/1)\n" {
		t.Fatalf("bob's send: %q", out)
	}
	aliceNow = day.Add(3 * time.Minute)
	at(t, alice, "--home", h["alice"], "read", "bob")
	at(t, alice, "--home", h["alice"], "react", "bob", "bob/1", "👍")
	if out := at(t, alice, "--home", h["alice"], "send", "bob", "lunch?"); out != "sent (alice/2)\n" {
		t.Fatalf("alice's send after a reaction: %q", out)
	}
	at(t, alice, "--home", h["alice"], "edit", "bob", "2", "lunch at noon?")
	aliceNow = day.Add(4 * time.Minute)
	if out := at(t, alice, "--home", h["alice"], "send", "bob", "or one", "--reply", "alice/2"); out != "sent (alice/3)\n" {
		t.Fatalf("alice's send after an edit: %q", out)
	}

	bobNow = day.Add(5 * time.Hour)
	want := "10:30 [alice/1] alice: Hello! Let's talk on Parley.\n" +
		"10:32 [bob/1] bob: hi alice 👍alice [read]\n" +
		"10:33 [alice/2] alice: lunch at noon? (edited)\n" +
		"10:34 [alice/3] alice: ↪ alice/2 or one\n"
	if got := at(t, bob, "--home", h["bob"], "read", "alice"); got != want {
		t.Fatalf("bob reads (CET):\n%s\nwant\n%s", got, want)
	}
	bobNow = day.Add(24 * time.Hour)
	if got := at(t, bob, "--home", h["bob"], "read", "alice", "--last", "1"); got != "2024-03-01 10:34 [alice/3] alice: ↪ alice/2 or one\n" {
		t.Fatalf("bob reads the next day:\n%s", got)
	}
	at(t, bob, "--home", h["bob"], "react", "alice", "alice/3", "👍")
	at(t, bob, "--home", h["bob"], "send", "alice", "one it is", "--reply", "alice/3")
	aliceNow = day.Add(24*time.Hour + time.Minute)
	got := at(t, alice, "--home", h["alice"], "read", "bob")
	for _, line := range []string{"09:34 [alice/3] alice: ↪ alice/2 or one 👍bob [read]\n", "[bob/2] bob: ↪ alice/3 one it is\n", "2024-03-01 09:30 [alice/1] alice: Hello!"} {
		if !strings.Contains(got, line) {
			t.Fatalf("alice reads (UTC), without %q:\n%s", line, got)
		}
	}

	// watch: each event with its time.
	wctx, stop := context.WithCancel(context.Background())
	var wout syncBuffer
	done := make(chan int)
	go func() {
		done <- runWith(wctx, runOptions{clock: bob}, []string{"--home", h["bob"], "watch"}, nil, &wout, &wout)
	}()
	aliceNow = day.Add(24*time.Hour + 2*time.Minute)
	at(t, alice, "--home", h["alice"], "send", "bob", "see you")
	awaitOutput(t, "watch to print alice's message with its time", &wout, "10:32 [alice/4] alice: see you\n")
	stop()
	<-done
}

// TestChatShowsTimesAndLabels: the chat stamps each message with its time
// in the user's zone (the date too when not today), and /reply, /react,
// /edit and /delete take labels as the pane shows them, sending the event
// the message's author numbered it by.
func TestChatShowsTimesAndLabels(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	sent := time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC)
	stamped := func(m api.Message, t time.Time) api.Message {
		m.Time = t
		return m
	}
	be := &fakeBackend{history: []api.Message{
		stamped(msg("alice", "alice", 1, "hi"), sent),
		stamped(msg("alice", "alice", 2, "again"), sent.Add(24*time.Hour)), // after a reaction and an edit
		stamped(api.Message{From: "me", To: "alice", Conversation: "alice", Label: "me/1", Kind: "text", Text: "yes"}, sent.Add(24*time.Hour+time.Minute)),
	}}
	m := newChatModel(context.Background(), "me", be, nil, "alice")
	m.clock = clock{now: func() time.Time { return sent.Add(24*time.Hour + 2*time.Minute) }, loc: cet}
	v := m.View()
	for _, want := range []string{"2024-03-01 10:30 [alice/1] alice: hi", "10:30 [alice/2] alice: again", "10:31 [me/1] me: yes"} {
		if !strings.Contains(v, want) {
			t.Errorf("the chat does not show %q:\n%s", want, v)
		}
	}
	// The chat sends the labels as the pane shows them; the agent takes
	// them to the messages' IDs (TestLabelsHaveNoGaps, the agent's tests).
	for line, want := range map[string]fakeSent{
		"/reply alice/2 sure": {To: "alice", Kind: "text", Text: "sure", Ref: "alice/2"},
		"/react alice/2 👍":    {To: "alice", Kind: "react", Emoji: "👍", Ref: "alice/2"},
		"/edit 1 yes!":        {To: "alice", Kind: "edit", Text: "yes!", Ref: "me/1"},
		"/delete 1":           {To: "alice", Kind: "delete", Ref: "me/1"},
	} {
		cmd, err := m.command("alice", line)
		if err != nil {
			t.Errorf("%s: %v", line, err)
			continue
		}
		cmd()
		if got := be.sent[len(be.sent)-1]; got != want {
			t.Errorf("%s: sent %+v, want %+v", line, got, want)
		}
	}
	if _, err := m.command("alice", "/reply alice/3 who?"); err == nil || !strings.Contains(err.Error(), "no message alice/3 in this conversation") {
		t.Errorf("/reply to a label no message has: %v", err)
	}
}
