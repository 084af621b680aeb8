package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/node"
	"github.com/parley-im/parley/chain/node/nodetest"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/hub/server/hubtest"
	"github.com/parley-im/parley/internal/agent"
	"github.com/parley-im/parley/internal/await"
)

func startWorld(t testing.TB) (rpc string, hubs []string) { return startWorldWith(t, nil) }

// startWorldWith is startWorld on a chain whose options tweak adjusts
// (genesis params, say).
func startWorldWith(t testing.TB, tweak func(*node.Options)) (rpc string, hubs []string) {
	rpc = nodetest.StartWith(t, "cli-test", tweak)
	for i := 0; i < 2; i++ {
		hubs = append(hubs, hubtest.Start(t, nil).URL)
	}
	// Wait for the node's first blocks.
	await.NoError(t, 2*time.Minute, "the chain to start", func() error {
		var out bytes.Buffer
		if run(context.Background(), []string{"--home", t.TempDir(), "whois", "nobody"}, nil, &out, &out); !strings.Contains(out.String(), "no identity") {
			return fmt.Errorf("whois said %q", out.String())
		}
		return nil
	})
	return rpc, hubs
}

// initHome runs init in home once the chain at rpc has a committed block.
// The recovery phrase it showed is kept beside the home (phraseOf).
func initHome(t testing.TB, rpc, home string) {
	t.Helper()
	await.NoError(t, 2*time.Minute, "init of "+home, func() error {
		var out, errb bytes.Buffer
		if runWith(context.Background(), testRun(), []string{"--home", home, "init", "--node", rpc}, nil, &out, &errb) == 0 {
			return os.WriteFile(home+".phrase", []byte(phraseIn(t, out.String())), 0o600)
		}
		if strings.Contains(errb.String(), "passphrase too weak") {
			t.Fatalf("init: %s", errb.String()) // a test passphrase needs 12 characters, as any
		}
		return fmt.Errorf("init: %s", errb.String())
	})
}

// awaitName waits until what whois name says, run in home, holds each
// of want (just that the name exists, without), and returns it.
func awaitName(t testing.TB, home, name string, want ...string) string {
	t.Helper()
	return await.Value(t, 2*time.Minute, fmt.Sprintf("whois %s to say %q", name, want), func() (string, error) {
		var out, errb bytes.Buffer
		if run(context.Background(), []string{"--home", home, "whois", name}, nil, &out, &errb) == 0 &&
			!slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(out.String(), w) }) {
			return out.String(), nil
		}
		return "", fmt.Errorf("whois said %s%s", out.String(), errb.String())
	})
}

// awaitOutput waits until out holds want.
func awaitOutput(t *testing.T, what string, out *syncBuffer, want string) {
	t.Helper()
	await.NoError(t, 2*time.Minute, what, func() error {
		if s := out.String(); !strings.Contains(s, want) {
			return fmt.Errorf("printed %q", s)
		}
		return nil
	})
}

// preorderSaved reports whether register.json in home holds a committed
// preorder.
func preorderSaved(home string) bool {
	b, err := os.ReadFile(filepath.Join(home, "register.json"))
	return err == nil && bytes.Contains(b, []byte(`"preorder_height":`)) && !bytes.Contains(b, []byte(`"preorder_height":0`))
}

// testRun is what tests run parley with: backups with the least Argon2id
// cost there is (restores find them only with the same).
func testRun() runOptions {
	cheap := keystore.KDF{Time: 1, Memory: 64, Threads: 1}
	return runOptions{client: []client.Option{client.WithBackupKDF(cheap)}, keystoreKDF: &cheap}
}

// testRunAsking is testRun with ask in place of the terminal prompt.
func testRunAsking(ask func(prompt string) ([]byte, error)) runOptions {
	o := testRun()
	o.ask = ask
	return o
}

