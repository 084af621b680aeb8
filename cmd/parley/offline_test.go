package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/chain/node"
	"github.com/parley-im/parley/chain/node/nodetest"
	"github.com/parley-im/parley/hub/driver/memory"
	"github.com/parley-im/parley/hub/server"
	"github.com/parley-im/parley/hub/server/hubtest"
	"github.com/parley-im/parley/internal/await"
)

// nodeStatus asks the node at rpc, as an operator would (out of band),
// for the oldest block it keeps and its newest header.
func nodeStatus(t *testing.T, rpc string) (earliest, height int64, hash string) {
	t.Helper()
	c, err := rpchttp.New(rpc, "/websocket")
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.SyncInfo.EarliestBlockHeight, st.SyncInfo.LatestBlockHeight, lookup.HashString(st.SyncInfo.LatestBlockHash)
}

// homeConfig reads and rewrites a home's config.json.
func homeConfig(t *testing.T, home string, edit func(*config)) config {
	t.Helper()
	var cfg config
	b, err := os.ReadFile(filepath.Join(home, "config.json"))
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&cfg)
		b, _ = json.Marshal(cfg)
		if err := os.WriteFile(filepath.Join(home, "config.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

// fails runs the CLI, expecting exit code want, and returns its stdout
// and stderr.
func fails(t *testing.T, want int, args ...string) (string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), args, nil, &out, &errb); code != want {
		t.Fatalf("parley %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out.String(), errb.String())
	}
	return out.String(), errb.String()
}

// TestOfflineLongerThanNodesKeepBlocks: alice's device last ran at height
// h; the chain moves on and its node (keeping 5 blocks) prunes everything
// below h+20. Her next commands verify forward from the headers her device
// verified before. Then, past the trusting period, parley says so and
// how to pin a new header, and trusts nothing the node says meanwhile;
// 'parley settings trust' with a recent header puts her back.
func TestOfflineLongerThanNodesKeepBlocks(t *testing.T) {
	n := nodetest.StartNode(t, "prune-cli", nil, node.StartOptions{KeepRecent: 5})
	hub := hubtest.Start(t, nil)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	alice := filepath.Join(t.TempDir(), "alice")
	initHome(t, n.URL, alice)
	parley(t, "--home", alice, "register", "alice", "--hub", hub.URL)
	h := homeConfig(t, alice, nil).TrustHeight

	await.True(t, 2*time.Minute, "the node to prune below the height alice last verified", func() bool {
		earliest, _, _ := nodeStatus(t, n.URL)
		return earliest > h+20
	})
	if out := parley(t, "--home", alice, "name"); !strings.Contains(out, "name:     alice (verified by proof)") {
		t.Fatalf("name after the node pruned the blocks alice last saw:\n%s", out)
	}
	if out := parley(t, "--home", alice, "whois", "alice"); !strings.Contains(out, "name:     alice (verified by proof)") {
		t.Fatalf("whois after pruning:\n%s", out)
	}
	if got := homeConfig(t, alice, nil).TrustHeight; got <= h+20 {
		t.Fatalf("trust height %d after verifying forward from %d", got, h)
	}

	// Past the trusting period (here 1 ms, set by hand): refused, with the
	// way back, and nothing taken from the node.
	before := homeConfig(t, alice, func(c *config) { c.TrustPeriod = "1ms" })
	_, errs := fails(t, 1, "--home", alice, "name")
	if !strings.Contains(errs, "older than the trusting period") || !strings.Contains(errs, "hint: this device was offline longer than the trusting period") ||
		!strings.Contains(errs, "'parley settings trust --trust-height H --trust-hash HEX'") {
		t.Fatalf("past the trusting period:\n%s", errs)
	}
	if after := homeConfig(t, alice, nil); after.TrustHeight != before.TrustHeight || after.TrustHash != before.TrustHash {
		t.Fatalf("the trust root moved from %d to %d while the trusting period was over", before.TrustHeight, after.TrustHeight)
	}

	// A recent header, learned out of band, pinned again.
	homeConfig(t, alice, func(c *config) { c.TrustPeriod = "" })
	_, height, hash := nodeStatus(t, n.URL)
	if out := parley(t, "--home", alice, "settings", "trust", "--trust-height", strconv.FormatInt(height, 10), "--trust-hash", hash); !strings.Contains(out, "trusting height "+strconv.FormatInt(height, 10)) {
		t.Fatalf("settings trust: %s", out)
	}
	if out := parley(t, "--home", alice, "name"); !strings.Contains(out, "name:     alice (verified by proof)") {
		t.Fatalf("name after pinning a new header:\n%s", out)
	}
	_, errs = fails(t, 2, "--home", alice, "settings", "trust", "--trust-height", "5", "--trust-hash", "xyz")
	if !strings.Contains(errs, "64 hex digits") {
		t.Fatalf("settings trust with a bad hash: %s", errs)
	}
}

// stoppableHub is a real hub (memory driver) whose listener a test can
// close and open again on the same address, its data kept: a hub that is
// down, then back.
type stoppableHub struct {
	URL  string
	t    *testing.T
	addr string
	srv  *server.Server
	http *http.Server
}

func startStoppableHub(t *testing.T) *stoppableHub {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &stoppableHub{URL: "http://" + l.Addr().String(), t: t, addr: l.Addr().String()}
	if h.srv, err = server.New(server.Config{Driver: memory.New(), PublicURL: h.URL, InboxPowDifficulty: 6}); err != nil {
		t.Fatal(err)
	}
	h.serve(l)
	t.Cleanup(func() { h.stop(); h.srv.Close() })
	return h
}

func (h *stoppableHub) serve(l net.Listener) {
	h.http = &http.Server{Handler: h.srv.Handler()}
	go h.http.Serve(l)
}

// stop closes the listener and every connection: the hub refuses
// connections until start.
func (h *stoppableHub) stop() {
	if h.http != nil {
		h.http.Close()
		h.http = nil
	}
}

func (h *stoppableHub) start() {
	h.t.Helper()
	l, err := net.Listen("tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.serve(l)
}

// offlineLine checks that a command's stderr says, in exactly one line,
// that what (a chain node or hub URL) did not answer, and shows no
// connection error besides.
func offlineLine(t *testing.T, cmd, stderr string, what ...string) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.HasPrefix(l, "parley: offline: ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || strings.Contains(stderr, "dial tcp") || strings.Contains(stderr, "hubclient") || strings.Contains(stderr, "lookup:") {
		t.Fatalf("%s: stderr should say once what did not answer:\n%s", cmd, stderr)
	}
	for _, w := range what {
		if !strings.Contains(lines[0], w+" does not answer (connection refused)") {
			t.Fatalf("%s: the offline line does not name %s:\n%s", cmd, w, stderr)
		}
	}
}

// TestOfflineUse: with the chain node stopped, then with a hub stopped,
// what lives on the device still works from the user's seat: contacts,
// search, read, group list, settings, profile; each command says once
// what did not answer; what is sent waits and goes out once things are
// back, and the other side reads it then. With the chain down, a message
// waits even though the hubs answer: it leaves only once the contact's
// keys are checked.
func TestOfflineUse(t *testing.T) {
	n := nodetest.StartNode(t, "offline-cli", nil, node.StartOptions{})
	hubA, hubB := startStoppableHub(t), startStoppableHub(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	alice, bob := filepath.Join(t.TempDir(), "alice"), filepath.Join(t.TempDir(), "bob")
	initHome(t, n.URL, alice)
	initHome(t, n.URL, bob)
	parley(t, "--home", alice, "register", "alice", "--hub", hubA.URL)
	parley(t, "--home", bob, "register", "bob", "--hub", hubB.URL)
	awaitName(t, alice, "bob")
	awaitName(t, bob, "alice")
	parley(t, "--home", alice, "profile", "set", "--name", "Alice A.")
	parley(t, "--home", bob, "profile", "set", "--name", "Bob B.")
	parley(t, "--home", alice, "contacts", "add", "bob", "--message", "hello bob")
	parley(t, "--home", bob, "contacts", "accept", "alice")
	parley(t, "--home", bob, "read", "alice")
	parley(t, "--home", bob, "send", "alice", "hello alice")
	parley(t, "--home", alice, "read", "bob")
	parley(t, "--home", alice, "group", "create", "lunch", "bob")
	parley(t, "--home", bob, "group", "list")
	parley(t, "--home", alice, "profile", "bob")
	parley(t, "--home", bob, "profile", "alice")
	parley(t, "--home", bob, "contacts")

	// The chain node stops.
	n.Stop()
	chainNode := "chain node " + n.URL
	do := func(home string, args ...string) (string, string) {
		t.Helper()
		return fails(t, 0, append([]string{"--home", home}, args...)...)
	}
	out, errs := do(alice, "contacts")
	if !strings.HasPrefix(out, "bob (Bob B.)\tkeys as confirmed, not re-checked (the chain does not answer)") {
		t.Fatalf("contacts with the chain down:\n%s", out)
	}
	offlineLine(t, "contacts", errs, chainNode)
	out, errs = do(alice, "search", "HELLO")
	if !strings.Contains(out, "alice: hello bob") || !strings.Contains(out, "bob: hello alice") {
		t.Fatalf("search with the chain down:\n%s", out)
	}
	offlineLine(t, "search", errs, chainNode)
	out, errs = do(alice, "read", "bob")
	if !strings.Contains(out, "alice: hello bob [read]") || !strings.Contains(out, "bob: hello alice") {
		t.Fatalf("read with the chain down:\n%s", out)
	}
	offlineLine(t, "read", errs, chainNode)
	out, errs = do(alice, "group", "list")
	if !strings.Contains(out, "lunch\t") || !strings.Contains(out, "alice,bob") {
		t.Fatalf("group list with the chain down:\n%s", out)
	}
	offlineLine(t, "group list", errs, chainNode)
	if out, errs = do(alice, "settings"); !strings.Contains(out, "read-receipts: on") {
		t.Fatalf("settings with the chain down:\n%s", out)
	}
	offlineLine(t, "settings", errs, chainNode)
	if out, errs = do(alice, "profile"); !strings.Contains(out, "name:   Alice A.") {
		t.Fatalf("profile with the chain down:\n%s", out)
	}
	offlineLine(t, "profile", errs, chainNode)
	if out, errs = do(alice, "profile", "bob"); !strings.Contains(out, "name:   Bob B.") {
		t.Fatalf("bob's profile with the chain down:\n%s", out)
	}
	offlineLine(t, "profile bob", errs, chainNode)
	out, errs = do(alice, "send", "bob", "sent while the chain was down")
	if !strings.HasPrefix(out, "queued (alice/") || !strings.Contains(out, "the chain does not answer, and bob's keys are checked on it first; it goes out with your next parley command") {
		t.Fatalf("send with the chain down:\n%s%s", out, errs)
	}
	offlineLine(t, "send", errs, chainNode)
	if out, _ := do(alice, "read", "bob"); !strings.Contains(out, "alice: sent while the chain was down [queued]") {
		t.Fatalf("the message sent with the chain down:\n%s", out)
	}
	if out, _ := do(bob, "read", "alice"); strings.Contains(out, "sent while the chain was down") {
		t.Fatalf("the message went out before alice's device could check bob's keys:\n%s", out)
	}
	// What needs the chain itself says so in one line (whois of a name
	// this device never verified: bob's it verified, and answers from).
	_, errs = fails(t, 1, "--home", alice, "whois", "carol")
	if !strings.HasPrefix(errs, "parley: "+chainNode+" does not answer (connection refused)\nparley: hint: ") || strings.Count(errs, "\n") != 2 {
		t.Fatalf("whois with the chain down:\n%s", errs)
	}

	// The chain is back: the message goes out with alice's next command.
	n.Restart()
	await.True(t, 2*time.Minute, "the chain to answer again", func() bool {
		var o, e bytes.Buffer
		return run(context.Background(), []string{"--home", alice, "whois", "bob"}, nil, &o, &e) == 0 && !strings.Contains(e.String(), "the chain does not answer")
	})
	if _, errs := do(alice, "status"); strings.Contains(errs, "offline") {
		t.Fatalf("status once the chain is back:\n%s", errs)
	}
	if out, _ := do(bob, "read", "alice"); !strings.Contains(out, "alice: sent while the chain was down") {
		t.Fatalf("bob reads, once the chain is back:\n%s", out)
	}

	// Alice's hub stops: bob reads what he has, alice's sends queue.
	hubA.stop()
	out, errs = do(bob, "read", "alice")
	if !strings.Contains(out, "alice: hello bob") || !strings.Contains(out, "alice: sent while the chain was down") {
		t.Fatalf("bob reads with alice's hub down:\n%s", out)
	}
	offlineLine(t, "read (a hub down)", errs, "hub "+hubA.URL)
	out, errs = do(bob, "contacts")
	if !strings.HasPrefix(out, "alice (Alice A.)\tkeys as confirmed") {
		t.Fatalf("bob's contacts with alice's hub down:\n%s", out)
	}
	offlineLine(t, "contacts (a hub down)", errs, "hub "+hubA.URL)
	if out, errs = do(bob, "profile", "alice"); !strings.Contains(out, "name:   Alice A.") {
		t.Fatalf("alice's profile with her hub down:\n%s", out)
	}
	offlineLine(t, "profile alice (a hub down)", errs, "hub "+hubA.URL)
	out, errs = do(alice, "send", "bob", "sent while my hub was down")
	if !strings.HasPrefix(out, "queued (alice/") || !strings.Contains(out, "your hub "+hubA.URL+" does not answer; it goes out with your next parley command") {
		t.Fatalf("send with alice's hub down:\n%s%s", out, errs)
	}
	offlineLine(t, "send (a hub down)", errs, "hub "+hubA.URL)
	out, _ = do(alice, "search", "hub was down")
	if !strings.Contains(out, "alice: sent while my hub was down") {
		t.Fatalf("search with the hub down:\n%s", out)
	}
	for _, args := range [][]string{{"group", "list"}, {"settings"}, {"profile"}} {
		if _, errs := do(alice, args...); strings.Contains(errs, "dial tcp") || strings.Count(errs, "parley: offline: ") > 1 {
			t.Fatalf("%v with alice's hub down:\n%s", args, errs)
		}
	}

	hubA.start()
	do(alice, "contacts") // any command sends what waits
	if out, _ := do(bob, "read", "alice"); !strings.Contains(out, "alice: sent while my hub was down") {
		t.Fatalf("bob reads, once alice's hub is back:\n%s", out)
	}
}

// TestWhoisFromVerifiedRecords: alice looks carol (not a contact) up while
// the chain answers; the chain node stops. A new parley process (no agent
// running: each command starts afresh) still answers 'whois carol' with
// the record and history it verified, sealed in her home, saying that the
// chain does not answer and at which height it was verified; so does a
// daemon started with the chain down; a contact never looked up is
// answered with the record confirmed for it, and a name never verified
// gets the chain's error. The records file names nobody in the clear.
func TestWhoisFromVerifiedRecords(t *testing.T) {
	n := nodetest.StartNode(t, "whois-cache", nil, node.StartOptions{})
	hub := startStoppableHub(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	homes := world(t, n.URL, hub.URL, "dave", "alice", "bob", "carol") // dave awaits the names: alice looks up none
	alice := homes["alice"]
	inTouch(t, alice, homes["bob"])
	live := parley(t, "--home", alice, "whois", "carol")
	if !strings.Contains(live, "name:     carol (verified by proof)") || !strings.Contains(live, "safety:") {
		t.Fatalf("whois carol, the chain up:\n%s", live)
	}
	sealed, err := os.ReadFile(filepath.Join(alice, "records"))
	if err != nil {
		t.Fatalf("whois kept no record in the home: %v", err)
	}
	if !bytes.HasPrefix(sealed, []byte("parley/records/v1\n")) || bytes.Contains(sealed, []byte("carol")) {
		t.Fatalf("the records file is not sealed: %q", sealed[:min(len(sealed), 64)])
	}
	_, stopped, _ := nodeStatus(t, n.URL)

	n.Stop()
	// Without the safety line (it needs the chain's answer of the moment),
	// what whois shows is what the device verified.
	withoutSafety := func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(l, "safety:") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	height := regexp.MustCompile(`^parley: the chain does not answer: carol as this device verified it at height (\d+) \(`)
	cached := func(who string, out, errs string) {
		t.Helper()
		if out != withoutSafety(live) {
			t.Fatalf("%s: whois carol, the chain down:\n%s\nwant what was verified:\n%s", who, out, withoutSafety(live))
		}
		m := height.FindStringSubmatch(errs)
		if m == nil {
			t.Fatalf("%s: whois carol, the chain down, does not say so and from which height:\n%s", who, errs)
		}
		if h, _ := strconv.ParseInt(m[1], 10, 64); h <= 0 || h > stopped {
			t.Fatalf("%s: verified at height %d, the chain stopped at %d", who, h, stopped)
		}
	}
	out, errs := fails(t, 0, "--home", alice, "whois", "carol")
	cached("a new process", out, errs)
	if _, errs := fails(t, 1, "--home", alice, "whois", "dave"); !strings.HasPrefix(errs, "parley: chain node "+n.URL+" does not answer (connection refused)\n") {
		t.Fatalf("whois of a name never verified, the chain down:\n%s", errs)
	}

	// A daemon started with the chain down answers the same, and serves
	// the commands.
	d := startDaemon(t, alice)
	d.serving(t, alice)
	out, errs = fails(t, 0, "--home", alice, "whois", "carol")
	cached("the daemon", out, errs)
	out, errs = fails(t, 0, "--home", alice, "whois", "bob")
	if !strings.Contains(out, "name:     bob (verified by proof)") || !strings.HasPrefix(errs, "parley: the chain does not answer: bob as this device holds it (the record of the contact, as last checked)\n") {
		t.Fatalf("whois of a contact never looked up, the chain down:\n%s%s", out, errs)
	}
	if _, errs := fails(t, 1, "--home", alice, "whois", "dave"); !strings.Contains(errs, "does not answer") {
		t.Fatalf("whois of a name never verified, served by the daemon, the chain down:\n%s", errs)
	}
}
