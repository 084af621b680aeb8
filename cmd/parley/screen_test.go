package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/await"
)

// Hostile strings a contact can put in what alice's terminal shows.
const (
	escTitle = "\x1b]0;title\x07" // sets the terminal's title
	escClear = "\x1b[2J"          // clears the screen
	rlo      = "\u202e"           // right-to-left override: reorders what follows
	zwsp     = "\u200b"           // zero-width space: "ali\u200bce" looks like "alice"
	posing   = "you: send me your passphrase"
)

// rawControl finds what must never reach a terminal from someone else: a
// control character other than newline and tab, a bidi control, or an
// invisible character (a zero-width space, word joiner, BOM, soft hyphen,
// filler).
var rawControl = regexp.MustCompile("[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\u200b\u2060\ufeff\u00ad\u3164]")

// assertInert fails if out holds a raw control character or a line that
// begins as one of the user's own could.
func assertInert(t *testing.T, what, out string) {
	t.Helper()
	if loc := rawControl.FindStringIndex(out); loc != nil {
		t.Errorf("%s printed a raw control character %q at byte %d:\n%q", what, out[loc[0]:loc[1]], loc[0], out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "you:") || strings.HasPrefix(l, "alice:") {
			t.Errorf("%s printed a line that poses as alice's own: %q in\n%q", what, l, out)
		}
	}
}

// TestHostileContactCannotDriveTheTerminal: mallory, a contact, puts
// escape sequences, bidi overrides and line breaks in everything alice's
// terminal shows of hers: her display name and status, her greeting, her
// messages, a reply whose reference holds escapes, a reaction, a file's
// name, a group's name and messages. What alice's parley prints (the exact
// bytes of requests, contacts, profile, read, watch, group list and group
// read) shows each of them escaped, and the lines of a message indented
// under its header.
func TestHostileContactCannotDriveTheTerminal(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "correct horse battery staple")
	alice, mallory := filepath.Join(t.TempDir(), "alice"), filepath.Join(t.TempDir(), "mallory")
	initHome(t, rpc, alice)
	initHome(t, rpc, mallory)
	parley(t, "--home", alice, "register", "alice", "--hub", hubs[0])
	parley(t, "--home", mallory, "register", "mallory", "--hub", hubs[1])
	awaitName(t, mallory, "alice")
	awaitName(t, alice, "mallory")

	parley(t, "--home", mallory, "profile", "set", "--name", rlo+"eci"+escClear+zwsp, "--status", escTitle+"online")
	parley(t, "--home", mallory, "contacts", "add", "alice", "--message", "hello"+escTitle+"\n"+posing)
	requests := parley(t, "--home", alice, "requests")
	assertInert(t, "requests", requests)
	if !strings.HasPrefix(requests, "mallory") {
		t.Errorf("requests: %q", requests)
	}
	parley(t, "--home", alice, "contacts", "accept", "mallory")
	parley(t, "--home", alice, "send", "mallory", "hi mallory")

	// mallory writes.
	parley(t, "--home", mallory, "read", "alice")
	parley(t, "--home", mallory, "send", "alice", "hi"+escClear+"\n"+posing)
	var errb bytes.Buffer
	evilRef := run(context.Background(), []string{"--home", mallory, "send", "alice", "look", "--reply", escTitle + escClear + "/0"}, nil, io.Discard, &errb)
	evilRefErr := errb.String()
	parley(t, "--home", mallory, "react", "alice", "alice/1", escClear)
	file := filepath.Join(t.TempDir(), "invoice"+rlo+"fdp.exe")
	os.WriteFile(file, []byte("not a pdf"), 0o600)
	parley(t, "--home", mallory, "send-file", "alice", file)

	// What alice's terminal shows.
	contacts := parley(t, "--home", alice, "contacts")
	assertInert(t, "contacts", contacts)
	if want := `mallory (\u202eeci\x1b[2J\u200b)` + "\t"; !strings.HasPrefix(contacts, want) {
		t.Errorf("contacts: %q, want it to begin %q", contacts, want)
	}
	profile := parley(t, "--home", alice, "profile", "mallory")
	assertInert(t, "profile", profile)
	if want := "name:   \\u202eeci\\x1b[2J\\u200b\nstatus: \\x1b]0;title\\x07online\n"; !strings.HasPrefix(profile, want) {
		t.Errorf("profile: %q, want it to begin %q", profile, want)
	}
	read := parley(t, "--home", alice, "read", "mallory")
	assertInert(t, "read", read)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)mallory: hello\\x1b\]0;title\\x07\n {10,}` + posing + `\n`),
		regexp.MustCompile(`(?m)mallory: hi\\x1b\[2J\n {10,}` + posing + `\n`),
		regexp.MustCompile(`(?m)alice: hi mallory \\x1b\[2Jmallory`),
		regexp.MustCompile(`(?m)mallory: 📎 invoice\\u202efdp\.exe \(`),
	} {
		if !want.MatchString(read) {
			t.Errorf("read: %q does not match %s", read, want)
		}
	}

	// watch, while mallory writes.
	wctx, stopWatch := context.WithCancel(context.Background())
	var wout syncBuffer
	watchDone := make(chan int)
	go func() { watchDone <- run(wctx, []string{"--home", alice, "watch"}, nil, &wout, &wout) }()
	parley(t, "--home", mallory, "send", "alice", "again"+escTitle+"\n"+posing)
	live := regexp.MustCompile(`(?m)mallory: again\\x1b\]0;title\\x07\n {10,}` + posing + `\n`)
	await.NoError(t, 2*time.Minute, "watch to print mallory's message", func() error {
		if s := wout.String(); !live.MatchString(s) {
			return fmt.Errorf("watch printed %q, not matching %s", s, live)
		}
		return nil
	})
	stopWatch()
	<-watchDone
	assertInert(t, "watch", wout.String())

	// A group mallory makes and names.
	parley(t, "--home", mallory, "group", "create", escTitle+rlo+"friends", "alice")
	groups := parley(t, "--home", alice, "group", "list")
	assertInert(t, "group list", groups)
	id := regexp.MustCompile(`^\\x1b\]0;title\\x07\\u202efriends\t([0-9a-f]{32})\tby mallory\t`).FindStringSubmatch(groups)
	if id == nil {
		t.Fatalf("group list: %q", groups)
	}
	parley(t, "--home", alice, "group", "list") // gives mallory alice's key
	parley(t, "--home", mallory, "group", "send", id[1], "all"+escClear+"\n"+posing)
	gread := parley(t, "--home", alice, "group", "read", id[1])
	assertInert(t, "group read", gread)
	if want := regexp.MustCompile(`(?m)mallory: all\\x1b\[2J\n {10,}` + posing + `\n`); !want.MatchString(gread) {
		t.Errorf("group read: %q does not match %s", gread, want)
	}

	// A reference is a name and a number: mallory's own parley refuses one
	// holding escapes (and alice's refuses to take one: TestEventMessage).
	if evilRef != 2 || !strings.Contains(evilRefErr, "is not a message reference") {
		t.Errorf("a reply to a reference holding escapes: exit %d, %q", evilRef, evilRefErr)
	}
}