// parley runs the CLI and fails the test on a non-zero exit.
func parley(t testing.TB, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := runWith(context.Background(), testRun(), args, nil, &out, &errb); code != 0 {
		t.Fatalf("parley %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return out.String()
}

func TestCLI(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "correct horse battery staple")
	alice, bob := filepath.Join(t.TempDir(), "alice"), filepath.Join(t.TempDir(), "bob")
	initHome(t, rpc, alice)
	initHome(t, rpc, bob)
	if out := parley(t, "--home", alice, "register", "alice", "--hub", hubs[0], "--hub", hubs[1]); !strings.Contains(out, "registered alice") {
		t.Fatalf("register: %s", out)
	}
	parley(t, "--home", bob, "register", "bob", "--hub", hubs[1])

	// whois, verified, with key history and a safety number; a free name is proved absent.
	who := awaitName(t, alice, "bob")
	if !strings.Contains(who, "verified by proof") || !strings.Contains(who, "register") || !strings.Contains(who, "MLKEM768-X25519") || !strings.Contains(who, "safety:") {
		t.Fatalf("whois: %s", who)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--home", alice, "whois", "nobody"}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "proved absent") {
		t.Fatalf("whois of a free name: %d %s", code, errb.String())
	}

	parley(t, "--home", alice, "contacts", "add", "bob", "--message", "hi bob, alice here")
	if out := parley(t, "--home", bob, "requests"); !strings.Contains(out, "alice") {
		t.Fatalf("requests: %s", out)
	}
	parley(t, "--home", bob, "contacts", "accept", "alice")
	if out := parley(t, "--home", bob, "read", "alice"); !strings.Contains(out, "alice: hi bob, alice here") {
		t.Fatalf("bob reads: %s", out)
	}
	parley(t, "--home", bob, "send", "alice", "hello alice")
	if out := parley(t, "--home", alice, "read", "bob"); !strings.Contains(out, "bob: hello alice") || !strings.Contains(out, "alice: hi bob") {
		t.Fatalf("alice reads: %s", out)
	}
	if out := parley(t, "--home", alice, "contacts"); !strings.HasPrefix(out, "bob\tkeys as confirmed, not verified") {
		t.Fatalf("contacts: %q", out)
	}
	// Verified in person: alice compares their safety number with the one
	// bob's whois of her prints, and gives it back.
	number := regexp.MustCompile(`safety number of you and bob: ([0-9 ]+)`).FindStringSubmatch(parley(t, "--home", alice, "contacts", "verify", "bob"))
	if number == nil || !strings.Contains(parley(t, "--home", bob, "whois", "alice"), number[1]) {
		t.Fatalf("the safety number alice is shown (%q) is not the one bob reads", number)
	}
	errb.Reset()
	if code := run(context.Background(), []string{"--home", alice, "contacts", "verify", "bob", "12345"}, nil, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), "does not match") {
		t.Fatalf("verify with a wrong number: exit %d, %s", code, errb.String())
	}
	parley(t, "--home", alice, "contacts", "verify", "bob", number[1])
	if out := parley(t, "--home", alice, "contacts"); !strings.HasPrefix(out, "bob\tkeys as confirmed, verified in person") {
		t.Fatalf("contacts after verifying: %q", out)
	}

	// watch prints a message as it arrives, then stops on cancel.
	wctx, stopWatch := context.WithCancel(context.Background())
	var wout syncBuffer
	watchDone := make(chan int)
	go func() { watchDone <- run(wctx, []string{"--home", alice, "watch"}, nil, &wout, &wout) }()
	parley(t, "--home", bob, "send", "alice", "live message")
	awaitOutput(t, "watch to print bob's message", &wout, "bob: live message")
	stopWatch()
	if code := <-watchDone; code != 0 {
		t.Fatalf("watch exited %d: %s", code, wout.String())
	}

	// watch --exec: the message reaches the command in its environment,
	// never as shell text; Parley's secrets (the passphrase a script gave
	// watch in PARLEY_PASSPHRASE) never do.
	hookDir := t.TempDir()
	hookOut, pwned, hookSecret := filepath.Join(hookDir, "hook.txt"), filepath.Join(hookDir, "pwned"), filepath.Join(hookDir, "secret")
	var hookStdout, hookStderr syncBuffer
	wctx, stopWatch = context.WithCancel(context.Background())
	go func() {
		watchDone <- run(wctx, []string{"--home", alice, "watch", "--exec", `printf '%s|%s|%s\n' "$PARLEY_FROM" "$PARLEY_KIND" "$PARLEY_TEXT" >> ` + hookOut +
			`; printf '%s' "${PARLEY_PASSPHRASE-not given}" > ` + hookSecret + `; echo "hook ran for $PARLEY_FROM"; echo "hook complains" >&2`}, nil, &hookStdout, &hookStderr)
	}()
	evil := "$(touch " + pwned + ") `touch " + pwned + "` \"; touch " + pwned
	parley(t, "--home", bob, "send", "alice", evil)
	await.NoError(t, 2*time.Minute, "the --exec command to write bob's message", func() error {
		if b, _ := os.ReadFile(hookOut); !strings.Contains(string(b), "bob|text|"+evil+"\n") {
			return fmt.Errorf("it wrote %q", b)
		}
		return nil
	})
	// The command's output passes through watch's own.
	awaitOutput(t, "the --exec command's output to pass through", &hookStdout, "hook ran for bob\n")
	awaitOutput(t, "the --exec command's errors to pass through", &hookStderr, "hook complains\n")
	stopWatch()
	<-watchDone
	if _, err := os.Stat(pwned); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a message's text ran as shell")
	}
	if b, err := os.ReadFile(hookSecret); err != nil || string(b) != "not given" {
		t.Fatalf("the --exec command was given PARLEY_PASSPHRASE: %q (%v)", b, err)
	}

	// Replies, reactions, edits, deletes, states, profiles, settings.
	// References count text messages only (alice/1 was her greeting,
	// bob/1 "hello alice"): edits, deletes and reactions take no number.
	parley(t, "--home", alice, "send", "bob", "lunch?", "--reply", "bob/1") // alice/2
	parley(t, "--home", alice, "send", "bob", "at noon")                    // alice/3
	parley(t, "--home", alice, "edit", "bob", "3", "at one")
	parley(t, "--home", alice, "send", "bob", "oops") // alice/4
	parley(t, "--home", alice, "delete", "bob", "4")
	parley(t, "--home", alice, "profile", "set", "--name", "Alice L.", "--status", "hungry")
	parley(t, "--home", bob, "react", "alice", "alice/2", "👍")
	out1 := parley(t, "--home", bob, "read", "alice")
	for _, want := range []string{"[alice/2] alice: ↪ bob/1 lunch? 👍bob", "[alice/3] alice: at one (edited)", "[bob/2] bob: live message [delivered]"} {
		if !strings.Contains(out1, want) {
			t.Fatalf("bob reads, without %q:\n%s", want, out1)
		}
	}
	if strings.Contains(out1, "oops") || strings.Contains(out1, "withhold") { // deleted before bob read it
		t.Fatalf("bob reads a deleted message:\n%s", out1)
	}
	if out := parley(t, "--home", alice, "read", "bob"); !strings.Contains(out, "[alice/3] alice: at one (edited) [read]") {
		t.Fatalf("alice reads:\n%s", out)
	}
	if out := parley(t, "--home", bob, "profile", "alice"); !strings.Contains(out, "name:   Alice L.") || !strings.Contains(out, "status: hungry") {
		t.Fatalf("alice's profile as bob sees it:\n%s", out)
	}
	if out := parley(t, "--home", bob, "contacts"); !strings.HasPrefix(out, "alice (Alice L.)\tkeys as confirmed") {
		t.Fatalf("bob's contacts: %q", out)
	}
	// A file both ways through the command line.
	src := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(src, bytes.Repeat([]byte("parley "), 200000), 0o600)
	if out := parley(t, "--home", alice, "send-file", "bob", src, "--caption", "my notes"); !strings.Contains(out, "sent notes.txt as alice/") {
		t.Fatalf("send-file: %s", out)
	}
	dest := filepath.Join(t.TempDir(), "got.txt")
	readOut := parley(t, "--home", bob, "read", "alice")
	if !strings.Contains(readOut, "my notes 📎 notes.txt (1.3 MiB; get-file alice/") {
		t.Fatalf("the file's message:\n%s", readOut)
	}
	ref := readOut[strings.LastIndex(readOut, "get-file ")+len("get-file "):]
	ref = ref[:strings.Index(ref, ")")]
	parley(t, "--home", bob, "get-file", "alice", ref, "--out", dest)
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, bytes.Repeat([]byte("parley "), 200000)) {
		t.Fatal("get-file wrote something else")
	}

	// A group: made, written to and read through the group commands.
	if out := parley(t, "--home", alice, "group", "create", "lunch", "bob"); !strings.Contains(out, "group lunch (") {
		t.Fatalf("group create: %s", out)
	}
	parley(t, "--home", bob, "group", "list") // takes the roster and gives bob's key
	parley(t, "--home", alice, "group", "list")
	if out := parley(t, "--home", bob, "group", "list"); !strings.Contains(out, "lunch\t") || !strings.Contains(out, "by alice\talice,bob") {
		t.Fatalf("group list: %s", out)
	}
	parley(t, "--home", alice, "group", "send", "lunch", "pizza?")
	parley(t, "--home", bob, "group", "send", "lunch", "yes", "--reply", "alice/1")
	if out := parley(t, "--home", alice, "group", "read", "lunch"); !strings.Contains(out, "[alice/1] alice: pizza?") || !strings.Contains(out, "[bob/1] bob: ↪ alice/1 yes") {
		t.Fatalf("group read:\n%s", out)
	}
	parley(t, "--home", bob, "group", "read", "lunch") // bob saw pizza?
	if out := parley(t, "--home", alice, "group", "read", "lunch"); !strings.Contains(out, "pizza? [delivered to 1, read by 1 of 1]") {
		t.Fatalf("group receipts:\n%s", out)
	}
	parley(t, "--home", alice, "group", "rename", "lunch", "dinner")
	if out := parley(t, "--home", bob, "group", "list"); !strings.Contains(out, "dinner\t") {
		t.Fatalf("after the rename: %s", out)
	}

	parley(t, "--home", bob, "settings", "read-receipts", "off")
	if out := parley(t, "--home", bob, "settings"); !strings.Contains(out, "read-receipts: off") {
		t.Fatalf("settings: %s", out)
	}
	if out := parley(t, "--home", alice, "timer", "bob", "1h"); !strings.Contains(out, "disappear 1h0m0s after") {
		t.Fatalf("timer: %s", out)
	}
	// The timer as set, on both sides (bob's once he read alice's change).
	if out := parley(t, "--home", alice, "timer", "bob"); out != "messages in bob disappear 1h0m0s after they are sent\n" {
		t.Fatalf("alice's timer bob: %q", out)
	}
	if out := parley(t, "--home", bob, "timer", "alice"); out != "disappearing messages in alice: off\n" {
		t.Fatalf("bob's timer alice before reading: %q", out)
	}
	parley(t, "--home", bob, "read", "alice")
	if out := parley(t, "--home", bob, "timer", "alice"); out != "messages in alice disappear 1h0m0s after they are sent\n" {
		t.Fatalf("bob's timer alice: %q", out)
	}
	if code, _, errs := try(bob, "timer", "nobody"); code != 1 || !strings.Contains(errs, "parley: not a contact: nobody") {
		t.Fatalf("timer of a stranger: exit %d %s", code, errs)
	}
	parley(t, "--home", alice, "block", "bob")
	out.Reset()
	errb.Reset()
	if code := run(context.Background(), []string{"--home", alice, "send", "bob", "blocked?"}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "blocked") {
		t.Fatalf("send to a blocked contact: %d %s", code, errb.String())
	}
	parley(t, "--home", alice, "unblock", "bob")
	if code := run(context.Background(), []string{"--home", alice, "edit", "bob", "bob/1", "x"}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "only its author") {
		t.Fatalf("editing bob's message: %d %s", code, errb.String())
	}

	// Backup, then a restore on a fresh device.
	t.Setenv("PARLEY_BACKUP_PASSPHRASE", "the backup passphrase")
	parley(t, "--home", alice, "backup", "on")
	parley(t, "--home", alice, "send", "bob", "backed up")
	alice2 := filepath.Join(t.TempDir(), "alice2")
	if out := parley(t, "--home", alice2, "restore", "alice", "--node", rpc); !strings.Contains(out, "restored alice: 1 contacts") {
		t.Fatalf("restore: %s", out)
	}
	if out := parley(t, "--home", alice2, "read", "bob"); !strings.Contains(out, "alice: backed up") || !strings.Contains(out, "bob: live message") {
		t.Fatalf("the restored conversation:\n%s", out)
	}

	// A wrong passphrase is refused clearly.
	t.Setenv("PARLEY_PASSPHRASE", "wrong")
	out.Reset()
	errb.Reset()
	if code := run(context.Background(), []string{"--home", alice, "contacts"}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "wrong passphrase") {
		t.Fatalf("wrong passphrase: %d %s", code, errb.String())
	}
}

