package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/cobra"
)

// TestExplainSystem: what an operator reads of the errors a daemon meets
// most when it starts, from the real calls that make them.
func TestExplainSystem(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, inUse := net.Listen("tcp", l.Addr().String())
	missing := filepath.Join(t.TempDir(), "nope")
	_, notExist := os.ReadFile(missing)
	// What opening a file of another user gives (made here: as root, the
	// tests could open anything).
	denied := &fs.PathError{Op: "open", Path: "/var/lib/hubd", Err: syscall.EACCES}
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l2.Addr().String()
	l2.Close()
	_, refused := net.Dial("tcp", closed)
	for _, tc := range []struct {
		err  error
		what string
	}{
		{fmt.Errorf("hubd: listen: %w", inUse), "the address " + l.Addr().String() + " is in use"},
		{fmt.Errorf("config: %w", notExist), missing + " does not exist"},
		{fmt.Errorf("node: %w", refused), closed + " does not answer (connection refused)"},
		{fmt.Errorf("disk: %w", denied), "no permission to open /var/lib/hubd"},
		{errors.New("something else"), ""},
	} {
		if what, hint := ExplainSystem(tc.err); what != tc.what || (what != "") != (hint != "") {
			t.Errorf("ExplainSystem(%v) = %q, %q; want %q with a hint", tc.err, what, hint, tc.what)
		}
	}
}

// TestFlagsFromEnv: a flag may come from PROG_FLAG, even a required one;
// the command line wins; a value the flag does not take is a usage error
// naming the variable; with global, a command's own flags do not.
func TestFlagsFromEnv(t *testing.T) {
	run := func(global bool, args ...string) (code int, got string, stderr string) {
		root := &cobra.Command{Use: "prog"}
		root.PersistentFlags().String("home", "", "")
		start := &cobra.Command{Use: "start", RunE: func(cmd *cobra.Command, _ []string) error {
			home, _ := cmd.Flags().GetString("home")
			keep, _ := cmd.Flags().GetInt("keep-recent")
			got = fmt.Sprintf("home=%s keep=%d", home, keep)
			return nil
		}}
		start.Flags().Int("keep-recent", 10, "")
		start.MarkFlagRequired("keep-recent")
		root.AddCommand(start)
		FlagsFromEnv(root, global)
		var out, errb bytes.Buffer
		code = Run(context.Background(), "prog", root, args, nil, &out, &errb, nil)
		return code, got, errb.String()
	}
	t.Setenv("PROG_HOME", "/from/env")
	t.Setenv("PROG_KEEP_RECENT", "7")
	for _, tc := range []struct {
		global bool
		args   []string
		code   int
		want   string
	}{
		{false, []string{"start"}, 0, "home=/from/env keep=7"},
		{false, []string{"start", "--home", "/flag", "--keep-recent", "9"}, 0, "home=/flag keep=9"},
		{false, []string{"--home", "/flag", "start"}, 0, "home=/flag keep=7"},
		{true, []string{"start", "--keep-recent", "9"}, 0, "home=/from/env keep=9"},
		{true, []string{"start"}, 2, ""}, // keep-recent is start's own: required, not taken from PROG_KEEP_RECENT
	} {
		code, got, errs := run(tc.global, tc.args...)
		if code != tc.code || got != tc.want {
			t.Errorf("global %v, prog %v: exit %d, %q (%s); want exit %d, %q", tc.global, tc.args, code, got, errs, tc.code, tc.want)
		}
	}
	t.Setenv("PROG_KEEP_RECENT", "many")
	if code, got, errs := run(false, "start"); code != 2 || got != "" || !strings.Contains(errs, `prog: PROG_KEEP_RECENT="many": `) {
		t.Errorf("PROG_KEEP_RECENT=many: exit %d, %q, stderr %q; want a usage error naming the variable", code, got, errs)
	}
}

// TestNewLogger: the programs' logs are JSON objects or key=value lines;
// auto is JSON on what is no terminal; another format is a usage error.
func TestNewLogger(t *testing.T) {
	for format, want := range map[string]string{"json": `{"time":`, "auto": `{"time":`, "": `{"time":`, "text": "time="} {
		var b bytes.Buffer
		l, err := NewLogger(&b, format, slog.LevelInfo)
		if err != nil {
			t.Fatalf("NewLogger(%q): %v", format, err)
		}
		l.Debug("hidden")
		l.Info("started", "listen", "127.0.0.1:4000")
		if !strings.HasPrefix(b.String(), want) || strings.Count(b.String(), "\n") != 1 || !strings.Contains(b.String(), "127.0.0.1:4000") {
			t.Errorf("NewLogger(%q) wrote %q, want one line starting %q", format, b.String(), want)
		}
	}
	var u UsageError
	if _, err := NewLogger(io.Discard, "xml", slog.LevelInfo); !errors.As(err, &u) {
		t.Errorf("NewLogger(xml): %v, want a usage error", err)
	}
	if _, err := ParseLevel("loud"); !errors.As(err, &u) {
		t.Errorf("ParseLevel(loud): %v, want a usage error", err)
	}
	if l, err := ParseLevel("WARN"); err != nil || l != slog.LevelWarn {
		t.Errorf("ParseLevel(WARN) = %v, %v", l, err)
	}
}
