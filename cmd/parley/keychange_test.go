package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/parley-im/parley/chain/node"
	"github.com/parley-im/parley/hub/server/hubtest"
	"github.com/parley-im/parley/internal/await"
)

// try runs the CLI in home and returns its exit code, stdout and stderr.
func try(home string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"--home", home}, args...), nil, &out, &errb)
	return code, out.String(), errb.String()
}

// users makes a home per name, registered on hub, and waits until each
// finds the others on the chain.
func users(t testing.TB, rpc, hub string, names ...string) map[string]string {
	t.Helper()
	homes := map[string]string{}
	for _, n := range names {
		homes[n] = filepath.Join(t.TempDir(), n)
		initHome(t, rpc, homes[n])
		parley(t, "--home", homes[n], "register", n, "--hub", hub)
	}
	for _, n := range names {
		for _, m := range names {
			awaitName(t, homes[n], m)
		}
	}
	return homes
}

// befriend makes a and b contacts: a asks, b accepts and answers, a reads.
func befriend(t testing.TB, homes map[string]string, a, b string) {
	t.Helper()
	parley(t, "--home", homes[a], "contacts", "add", b, "--message", "hi "+b)
	parley(t, "--home", homes[b], "contacts", "accept", a)
	parley(t, "--home", homes[b], "send", a, "hi "+a)
	if out := parley(t, "--home", homes[a], "read", b); !strings.Contains(out, b+": hi "+a) {
		t.Fatalf("%s reads %s:\n%s", a, b, out)
	}
}

// Names that lapse: a name lives lapseLifetime blocks (100 s of the test
// chain's 50 ms blocks), then lapseGrace more of grace; afterwards anyone
// may register it, and its contacts send it nothing (it is free). The
// tests on such a chain spend minutes waiting for its clock: they run in
// parallel (t.Parallel, PARLEY_PASSPHRASE from TestMain), after the
// others, side by side.
const (
	lapseLifetime, lapseGrace = 2000, 20
	// lapseMargin is how many blocks after the first name (the one that
	// lapses) the others are registered: they outlive it by as many,
	// time to renew them once it is free.
	lapseMargin = 600
)

func lapsingNames(o *node.Options) {
	o.Params.NameLifetime, o.Params.GracePeriod = lapseLifetime, lapseGrace
}

// lapseFirst registers first, then, lapseMargin blocks later, others, each
// in a home of its own on hub, and waits until each finds the others.
func lapseFirst(t *testing.T, rpc, hub, first string, others ...string) map[string]string {
	t.Helper()
	homes := users(t, rpc, hub, first)
	awaitChainHeight(t, rpc, expiresAt(t, homes[first], first)-lapseLifetime+lapseMargin)
	for n, h := range users(t, rpc, hub, others...) {
		homes[n] = h
	}
	for _, n := range others {
		awaitName(t, homes[n], first)
		awaitName(t, homes[first], n)
	}
	return homes
}

// expiresAt is the expiry height of name as whois shows it in home.
func expiresAt(t *testing.T, home, name string) int64 {
	t.Helper()
	m := regexp.MustCompile(`expires:  height (\d+)`).FindStringSubmatch(awaitName(t, home, name))
	if m == nil {
		t.Fatalf("whois %s shows no expiry", name)
	}
	expires, _ := strconv.ParseInt(m[1], 10, 64)
	return expires
}

// takeOver waits until name's registration and grace are over, renews
// the names of the homes in keep (registered after it: lapseFirst), then
// registers name again from a new home, carol's, on hub.
func takeOver(t *testing.T, rpc, hub, viewer, name string, keep ...string) (carol string) {
	t.Helper()
	awaitChainHeight(t, rpc, expiresAt(t, viewer, name)+lapseGrace)
	for _, h := range keep {
		parley(t, "--home", h, "name", "renew")
	}
	carol = filepath.Join(t.TempDir(), "carol")
	initHome(t, rpc, carol)
	parley(t, "--home", carol, "register", name, "--hub", hub)
	return carol
}

