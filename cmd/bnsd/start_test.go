package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestStartWithoutANode: an operator who starts bnsd on a directory that
// holds no node is told so in a sentence, with what to run, and not
// CometBFT's or Go's chain of errors; BNSD_HOME stands for --home.
func TestStartWithoutANode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	for _, tc := range []struct {
		args []string
		env  string
	}{
		{[]string{"start", "--home", dir}, ""},
		{[]string{"start"}, dir},
	} {
		if tc.env != "" {
			t.Setenv("BNSD_HOME", tc.env)
		}
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, nil, &out, &errb)
		want := "bnsd: " + dir + " holds no node (no config/config.toml)\n" +
			"bnsd: hint: make one first: 'bnsd init --home DIR' (a chain of one validator), 'bnsd testnet' (several) or 'bnsd join' (an existing chain)\n"
		if code != 1 || errb.String() != want {
			t.Errorf("bnsd %v (BNSD_HOME=%q): exit %d, stderr:\n%s\nwant exit 1 and:\n%s", tc.args, tc.env, code, errb.String(), want)
		}
	}
}

// TestStartLogs: a node's log, CometBFT's and the application's, is one
// slog stream: with --log-format json every line is a JSON object with
// its time, level and module; a format bnsd does not write is a usage
// error.
func TestStartLogs(t *testing.T) {
	net := startNetwork(t, "logs-test", 1, nil, []string{"--log-level", "info", "--log-format", "json"})
	p := net.nodes[0]
	p.stop(t, syscall.SIGTERM) // the node logs its stop too
	b, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	modules := map[string]bool{}
	for _, l := range lines {
		var rec struct {
			Time, Level, Msg, Module string
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Time == "" || rec.Level == "" || rec.Msg == "" {
			t.Fatalf("a log line that is no slog JSON record (%v): %s", err, l)
		}
		modules[rec.Module] = true
	}
	if len(lines) < 10 || !modules["consensus"] || !modules["state"] {
		t.Fatalf("%d lines, modules %v: want CometBFT's consensus and state logs", len(lines), modules)
	}

	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"start", "--home", p.home, "--log-format", "xml"}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), `bnsd: --log-format "xml": want json, text or auto`) {
		t.Fatalf("--log-format xml: exit %d, %s", code, errb.String())
	}
}
