package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/parley-im/parley/client"
)

// pair registers alice and bob and makes them contacts, alice asking.
func pair(t *testing.T) (rpc string, hubs []string, h map[string]string) {
	rpc, hubs = startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	h = world(t, rpc, hubs[0], "alice", "bob")
	parley(t, "--home", h["alice"], "contacts", "add", "bob")
	parley(t, "--home", h["bob"], "contacts", "accept", "alice")
	parley(t, "--home", h["bob"], "read", "alice")
	return rpc, hubs, h
}

// runIn runs parley with stdin and returns the exit code, stdout and stderr.
func runIn(stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// TestSendText: empty and blank messages are refused; send - reads the
// text from standard input, up to the most a message holds, and errors
// count what the user typed; send says what happened.
func TestSendText(t *testing.T) {
	_, _, h := pair(t)
	for _, args := range [][]string{{""}, {"   "}, {" \n\t "}, {"-"}} {
		stdin := ""
		if args[0] == "-" {
			stdin = "  \n"
		}
		code, out, errb := runIn(stdin, append([]string{"--home", h["alice"], "send", "bob"}, args...)...)
		if code != 2 || errb != "parley: the message is empty: nothing was sent\nparley: hint: run 'parley help' for usage\n" {
			t.Fatalf("send %q: exit %d\n%s%s", args, code, out, errb)
		}
	}

	// The most a message holds, from standard input, each character one
	// JSON escapes; then one byte more.
	most := strings.Repeat(`"`, client.MaxTextBytes-len("end\n")) + "end\n"
	code, out, errb := runIn(most+"\n", "--home", h["alice"], "send", "bob", "-")
	if code != 0 || !strings.HasPrefix(out, "sent (alice/") {
		t.Fatalf("send - of %d bytes: exit %d\n%s%s", len(most), code, out, errb)
	}
	if got := parley(t, "--home", h["bob"], "read", "alice"); !strings.Contains(got, "alice: "+strings.TrimSuffix(most, "\n")+"\n") {
		t.Fatalf("bob did not read the %d bytes whole", len(most))
	}
	code, out, errb = runIn(most+"xx", "--home", h["alice"], "send", "bob", "-")
	if code != 1 || errb != "parley: the message on standard input is more than 65536 bytes, the most a message holds\nparley: hint: shorten it, or send it as a file: parley send-file NAME FILE\n" {
		t.Fatalf("send - of one byte too many: exit %d\n%s%s", code, out, errb)
	}
	code, out, errb = runIn("", "--home", h["alice"], "send", "bob", strings.Repeat("é", 35000))
	if code != 1 || !strings.HasPrefix(errb, "parley: the message is 70000 bytes (35000 characters); a message holds at most 65536 bytes\n") {
		t.Fatalf("send of 35000 é: exit %d\n%s%s", code, out, errb)
	}
	code, out, errb = runIn("", "--home", h["alice"], "send", "bob", strings.Repeat("\x01", 30000))
	if code != 1 || !strings.HasPrefix(errb, "parley: the message is 30000 bytes (30000 characters), 30000 of them control characters, which take 6 bytes each in a message: it does not fit\n") {
		t.Fatalf("send of 30000 control characters: exit %d\n%s%s", code, out, errb)
	}
	code, out, errb = runIn("caf\xe9\n", "--home", h["alice"], "send", "bob", "-")
	if code != 1 || errb != "parley: the message is not UTF-8 text: nothing was sent\n" {
		t.Fatalf("send - of Latin-1: exit %d\n%s%s", code, out, errb)
	}
	if got := parley(t, "--home", h["bob"], "read", "alice", "--last", "1"); !strings.HasSuffix(got, "end\n") {
		t.Fatalf("bob reads something refused:\n%s", got)
	}

	// edit checks its text as send does, and reads - too.
	if code, out, errb := runIn("", "--home", h["alice"], "edit", "bob", "1", "  "); code != 2 || !strings.HasPrefix(errb, "parley: the message is empty: nothing was sent\n") {
		t.Fatalf("edit to a blank text: exit %d\n%s%s", code, out, errb)
	}
	if code, out, errb := runIn("hello again, from standard input\n", "--home", h["alice"], "edit", "bob", "1", "-"); code != 0 {
		t.Fatalf("edit -: exit %d\n%s%s", code, out, errb)
	}
	if got := parley(t, "--home", h["bob"], "read", "alice"); !strings.Contains(got, "[alice/1] alice: hello again, from standard input (edited)\n") {
		t.Fatalf("bob reads the edit:\n%s", got)
	}
}