// TestRevokedNameIsNotWrittenTo: bob revokes his name. Alice can neither
// send to it nor confirm it (a clear error each time), and bob's device
// reads nothing she tried to send after the revocation.
func TestRevokedNameIsNotWrittenTo(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	homes := users(t, rpc, hubs[0], "alice", "bob")
	alice, bob := homes["alice"], homes["bob"]
	befriend(t, homes, "alice", "bob")

	t.Setenv(phraseEnv, phraseOf(t, bob))
	parley(t, "--home", bob, "name", "revoke", "--confirm", "bob")
	awaitName(t, alice, "bob", "REVOKED")
	for _, args := range [][]string{{"send", "bob", "after the revocation"}, {"contacts", "confirm", "bob"}, {"send", "bob", "after confirming"}} {
		code, _, errs := try(alice, args...)
		if code != 1 || !strings.Contains(errs, "parley: bob's name was revoked at height ") || !strings.Contains(errs, "nothing can be sent to it") {
			t.Errorf("alice: parley %s: exit %d\n%s", strings.Join(args, " "), code, errs)
		}
	}
	if out := parley(t, "--home", alice, "contacts"); !strings.Contains(out, "bob\tREVOKED at height ") {
		t.Errorf("alice's contacts after bob revoked his name:\n%s", out)
	}
	if out := parley(t, "--home", bob, "read", "alice"); strings.Contains(out, "after the revocation") || strings.Contains(out, "after confirming") {
		t.Errorf("bob's device reads what alice sent after the revocation:\n%s", out)
	}
}

// TestNameTakenOverAfterExpiry: bob's name expires and carol registers
// "bob". Alice is warned; confirming starts the conversation over with a
// request sealed to carol's keys, which carol accepts like any request;
// carol reads what alice writes from then on, and bob's old device reads
// nothing alice sent after the change.
func TestNameTakenOverAfterExpiry(t *testing.T) {
	t.Parallel() // its time goes in waiting for the chain's clock: see lapsingNames
	rpc, hubs := startWorldWith(t, lapsingNames)
	homes := lapseFirst(t, rpc, hubs[0], "bob", "alice")
	alice, bob := homes["alice"], homes["bob"]
	befriend(t, homes, "alice", "bob")
	parley(t, "--home", alice, "send", "bob", "before the change")
	if out := parley(t, "--home", bob, "read", "alice"); !strings.Contains(out, "alice: before the change") {
		t.Fatalf("bob reads:\n%s", out)
	}

	carol := takeOver(t, rpc, hubtest.Start(t, nil).URL, alice, "bob", alice)
	awaitName(t, alice, "bob", "  2  height ") // the second registration
	code, _, errs := try(alice, "send", "bob", "sent after the change, before confirming")
	if code != 1 || !strings.Contains(errs, "bob's name changed hands at height ") || !strings.Contains(errs, "parley contacts confirm bob") {
		t.Errorf("alice sends to the new bob unconfirmed: exit %d\n%s", code, errs)
	}
	if out := parley(t, "--home", alice, "contacts"); !strings.Contains(out, "bob\tKEYS CHANGED at height ") {
		t.Errorf("alice's contacts after the takeover:\n%s", out)
	}
	// The new holder's own request is no way around confirming.
	parley(t, "--home", carol, "contacts", "add", "alice", "--message", "hi alice, I am bob now")
	if code, _, errs := try(alice, "contacts", "accept", "bob"); code != 1 || !strings.Contains(errs, "bob's name changed hands at height ") {
		t.Errorf("alice accepts the new bob's request unconfirmed: exit %d\n%s", code, errs)
	}
	if out := parley(t, "--home", alice, "contacts", "confirm", "bob"); !strings.Contains(out, "new request sent to bob") {
		t.Errorf("confirm: %s", out)
	}
	parley(t, "--home", alice, "send", "bob", "welcome, new bob")
	if out := parley(t, "--home", bob, "read", "alice"); strings.Contains(out, "after the change") || strings.Contains(out, "welcome, new bob") || strings.Contains(out, "confirmed") {
		t.Errorf("the old bob reads what alice sent after the change:\n%s", out)
	}

	if out := parley(t, "--home", carol, "requests"); !strings.Contains(out, "alice") {
		t.Fatalf("carol's requests:\n%s", out)
	}
	parley(t, "--home", carol, "contacts", "accept", "alice")
	out := parley(t, "--home", carol, "read", "alice")
	if !strings.Contains(out, "alice: welcome, new bob") || strings.Contains(out, "before the change") || strings.Contains(out, "before confirming") {
		t.Fatalf("carol reads:\n%s", out)
	}
	parley(t, "--home", carol, "send", "alice", "hello, I am the new bob")
	if out := parley(t, "--home", alice, "read", "bob"); !strings.Contains(out, "bob: hello, I am the new bob") || !strings.Contains(out, "[earlier bob/") {
		t.Fatalf("alice reads:\n%s", out)
	}
	if out := parley(t, "--home", bob, "read", "alice"); strings.Contains(out, "welcome, new bob") {
		t.Fatalf("the old bob reads:\n%s", out)
	}
}

