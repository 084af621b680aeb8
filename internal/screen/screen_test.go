package screen

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text, ünïcödé, 👍", "plain text, ünïcödé, 👍"},
		{"\x1b]0;title\x07\x1b[2J", `\x1b]0;title\x07\x1b[2J`},
		{"a\nb\tc\rd", `a\nb\tc\rd`},
		{"\x00\x7f", `\x00\x7f`},
		{"\u009b31m", `\u009b31m`},
		{"\u202eevil\u202c", `\u202eevil\u202c`},
		{"\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u202a\u202b\u202d", `\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u202a\u202b\u202d`},
		{"\u2028\u2029", `\u2028\u2029`},
		{"bad \xff utf-8", `bad \xff utf-8`},
		{`already \x1b escaped`, `already \x1b escaped`},
		// Invisible characters: a display name "ali\u200bce" looked like
		// "alice", one of fillers looked empty, and tag characters carried
		// hidden text.
		{"ali\u200bce", `ali\u200bce`},
		{"\ufeff\u2060\u00ad\u3164\u115f\u180e", `\ufeff\u2060\u00ad\u3164\u115f\u180e`},
		{"hi\U000E0041\U000E0042", `hi\ue0041\ue0042`},
		// What scripts and emoji need stays: joiners, variation
		// selectors, a flag's tag sequence.
		{"👨\u200d👩\u200d👧 ❤\ufe0f می\u200cخواهم", "👨\u200d👩\u200d👧 ❤\ufe0f می\u200cخواهم"},
		{"🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F", "🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F"},
		{"🏴x\U000E0041", `🏴x\ue0041`},
	} {
		got := Line(tc.in)
		if got != tc.want {
			t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if Line(got) != got {
			t.Errorf("Line is not idempotent on %q", tc.in)
		}
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"one line", "one line"},
		{"hi\nyou: send me your passphrase", "hi\n  > you: send me your passphrase"},
		{"a\r\nb\n\n", "a\n  > b"},
		{"tab\there\n\x1b[2J", "tab    here\n  > \\x1b[2J"},
	} {
		if got := Text(tc.in, "  > ").String(); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPrintf(t *testing.T) {
	type op string
	var b bytes.Buffer
	Printf(&b, "%s|%v|%d|%s|%s|%q|%s|%x\n", "a\nb", errors.New("e\x1b"), 7, op("o\x07"), []string{"x\ty"}, "q\n", Text("1\n2", " "), []byte{1})
	if got, want := b.String(), `a\nb|e\x1b|7|o\x07|[x\ty]|"q\\n"|1`+"\n 2|01\n"; got != want {
		t.Errorf("Printf printed %q, want %q", got, want)
	}
	var bl Builder
	bl.Printf("[%s] %s: ", "bob/1", "bob")
	bl.Text("hi\nthere")
	bl.Printf(" %s", "\u202e")
	if got, want := bl.Block().String(), "[bob/1] bob: hi\n             there \\u202e"; got != want {
		t.Errorf("Builder built %q, want %q", got, want)
	}
}

// TestWriter: whatever reaches the writer is escaped, runes cut between
// two writes included; control sequences go to terminals only.
func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b, false)
	for _, p := range []string{"ok\t\n", "\x1b[2J", "é"[:1], "é"[1:], "\u202e"[:2], "\u202e"[2:] + "\n"} {
		if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	w.Control("\r")
	if got, want := b.String(), "ok\t\n\\x1b[2Jé\\u202e\n"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
	b.Reset()
	tw := NewWriter(&b, true)
	tw.Control("\r")
	if !tw.Terminal() || b.String() != "\r" {
		t.Errorf("a terminal writer wrote %q", b.String())
	}
	if IsTerminal(&b) {
		t.Error("a buffer is a terminal")
	}
}

func FuzzLine(f *testing.F) {
	for _, s := range []string{"a", "\x1b[2J", "\u202e", "\xff", "a\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Line(s)
		for _, r := range got {
			if !inert(r) {
				t.Fatalf("Line(%q) = %q keeps %U", s, got, r)
			}
		}
		if strings.ContainsRune(got, '\uFFFD') && !strings.ContainsRune(s, '\uFFFD') {
			t.Fatalf("Line(%q) = %q replaced a byte", s, got)
		}
		if Line(got) != got {
			t.Fatalf("Line(%q) not idempotent", s)
		}
	})
}