// TestNameCommands: alice renews her name, moves to another hub (her
// data copied there before the chain says so, then deleted from the old one)
// and bob still gets everything (and finds it with search); she removes
// bob, revokes the name, and changes her passphrase.
func TestNameCommands(t *testing.T) {
	rpc, _ := startWorld(t)
	old, other, moved := hubtest.Start(t, nil), hubtest.Start(t, nil), hubtest.Start(t, nil)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	alice, bob, carol := filepath.Join(t.TempDir(), "alice"), filepath.Join(t.TempDir(), "bob"), filepath.Join(t.TempDir(), "carol")
	for _, home := range []string{alice, bob, carol} {
		initHome(t, rpc, home)
	}
	parley(t, "--home", alice, "register", "alice", "--hub", old.URL)
	parley(t, "--home", bob, "register", "bob", "--hub", other.URL)
	parley(t, "--home", carol, "register", "carol", "--hub", other.URL)
	awaitName(t, alice, "bob")
	parley(t, "--home", alice, "contacts", "add", "bob", "--message", "before the move")
	awaitName(t, carol, "alice")
	parley(t, "--home", carol, "contacts", "add", "alice", "--message", "carol here") // waits in the old hub's inbox

	expiry := regexp.MustCompile(`expires:  height (\d+), \d+ blocks from now`).FindStringSubmatch(parley(t, "--home", alice, "name"))
	renewed := regexp.MustCompile(`now expires at height (\d+)`).FindStringSubmatch(parley(t, "--home", alice, "name", "renew"))
	if expiry == nil || renewed == nil {
		t.Fatalf("expiry %v, after renewing %v", expiry, renewed)
	}
	before, _ := strconv.Atoi(expiry[1])
	after, _ := strconv.Atoi(renewed[1])
	if after <= before {
		t.Fatalf("renewing moved the expiry from %s to %s", expiry[1], renewed[1])
	}

	id, err := keystore.Load(filepath.Join(alice, "keystore"), []byte("a test passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	addr := auth.NativeAddress(id.SigningKey().Public().(ed25519.PublicKey))
	// Junk in alice's inbox on the old hub stays behind.
	mallory, err := hubclient.Dial(context.Background(), old.URL, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mallory.InboxPost(context.Background(), addr, []byte("junk")); err != nil {
		t.Fatal(err)
	}
	onOld, _, _ := old.Driver.List(context.Background(), addr, "", "", 1000)
	out := parley(t, "--home", alice, "name", "hubs", moved.URL, "--empty-old")
	if !regexp.MustCompile(`copied [2-9]\d* objects to `).MatchString(out) || !strings.Contains(out, fmt.Sprintf("deleted your %d objects from %s", len(onOld), old.URL)) {
		t.Fatalf("name hubs (%d objects on the old hub): %s", len(onOld), out)
	}
	if !strings.Contains(out, "moved 1 contact requests from "+old.URL+" to "+moved.URL) ||
		!strings.Contains(out, "left behind 1 requests on "+old.URL+" that cannot be opened (junk), and removed them there") {
		t.Fatalf("carol's request was not moved with alice, or the junk was:\n%s", out)
	}
	if got := parley(t, "--home", alice, "requests"); got != "carol\t(signature verified against the chain): carol here\n" {
		t.Fatalf("alice's requests after the move:\n%s", got)
	}
	parley(t, "--home", alice, "contacts", "accept", "carol")
	if got := parley(t, "--home", alice, "read", "carol"); !strings.Contains(got, "carol: carol here") {
		t.Fatalf("alice reads carol after the move:\n%s", got)
	}
	parley(t, "--home", alice, "send", "carol", "welcome")
	if got := parley(t, "--home", alice, "read", "carol", "--last", "1"); !regexp.MustCompile(`^(\d{4}-\d\d-\d\d )?\d\d:\d\d \[alice/1\] alice: welcome \[sent\]\n$`).MatchString(got) {
		t.Fatalf("read --last 1:\n%q", got)
	}
	// The old hub holds nothing of alice's now.
	if objs, _, _ := old.Driver.List(context.Background(), addr, "", "", 1000); len(onOld) == 0 || len(objs) != 0 {
		t.Fatalf("alice's objects on her old hub: %d before the move, %d after", len(onOld), len(objs))
	}
	awaitName(t, bob, "alice", "hubs:     "+moved.URL+"\n")
	parley(t, "--home", bob, "contacts", "accept", "alice")
	parley(t, "--home", alice, "send", "bob", "after the move")
	if out := parley(t, "--home", bob, "read", "alice"); !strings.Contains(out, "alice: before the move") || !strings.Contains(out, "alice: after the move") {
		t.Fatalf("bob reads after alice moved:\n%s", out)
	}

	if out := parley(t, "--home", bob, "search", "THE MOVE"); !strings.Contains(out, "[alice/1] alice: before the move") || !strings.Contains(out, "alice: after the move") {
		t.Fatalf("search:\n%s", out)
	}
	if out := parley(t, "--home", bob, "search", "move", "--in", "carol"); !strings.Contains(out, "no message contains") {
		t.Fatalf("search in another conversation:\n%s", out)
	}
	status := parley(t, "--home", alice, "status")
	for _, want := range []string{"verified height", "name:     alice, expires at height", "hub:      " + moved.URL + " ok (", "contacts: 2 (0 blocked); groups: 0", "keys:     the chain holds this device's keys"} {
		if !strings.Contains(status, want) {
			t.Fatalf("status, without %q:\n%s", want, status)
		}
	}
	if out := parley(t, "--home", alice, "contacts", "remove", "bob"); !strings.Contains(out, "removed bob") {
		t.Fatalf("contacts remove: %s", out)
	}
	if out := parley(t, "--home", alice, "contacts"); strings.Contains(out, "bob") {
		t.Fatalf("bob is still listed after removing him:\n%s", out)
	}

	var errb bytes.Buffer
	if code := run(context.Background(), []string{"--home", alice, "name", "revoke"}, nil, io.Discard, &errb); code != 2 || !strings.Contains(errb.String(), "--confirm alice") {
		t.Fatalf("revoke without --confirm: exit %d, %s", code, errb.String())
	}
	t.Setenv(phraseEnv, phraseOf(t, alice))
	parley(t, "--home", alice, "name", "revoke", "--confirm", "alice")
	awaitName(t, bob, "alice", "REVOKED")
	if out := parley(t, "--home", alice, "status"); !strings.Contains(out, "keys:     WARNING") || !strings.Contains(out, "alice is revoked") {
		t.Fatalf("status after revoking:\n%s", out)
	}

	// Another node: refused from another chain, taken from this one.
	otherChain := nodetest.Start(t, "another-chain")
	errb.Reset()
	if code := run(context.Background(), []string{"--home", alice, "settings", "node", otherChain}, nil, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), `serves chain "another-chain", not "cli-test"`) {
		t.Fatalf("a node of another chain: exit %d, %s", code, errb.String())
	}
	parley(t, "--home", alice, "settings", "node", rpc, "--witness", rpc)
	if out := parley(t, "--home", alice, "settings"); !strings.Contains(out, "node: "+rpc+"\nwitnesses: "+rpc+"\n") {
		t.Fatalf("settings after changing the node:\n%s", out)
	}

	// A new passphrase for the keystore: the old one no longer opens it.
	t.Setenv("PARLEY_NEW_PASSPHRASE", "a new passphrase")
	parley(t, "--home", alice, "passphrase")
	errb.Reset()
	if code := run(context.Background(), []string{"--home", alice, "contacts"}, nil, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), "wrong passphrase") {
		t.Fatalf("the old passphrase after changing it: exit %d, %s", code, errb.String())
	}
	t.Setenv("PARLEY_PASSPHRASE", "a new passphrase")
	parley(t, "--home", alice, "contacts")

	// One process at a time holds a home. A watch runs the home's agent:
	// another command is served by it at once, over the home's socket.
	wctx, stopWatch := context.WithCancel(context.Background())
	watchDone := make(chan int)
	go func() { watchDone <- run(wctx, []string{"--home", alice, "watch"}, nil, io.Discard, io.Discard) }()
	awaitFile(t, filepath.Join(alice, agent.SocketName))
	errb.Reset()
	if code := run(context.Background(), []string{"--home", alice, "contacts"}, nil, io.Discard, &errb); code != 0 || errb.Len() != 0 {
		t.Fatalf("a command while the watch runs: exit %d, %s", code, errb.String())
	}
	stopWatch()
	<-watchDone
	if _, err := os.Stat(filepath.Join(alice, agent.SocketName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the socket stays after the watch: %v", err)
	}
	// A command that serves itself holds the home without a socket:
	// another waits for it, then gives up saying which process holds it.
	lock, err := agent.TryLock(alice, "parley send")
	if err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	if code := runWith(context.Background(), runOptions{lockWait: 300 * time.Millisecond}, []string{"--home", alice, "contacts"}, nil, io.Discard, &errb); code != 1 ||
		!strings.Contains(errb.String(), "waiting for another parley process") || !strings.Contains(errb.String(), "(pid ") ||
		!strings.Contains(errb.String(), "parley send): stop it first") {
		t.Fatalf("a second parley on the home: exit %d, %s", code, errb.String())
	}
	lock.Release()
	parley(t, "--home", alice, "contacts") // the lock is free again
}

// awaitFile waits until path exists.
func awaitFile(t *testing.T, path string) {
	t.Helper()
	await.NoError(t, 2*time.Minute, path+" to appear", func() error {
		_, err := os.Stat(path)
		return err
	})
}

// TestRegisterResumes: a registration interrupted after its preorder
// committed resumes from register.json instead of starting over.
func TestRegisterResumes(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	home := filepath.Join(t.TempDir(), "carol")
	initHome(t, rpc, home)
	// Interrupt: a context that ends once the preorder is saved.
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
	run(ctx, []string{"--home", home, "register", "carol", "--hub", hubs[0]}, nil, &out, &errb)
	cancel()
	if !<-preordered {
		t.Fatalf("register ended before its preorder was saved:\n%s%s", out.String(), errb.String())
	}
	res := parley(t, "--home", home, "register", "carol", "--hub", hubs[0])
	if !strings.Contains(res, "resuming") && !strings.Contains(out.String(), "registered carol") {
		t.Fatalf("second run did not resume: %s", res)
	}
	if _, err := os.Stat(filepath.Join(home, "register.json")); !os.IsNotExist(err) {
		t.Fatal("register.json left behind after registering")
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
