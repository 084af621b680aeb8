package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

var errFull = errors.New("hub: quota exceeded")

func TestPlain(t *testing.T) {
	for _, tc := range []struct{ err, want string }{
		{"client: send bob: hubclient: put m/1: quota exceeded", "send bob: put m/1: quota exceeded"},
		{"lookup: not found: name \"bob\"", "not found: name \"bob\""},
		{"client", "client"},
		{"dial tcp 127.0.0.1:1: connect: connection refused", "dial tcp 127.0.0.1:1: connect: connection refused"},
	} {
		if got := Plain(errors.New(tc.err)); got != tc.want {
			t.Errorf("Plain(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestRunExplains: an error is shown as its explanation and hint; its
// whole chain only with --verbose or PROG_DEBUG; a usage error exits 2.
func TestRunExplains(t *testing.T) {
	explain := func(err error) (string, string) {
		if errors.Is(err, errFull) {
			return "your hub is full", "delete something"
		}
		return "", ""
	}
	for _, tc := range []struct {
		args  []string
		env   string
		code  int
		lines []string
	}{
		{[]string{"fail"}, "", 1, []string{"prog: your hub is full", "prog: hint: delete something"}},
		{[]string{"-v", "fail"}, "", 1, []string{"prog: your hub is full", "prog: hint: delete something", "prog: detail: client: send: hub: quota exceeded"}},
		{[]string{"fail"}, "1", 1, []string{"prog: your hub is full", "prog: hint: delete something", "prog: detail: client: send: hub: quota exceeded"}},
		{[]string{"other"}, "", 1, []string{"prog: send: something else"}},
		{[]string{"nope"}, "", 2, []string{`prog: unknown command "nope" for "prog"`, "prog: hint: run 'prog help' for usage"}},
	} {
		t.Setenv("PROG_DEBUG", tc.env)
		root := &cobra.Command{Use: "prog"}
		root.AddCommand(&cobra.Command{Use: "fail", RunE: func(*cobra.Command, []string) error { return fmt.Errorf("client: send: %w", errFull) }},
			&cobra.Command{Use: "other", RunE: func(*cobra.Command, []string) error { return errors.New("client: send: something else") }})
		var out, errb bytes.Buffer
		code := Run(context.Background(), "prog", root, tc.args, nil, &out, &errb, explain)
		if got := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n"); code != tc.code || strings.Join(got, "|") != strings.Join(tc.lines, "|") {
			t.Errorf("prog %v: exit %d, stderr:\n%s\nwant exit %d, %q", tc.args, code, errb.String(), tc.code, tc.lines)
		}
	}
}

func TestVersion(t *testing.T) {
	root := &cobra.Command{Use: "prog"}
	var out bytes.Buffer
	root.AddCommand(VersionCmd(root, &out, "(extra)"))
	if code := Run(context.Background(), "prog", root, []string{"--version"}, nil, &out, &out, nil); code != 0 {
		t.Fatalf("--version: exit %d: %s", code, out.String())
	}
	Run(context.Background(), "prog", root, []string{"version"}, nil, &out, &out, nil)
	want := "prog " + Version() + " (extra)\n"
	if out.String() != want+want || !strings.Contains(Version(), "go1.") {
		t.Fatalf("printed %q, want %q twice", out.String(), want)
	}
}