// groupUntil runs 'group list' (which takes in rosters and keys and gives
// the user's) in every home, round after round, until ok holds; if it
// never does, it shows what each home reads of group.
func groupUntil(t *testing.T, what, group string, homes []string, ok func() bool) {
	t.Helper()
	settled := await.Within(3*time.Minute, func() bool {
		if ok() {
			return true
		}
		for _, h := range homes {
			parley(t, "--home", h, "group", "list")
		}
		return false
	})
	if !settled {
		var b strings.Builder
		for _, h := range homes {
			_, out, errs := try(h, "group", "read", group)
			fmt.Fprintf(&b, "%s:\n%s%s", filepath.Base(h), out, errs)
		}
		t.Fatalf("waited 3m0s for %s\n%s", what, b.String())
	}
}

// reads reports whether 'group read GROUP' in home shows every one of want.
func reads(t *testing.T, home, group string, want ...string) bool {
	t.Helper()
	code, out, _ := try(home, "group", "read", group)
	if code != 0 {
		return false // not in the group (yet)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			return false
		}
	}
	return true
}

// TestGroupMemberTakenOver: bob's name in a group changes hands. The old
// bob reads nothing any member sends after the change; the new holder
// gets no sender key from a member until that member confirms the new
// keys, and reads each member from then on.
func TestGroupMemberTakenOver(t *testing.T) {
	t.Parallel() // its time goes in waiting for the chain's clock: see lapsingNames
	rpc, hubs := startWorldWith(t, lapsingNames)
	homes := lapseFirst(t, rpc, hubs[0], "bob", "alice", "dave")
	alice, bob, dave := homes["alice"], homes["bob"], homes["dave"]
	befriend(t, homes, "alice", "bob")
	befriend(t, homes, "alice", "dave")
	parley(t, "--home", alice, "group", "create", "crew", "bob", "dave")
	parley(t, "--home", alice, "group", "send", "crew", "from alice")
	groupUntil(t, "bob and dave read alice", "crew", []string{bob, dave, alice}, func() bool {
		return reads(t, bob, "crew", "alice: from alice") && reads(t, dave, "crew", "alice: from alice")
	})
	parley(t, "--home", dave, "group", "send", "crew", "from dave")
	groupUntil(t, "bob reads dave", "crew", []string{bob, dave, alice}, func() bool { return reads(t, bob, "crew", "dave: from dave") })

	carol := takeOver(t, rpc, hubtest.Start(t, nil).URL, alice, "bob", alice, dave)
	awaitName(t, alice, "bob", "  2  height ")
	awaitName(t, dave, "bob", "  2  height ")
	parley(t, "--home", alice, "group", "send", "crew", "alice after the change")
	parley(t, "--home", dave, "group", "send", "crew", "dave after the change")
	if out := parley(t, "--home", alice, "group", "read", "crew"); !strings.Contains(out, "bob's keys changed") {
		t.Errorf("alice's group history shows no key change:\n%s", out)
	}
	for range 2 {
		for _, h := range []string{bob, carol, alice, dave} {
			try(h, "group", "list")
		}
	}
	if out := parley(t, "--home", bob, "group", "read", "crew"); strings.Contains(out, "after the change") {
		t.Errorf("the old bob reads what the group sent after the change:\n%s", out)
	}
	if out := parley(t, "--home", carol, "group", "list"); out != "" {
		t.Errorf("the new bob got the group before anyone confirmed her keys:\n%s", out)
	}

	// Alice confirms: the new bob gets alice's roster and key, not dave's.
	parley(t, "--home", alice, "contacts", "confirm", "bob")
	parley(t, "--home", carol, "contacts", "accept", "alice")
	groupUntil(t, "the new bob has the group", "crew", []string{alice, carol}, func() bool {
		return strings.Contains(parley(t, "--home", carol, "group", "list"), "crew\t")
	})
	parley(t, "--home", alice, "group", "send", "crew", "alice to the new bob")
	parley(t, "--home", dave, "group", "send", "crew", "dave, unconfirmed")
	groupUntil(t, "the new bob reads alice", "crew", []string{alice, carol, dave}, func() bool {
		return reads(t, carol, "crew", "alice: alice to the new bob")
	})
	if out := parley(t, "--home", carol, "group", "read", "crew"); strings.Contains(out, "after the change") || strings.Contains(out, "dave, unconfirmed") || strings.Contains(out, "from alice") {
		t.Errorf("the new bob reads what was not sent to her:\n%s", out)
	}

	// Dave confirms too: the new bob reads dave from then on.
	parley(t, "--home", dave, "contacts", "confirm", "bob")
	parley(t, "--home", dave, "group", "send", "crew", "dave to the new bob")
	groupUntil(t, "the new bob reads dave", "crew", []string{alice, carol, dave}, func() bool {
		return reads(t, carol, "crew", "dave: dave to the new bob")
	})
	parley(t, "--home", carol, "group", "send", "crew", "the new bob writes")
	groupUntil(t, "alice and dave read the new bob", "crew", []string{alice, carol, dave}, func() bool {
		return reads(t, alice, "crew", "bob: the new bob writes") && reads(t, dave, "crew", "bob: the new bob writes")
	})
	if out := parley(t, "--home", bob, "group", "read", "crew"); strings.Contains(out, "new bob") || strings.Contains(out, "unconfirmed") {
		t.Errorf("the old bob reads:\n%s", out)
	}
}

