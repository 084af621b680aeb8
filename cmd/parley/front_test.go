package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/agent"
	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/await"
)

// buildParley builds the front-end (parley) and the full build
// (parley-core) into dir, as make build installs them.
func buildParley(t testing.TB, dir string) (front, core string) {
	t.Helper()
	front, core = filepath.Join(dir, "parley"), filepath.Join(dir, "parley-core")
	for _, args := range [][]string{{"build", "-o", core, "."}, {"build", "-tags", "front", "-o", front, "."}} {
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return front, core
}

// TestFrontEndLinksNoChain: the front-end build links none of the chain's,
// the client's or the agent's packages (their package initialisation is
// what made every command cost tens of milliseconds before it began).
func TestFrontEndLinksNoChain(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "front", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/parley-im/parley/internal/api") {
		t.Fatalf("go list -deps gave no internal/api: %q", out)
	}
	// Each of these and the packages under it; client/wire, client/keystore
	// and client/ratchet (formats and crypto) are allowed.
	banned := []string{"github.com/cometbft/cometbft", "github.com/cosmos", "google.golang.org/grpc", "google.golang.org/protobuf",
		"github.com/prometheus", "github.com/parley-im/parley/internal/agent", "github.com/parley-im/parley/internal/desktop",
		"github.com/parley-im/parley/chain/lookup", "github.com/parley-im/parley/client/hubclient", "github.com/parley-im/parley/client/store"}
	for _, d := range deps {
		if d == "github.com/parley-im/parley/client" || slices.ContainsFunc(banned, func(p string) bool { return d == p || strings.HasPrefix(d, p+"/") }) {
			t.Errorf("the front-end links %s", d)
		}
	}
}

// TestFrontEnd is what a person who installed bin/parley and
// bin/parley-core lives through: with no agent, parley hands the command
// to parley-core; with an agent running, parley serves the command itself
// on the agent's socket (here with parley-core gone, to show that it
// needs none); without parley-core and without an agent it says what to
// install; and 'parley daemon' becomes parley-core in the same process.
func TestFrontEnd(t *testing.T) {
	dir := t.TempDir()
	front, core := buildParley(t, dir)
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "correct horse battery staple")
	alice, bob := aliceAndBob(t, rpc, hubs[0], hubs[1])
	inTouch(t, alice, bob)

	// No parley-core but the one beside the front-end.
	env := append(os.Environ(), "PATH=/usr/bin:/bin")
	exe := func(args ...string) (stdout, stderr string, code int) {
		cmd := exec.Command(front, append([]string{"--home", alice}, args...)...)
		cmd.Env = env
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return o.String(), e.String(), exit.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return o.String(), e.String(), 0
	}
	bobReads := func(want string) {
		t.Helper()
		if out := parley(t, "--home", bob, "read", "alice"); !strings.Contains(out, "alice: "+want) {
			t.Fatalf("bob reads %q, without %q", out, want)
		}
	}

	// No agent runs: parley-core serves the command, from its start
	// (the text comes from standard input, read once, by parley-core).
	cmd := exec.Command(front, "--home", alice, "send", "bob", "-")
	cmd.Env, cmd.Stdin = env, strings.NewReader("one-shot, through parley-core\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "sent (alice/") {
		t.Fatalf("send with no agent: %v\n%s", err, out)
	}
	bobReads("one-shot, through parley-core")

	// An agent runs: the front-end serves commands alone.
	hidden := filepath.Join(t.TempDir(), "parley-core")
	if err := os.Rename(core, hidden); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, alice)
	d.serving(t, alice)
	if out, errs, code := exe("send", "bob", "served by the agent"); code != 0 || !strings.Contains(out, "sent (alice/") || errs != "" {
		t.Fatalf("send with an agent: exit %d\n%s%s", code, out, errs)
	}
	bobReads("served by the agent")
	parley(t, "--home", bob, "send", "alice", "and back")
	await.NoError(t, 2*time.Minute, "alice's agent to have bob's answer", func() error {
		out, errs, code := exe("read", "bob", "--last", "5")
		if code != 0 || !strings.Contains(out, "bob: and back") || !strings.Contains(out, "alice: served by the agent") {
			return errors.New(out + errs)
		}
		return nil
	})
	if code := d.end(t); code != 0 {
		t.Fatalf("the daemon exited %d", code)
	}

	// No agent, no parley-core: said, with what to do; nothing is sent.
	out, errs, code := exe("send", "bob", "never sent")
	if code != 1 || out != "" ||
		!strings.Contains(errs, "parley: parley-core, which serves parley's commands when no agent runs, is neither beside "+front+" nor in PATH\n") ||
		!strings.Contains(errs, "parley: hint: install it beside parley ('make build' puts both in bin/)") {
		t.Fatalf("send with neither an agent nor parley-core: exit %d\n%s%s", code, out, errs)
	}
	if out, errs, code := exe("version"); code != 0 || !strings.Contains(out, "parley ") || !strings.Contains(out, "front-end") {
		t.Fatalf("version: exit %d\n%s%s", code, out, errs)
	}

	// parley daemon: parley-core in the same process (its PID serves the
	// socket, a SIGTERM to it stops it cleanly).
	if err := os.Rename(hidden, core); err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command(front, "--home", alice, "daemon")
	daemon.Env = env
	var logs syncBuffer
	daemon.Stderr = &logs
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { daemon.Process.Kill(); daemon.Wait() })
	info := await.Value(t, 2*time.Minute, "parley daemon to serve", func() (api.AgentInfo, error) {
		info, err := api.NewUnix(agent.SocketPath(alice)).Agent(context.Background())
		if err != nil {
			return info, errors.New(err.Error() + "; its log: " + logs.String())
		}
		return info, nil
	})
	if info.PID != daemon.Process.Pid || info.Mode != api.ModeDaemon {
		t.Fatalf("the agent serving is pid %d in mode %s, want parley daemon's pid %d", info.PID, info.Mode, daemon.Process.Pid)
	}
	if out, errs, code := exe("send", "bob", "to the daemon parley started"); code != 0 {
		t.Fatalf("send: exit %d\n%s%s", code, out, errs)
	}
	bobReads("to the daemon parley started")
	daemon.Process.Signal(syscall.SIGTERM)
	if err := daemon.Wait(); err != nil || !strings.Contains(logs.String(), "stopping") {
		t.Fatalf("parley daemon after SIGTERM: %v\n%s", err, logs.String())
	}
}
