package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/api"
)

// TestFormatIsTerminalSafe: what others write cannot drive the terminal,
// nor reorder it, nor add a line of its own; each hostile byte is shown
// escaped, exactly.
func TestFormatIsTerminalSafe(t *testing.T) {
	evil := "hi\x1b]0;pwned\x07\x1b[2J\rthere\u009b"
	for name, tc := range map[string]struct {
		got  string
		want string
	}{
		"text": {formatMessage(api.Message{From: "alice", Label: "alice/1", Kind: "text", Text: evil}, "", clock{}).String(),
			`[alice/1] alice: hi\x1b]0;pwned\x07\x1b[2J\rthere\u009b`},
		"second line": {formatMessage(api.Message{From: "alice", Label: "alice/2", Kind: "text", Text: "hi\n" + posing + "\r\n\tok\n"}, "", clock{}).String(),
			"[alice/2] alice: hi\n                 " + posing + "\n                     ok"},
		"reference": {formatMessage(api.Message{From: "alice", Label: "alice/0", Kind: "text", Text: "x", Ref: &api.Ref{By: escTitle + escClear, Seq: 3}, RefLabel: escTitle + escClear + "/3"}, "", clock{}).String(),
			`[alice/0] alice: ↪ \x1b]0;title\x07\x1b[2J/3 x`},
		"file, reaction": {formatMessage(api.Message{From: "bob", Label: "bob/0", Kind: "text", File: &api.File{Name: "invoice" + rlo + "fdp.exe", Size: 1},
			Reactions: map[string]string{"alice": escClear + "\n"}}, "sent", clock{}).String(),
			`[bob/0] bob: 📎 invoice\u202efdp.exe (1 B; get-file bob/0) \x1b[2J\nalice [sent]`},
		"unsupported": {formatMessage(api.Message{From: "bob", Kind: "unsupported", Text: "wire: malformed: \n" + posing}, "", clock{}).String(),
			`bob: (a message this version cannot show: wire: malformed: \n` + posing + `)`},
		"reaction event": {formatEvent(api.Message{From: "alice", Kind: "react", Emoji: evil, Ref: &api.Ref{By: "bob\u2066"}, RefLabel: "bob\u2066/0"}, clock{}).String(),
			`alice reacted hi\x1b]0;pwned\x07\x1b[2J\rthere\u009b to bob\u2066/0`},
		"request event": {formatRequest(api.Request{From: "alice", Greeting: evil}, clock{}).String(),
			`alice wants to become a contact (signature checked against the chain): hi\x1b]0;pwned\x07\x1b[2J\rthere\u009b — parley contacts accept alice`},
		"edit event": {formatEvent(api.Message{From: "alice", Kind: "edit", Text: "a\nb", Ref: &api.Ref{By: "alice", Seq: 4}, RefLabel: "alice/4"}, clock{}).String(),
			"alice edited alice/4: a\n                      b"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", name, tc.got, tc.want)
		}
		assertInert(t, name, tc.got)
	}
	_ = time.Now
}

// TestEveryPrintGoesThroughTheScreen: the commands print only through the
// screen layer (screen.Printf, screen.Println, a screen.Writer), so none
// can put what someone else wrote on the terminal raw.
// streamsOK are the files that may name the standard streams: main.go
// wraps them in the screen's writers; exec_front_other.go hands them to
// parley-core (which prints through its own) where there is no exec(2).
var streamsOK = map[string]bool{"main.go": true, "exec_front_other.go": true}

func TestEveryPrintGoesThroughTheScreen(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		checked++
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			switch name := x.Name + "." + sel.Sel.Name; {
			case x.Name == "fmt" && strings.Contains(sel.Sel.Name, "Print"),
				name == "io.WriteString", name == "io.Copy", name == "os.Stdout" && !streamsOK[f], name == "os.Stderr" && !streamsOK[f]:
				t.Errorf("%s uses %s: print through internal/screen instead", f, name)
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no source file checked")
	}
}
