package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/node"
	"github.com/parley-im/parley/chain/node/nodetest"
	"github.com/parley-im/parley/internal/await"
)

// runCLI runs parley and returns its exit code, stdout and stderr.
func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runWith(context.Background(), testRun(), args, nil, &out, &errb)
	return code, out.String(), errb.String()
}

// ownerKey is the owner key init printed for home.
func ownerKey(t *testing.T, initOut string) string {
	t.Helper()
	m := regexp.MustCompile(`owner key: (ed25519:[0-9a-f]{64})`).FindStringSubmatch(initOut)
	if m == nil {
		t.Fatalf("init printed no owner key: %s", initOut)
	}
	return m[1]
}

// interruptedRegister runs 'parley register name' in home and stops it
// (as Ctrl-C would) once its preorder has committed and is saved.
func interruptedRegister(t *testing.T, home, name, hub string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	preordered := await.Background(ctx, func() bool {
		if preorderSaved(home) {
			cancel()
			return true
		}
		return false
	})
	var out, errb bytes.Buffer
	run(ctx, []string{"--home", home, "register", name, "--hub", hub}, nil, &out, &errb)
	cancel()
	<-preordered
	if !strings.Contains(out.String(), "preorder committed at height") || strings.Contains(out.String(), "registered "+name) {
		t.Fatalf("the interrupted register did not stop between preorder and reveal:\n%s%s", out.String(), errb.String())
	}
}

// TestSquatterResumes: a squatter's 'parley register alice' is interrupted
// once its preorder commits; the victim then registers alice; the squatter
// resumes: refused, clearly, and the victim keeps the name, as a third
// person's whois shows.
func TestSquatterResumes(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	dir := t.TempDir()
	squatter, victim, reader := filepath.Join(dir, "squatter"), filepath.Join(dir, "victim"), filepath.Join(dir, "reader")
	for _, home := range []string{squatter, reader} {
		initHome(t, rpc, home)
	}
	victimKey := ownerKey(t, parley(t, "--home", victim, "init", "--node", rpc))

	interruptedRegister(t, squatter, "alice", hubs[0])
	if out := parley(t, "--home", victim, "register", "alice", "--hub", hubs[1]); !strings.Contains(out, "registered alice") {
		t.Fatalf("the victim's register: %s", out)
	}
	code, out, errb := runCLI("--home", squatter, "register", "alice", "--hub", hubs[0])
	if code != 1 || !strings.Contains(out, "resuming: preorder of alice") ||
		!strings.Contains(errb, "parley: alice is taken: someone else registered it first, and a registration is final") {
		t.Fatalf("the squatter resumes: exit %d\n%s%s", code, out, errb)
	}
	if _, err := os.Stat(filepath.Join(squatter, "register.json")); !os.IsNotExist(err) {
		t.Fatalf("the void preorder is still pending: %v", err)
	}
	who := parley(t, "--home", reader, "whois", "alice")
	if !strings.Contains(who, "owner:    "+victimKey+"\n") || !strings.Contains(who, "hubs:     "+hubs[1]+"\n") ||
		!regexp.MustCompile(`history:\n +1  height \d+ +register\n$`).MatchString(who) {
		t.Fatalf("whois alice, from a third home (the victim's key is %s):\n%s", victimKey, who)
	}
}