// chainHeight returns the chain's head at rpc.
func chainHeight(t *testing.T, rpc string) int64 {
	t.Helper()
	node, err := rpchttp.New(rpc, "/websocket")
	if err != nil {
		t.Fatal(err)
	}
	st, err := node.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.SyncInfo.LatestBlockHeight
}

// awaitChainHeight waits until the chain at rpc is past height h.
func awaitChainHeight(t *testing.T, rpc string, h int64) {
	t.Helper()
	await.True(t, 5*time.Minute, fmt.Sprintf("the chain to pass height %d", h), func() bool { return chainHeight(t, rpc) > h })
}

// TestContactsNameLapses: bob lets his name expire and its grace period
// pass. From then on anyone may register "bob", and alice cannot know,
// when a message leaves, whether someone did in the blocks her node has
// not shown her yet: her send is refused with a clear error (and nothing
// to confirm), contacts says why, and bob's device reads nothing. When bob
// registers the name again with his keys, alice writes to him again
// without confirming anything.
func TestContactsNameLapses(t *testing.T) {
	t.Parallel() // its time goes in waiting for the chain's clock: see lapsingNames
	rpc, hubs := startWorldWith(t, lapsingNames)
	homes := lapseFirst(t, rpc, hubs[1], "bob", "alice")
	alice, bob := homes["alice"], homes["bob"]
	expires := expiresAt(t, alice, "bob")
	befriend(t, homes, "alice", "bob")

	awaitChainHeight(t, rpc, expires+lapseGrace)
	parley(t, "--home", alice, "name", "renew")
	code, _, errs := try(alice, "send", "bob", "to a free name")
	if code != 1 || !strings.Contains(errs, fmt.Sprintf("parley: bob's name expired at height %d and its grace period is over: anyone may register it now, so nothing is sent to it", expires)) ||
		!strings.Contains(errs, "there is nothing to confirm") {
		t.Fatalf("alice sends to bob's free name: exit %d\n%s", code, errs)
	}
	if out := parley(t, "--home", alice, "contacts"); !strings.Contains(out, fmt.Sprintf("bob\tEXPIRED at height %d, and anyone may register it now", expires)) {
		t.Fatalf("alice's contacts once bob's name is free:\n%s", out)
	}
	if code, _, errs := try(alice, "contacts", "confirm", "bob"); code != 1 || !strings.Contains(errs, "anyone may register it now") {
		t.Fatalf("alice confirms bob's free name: exit %d\n%s", code, errs)
	}
	if out := parley(t, "--home", bob, "read", "alice"); strings.Contains(out, "to a free name") {
		t.Fatalf("bob reads what alice sent to his free name:\n%s", out)
	}

	// Bob takes his name again, with the keys his device holds (and his
	// recovery phrase: the owner key left the device when he first
	// registered).
	phrase := phraseOf(t, bob)
	var regOut, regErr bytes.Buffer
	if c := runWith(context.Background(), testRunAsking(func(string) ([]byte, error) { return []byte(phrase), nil }),
		[]string{"--home", bob, "register", "bob", "--hub", hubs[1]}, nil, &regOut, &regErr); c != 0 {
		t.Fatalf("bob registers his name again: exit %d\n%s%s", c, regOut.String(), regErr.String())
	}
	await.NoError(t, 2*time.Minute, "alice's send to bob once he registered his name again", func() error {
		code, _, errs := try(alice, "send", "bob", "welcome back")
		if code != 0 && !strings.Contains(errs, "anyone may register it") {
			t.Fatalf("alice sends to bob once he registered his name again: exit %d\n%s", code, errs)
		}
		if code != 0 {
			return errors.New(errs)
		}
		return nil
	})
	if out := parley(t, "--home", bob, "read", "alice"); !strings.Contains(out, "alice: welcome back") {
		t.Fatalf("bob reads, once his name is his again:\n%s", out)
	}
}
