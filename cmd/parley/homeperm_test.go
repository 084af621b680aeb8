package main

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/parley-im/parley/internal/agent"
)

// TestHomeOthersCanWrite: a home that other users of the machine can
// write to (made world-writable by a careless chmod, or created in a
// shared directory) lets any of them point config.json at a chain node
// and trust root of their own, after which every record the device
// trusts comes from them, replace the keystore, or put an agent socket of
// their own in it: every command would then talk to their agent, which
// reads what alice sends (and answers what it likes). parley refuses to
// use such a home, for every command (whois, which takes no lock, too),
// before it reads anything or dials the socket, and says how to fix it;
// nothing in it is changed.
func TestHomeOthersCanWrite(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	alice := users(t, rpc, hubs[0], "alice")["alice"]
	config, err := os.ReadFile(filepath.Join(alice, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Mallory plants an agent of hers: it answers every call with {} and
	// keeps what it is sent.
	var (
		mu  sync.Mutex
		got []string
	)
	ln, err := net.Listen("unix", agent.SocketPath(alice))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	})}
	go srv.Serve(ln)
	for _, mode := range []os.FileMode{0o777, 0o770, 0o702} {
		if err := os.Chmod(alice, mode); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"send", "bob", "the secret"}, {"contacts"}, {"whois", "alice"}, {"status"}} {
			code, _, errs := try(alice, args...)
			if code != 1 || !strings.Contains(errs, "can be changed by other users of this machine") || !strings.Contains(errs, "chmod go-w "+alice) {
				t.Errorf("parley %s in a home of mode %v: exit %d\n%s", args[0], mode, code, errs)
			}
		}
	}
	mu.Lock()
	if len(got) > 0 {
		t.Errorf("the agent another user put in alice's home was called:\n%s", strings.Join(got, "\n"))
	}
	mu.Unlock()
	srv.Close()
	os.Remove(agent.SocketPath(alice))

	// A fresh home in a directory others can write to is refused too.
	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(shared, 0o777)
	if code, _, errs := try(shared, "init", "--node", rpc); code != 1 || !strings.Contains(errs, "can be changed by other users of this machine") {
		t.Errorf("init in a world-writable directory: exit %d\n%s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(shared, "keystore")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("init wrote a keystore into a world-writable directory")
	}

	if after, _ := os.ReadFile(filepath.Join(alice, "config.json")); string(after) != string(config) {
		t.Error("a refused command changed config.json")
	}
	if err := os.Chmod(alice, 0o700); err != nil {
		t.Fatal(err)
	}
	parley(t, "--home", alice, "contacts")
	parley(t, "--home", alice, "whois", "alice")
}