// TestRegisterFromTheUsersSeat: with one-second blocks, as a person's
// network has: a name just registered is found by someone else at once; a
// second registration from the same home right after works; a hub that
// does not answer is refused (unless --force); a name outside ASCII is
// refused showing the character as typed and the rules.
func TestRegisterFromTheUsersSeat(t *testing.T) {
	rpc, hubs := startWorldWith(t, func(o *node.Options) { o.BlockTime = time.Second })
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	dir := t.TempDir()
	alice, bob := filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	initHome(t, rpc, alice)
	initHome(t, rpc, bob)

	parley(t, "--home", alice, "register", "alice", "--hub", hubs[0])
	if code, out, errb := runCLI("--home", bob, "whois", "alice"); code != 0 || !strings.Contains(out, "name:     alice (verified by proof)") {
		t.Fatalf("bob's whois right after alice registered: exit %d\n%s%s", code, out, errb)
	}
	// The owner key left alice's device with her first name: a second
	// takes her recovery phrase.
	if code, _, errb := runCLI("--home", alice, "register", "alice-two", "--hub", hubs[0]); code != 1 || !strings.Contains(errb, "registering alice-two needs your recovery phrase") {
		t.Fatalf("a second registration without the phrase: exit %d\n%s", code, errb)
	}
	t.Setenv(phraseEnv, phraseOf(t, alice))
	if code, out, errb := runCLI("--home", alice, "register", "alice-two", "--hub", hubs[0]); code != 0 || !strings.Contains(out, "registered alice-two") {
		t.Fatalf("a second registration from the same home: exit %d\n%s%s", code, out, errb)
	}
	t.Setenv(phraseEnv, "")

	// A hub that does not answer: nothing goes to the chain...
	dead := "http://127.0.0.1:1"
	code, _, errb := runCLI("--home", bob, "register", "bob", "--hub", dead)
	if code != 1 || !strings.Contains(errb, "parley: hub "+dead+" does not answer as a Parley hub (connection refused): nothing was registered") ||
		!strings.Contains(errb, "--force") {
		t.Fatalf("register with a dead hub: exit %d\n%s", code, errb)
	}
	if _, err := os.Stat(filepath.Join(bob, "register.json")); !os.IsNotExist(err) {
		t.Fatalf("a registration started with a dead hub: %v", err)
	}
	// ...unless the person insists.
	if out := parley(t, "--home", bob, "register", "bob", "--hub", dead, "--force"); !strings.Contains(out, "registered bob") {
		t.Fatalf("register --force: %s", out)
	}

	for _, tc := range []struct{ name, says string }{
		{"josé", `parley: invalid name "josé": 'é' (U+00E9) is not allowed (a name is 1 to 40 characters from a-z, 0-9 and '-', starts with a letter, does not end with '-' and has no "--")`},
		{"Bob", `parley: invalid name "Bob": 'B' is uppercase (use 'b')`},
	} {
		code, _, errb := runCLI("--home", bob, "register", tc.name, "--hub", hubs[0])
		if code != 2 || !strings.Contains(errb, tc.says) {
			t.Fatalf("register %s: exit %d\n%s", tc.name, code, errb)
		}
		if code, _, errb := runCLI("--home", bob, "whois", tc.name); code != 1 || !strings.Contains(errb, tc.says) {
			t.Fatalf("whois %s: exit %d\n%s", tc.name, code, errb)
		}
	}
}

// TestRequestRightAfterRegistering: bob registers and at once asks alice
// to be a contact; alice's next command sees bob's request, verified, not
// refused as from an unknown sender.
func TestRequestRightAfterRegistering(t *testing.T) {
	rpc, hubs := startWorldWith(t, func(o *node.Options) { o.BlockTime = time.Second })
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	dir := t.TempDir()
	alice, bob := filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	initHome(t, rpc, alice)
	initHome(t, rpc, bob)
	parley(t, "--home", alice, "register", "alice", "--hub", hubs[0])
	parley(t, "--home", bob, "register", "bob", "--hub", hubs[1])
	parley(t, "--home", bob, "contacts", "add", "alice", "--message", "hi, bob here")
	if out := parley(t, "--home", alice, "requests"); !strings.Contains(out, "bob\t(signature verified against the chain)") || strings.Contains(out, "refused") {
		t.Fatalf("alice's requests:\n%s", out)
	}
}

// TestInitWaitsForFirstBlock: init against a node that has not made its
// first block yet waits for it, saying so, instead of failing.
func TestInitWaitsForFirstBlock(t *testing.T) {
	rpc := nodetest.StartWith(t, "cli-test", func(o *node.Options) { o.BlockTime = 3 * time.Second })
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	code, out, errb := runCLI("--home", filepath.Join(t.TempDir(), "a"), "init", "--node", rpc)
	if code != 0 || !strings.Contains(out, "identity created") || !strings.Contains(errb, "parley: chain cli-test has no block yet: waiting for its first one") {
		t.Fatalf("init before the first block: exit %d\n%s%s", code, out, errb)
	}
}

// TestStatusInGrace: once the name has expired, status and name say so
// and how long renewal stays possible (never "-6 blocks from now");
// renewing brings it back.
func TestStatusInGrace(t *testing.T) {
	rpc, hubs := startWorldWith(t, func(o *node.Options) { o.Params.NameLifetime, o.Params.GracePeriod = 40, 100000 })
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	alice := filepath.Join(t.TempDir(), "alice")
	initHome(t, rpc, alice)
	parley(t, "--home", alice, "register", "alice", "--hub", hubs[0])
	name := await.Value(t, 2*time.Minute, "alice's name to expire", func() (string, error) {
		name := parley(t, "--home", alice, "name")
		if !strings.Contains(name, "EXPIRED") {
			return "", fmt.Errorf("name says:\n%s", name)
		}
		return name, nil
	})
	grace := regexp.MustCompile(`EXPIRED at height \d+ \(\d+ blocks ago\): only you can renew it, for \d+ more blocks \(until height \d+\), then anyone may register it: run 'parley name renew'`)
	status := parley(t, "--home", alice, "status")
	for what, out := range map[string]string{"name": name, "status": status} {
		if !grace.MatchString(out) || regexp.MustCompile(`-\d+ blocks`).MatchString(out) {
			t.Fatalf("%s in the grace period:\n%s", what, out)
		}
	}
	parley(t, "--home", alice, "name", "renew")
	if out := parley(t, "--home", alice, "status"); !regexp.MustCompile(`name:     alice, expires at height \d+ \(\d+ blocks from now\)`).MatchString(out) {
		t.Fatalf("status after renewing:\n%s", out)
	}
}
