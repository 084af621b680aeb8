package main

import (
	"strings"
	"testing"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/wire"
)

// TestFormatIsTerminalSafe: what others write cannot drive the terminal.
func TestFormatIsTerminalSafe(t *testing.T) {
	evil := "hi\x1b]0;pwned\x07\x1b[2J\rthere\u009b"
	m := client.Message{From: "alice", To: "bob", Kind: wire.KindText, Text: evil, Emoji: evil,
		Reactions: map[string]string{"bob": "\x1b[31m"}, File: &wire.FileRef{Name: "a\x1bb", Size: 1}}
	for _, out := range []string{formatMessage(m, ""), formatEvent(client.Message{From: "alice", Kind: wire.KindReact, Emoji: evil, Ref: &wire.Ref{By: "bob"}})} {
		for _, r := range out {
			if r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r < 0xa0 {
				t.Fatalf("control character %U printed in %q", r, out)
			}
		}
		if !strings.Contains(out, "hi") {
			t.Fatalf("text lost: %q", out)
		}
	}
	if got := cleanLine("a\nb"); strings.Contains(got, "\n") {
		t.Fatalf("a one-line field kept a newline: %q", got)
	}
}
