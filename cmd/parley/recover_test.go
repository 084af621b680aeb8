package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/node"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/internal/await"
)

// phraseIn returns the recovery phrase init printed in out.
func phraseIn(t testing.TB, out string) string {
	t.Helper()
	var words []string
	for _, m := range regexp.MustCompile(`(?m)\s+(\d+) ([a-z]+)`).FindAllStringSubmatch(out[strings.Index(out, "your recovery phrase"):], -1) {
		if n, _ := strconv.Atoi(m[1]); n == len(words)+1 {
			words = append(words, m[2])
		}
		if len(words) == keystore.PhraseWords {
			break
		}
	}
	if len(words) != keystore.PhraseWords {
		t.Fatalf("init showed no phrase of %d words:\n%s", keystore.PhraseWords, out)
	}
	return strings.Join(words, " ")
}

// phraseOf is the recovery phrase init showed for home (initHome keeps
// it beside the home).
func phraseOf(t testing.TB, home string) string {
	t.Helper()
	b, err := os.ReadFile(home + ".phrase")
	if err != nil {
		t.Fatalf("the phrase of %s: %v", home, err)
	}
	return string(b)
}

// phraseWordAsked answers init's question for a word of the phrase it
// printed in out; ok is false for any other prompt.
func phraseWordAsked(t *testing.T, prompt, out string) (word string, ok bool) {
	t.Helper()
	m := regexp.MustCompile(`^word (\d+) of your recovery phrase: $`).FindStringSubmatch(prompt)
	if m == nil {
		return "", false
	}
	i, _ := strconv.Atoi(m[1])
	return strings.Fields(phraseIn(t, out))[i-1], true
}

// TestInitConfirmsPhrase: init shows a 12-word phrase and asks three of
// its words back; the owner key it reports is the phrase's. A wrong
// word shows the phrase again and asks again; three rounds of mistakes
// leave nothing behind.
func TestInitConfirmsPhrase(t *testing.T) {
	rpc, _ := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	for _, c := range []struct {
		name    string
		wrong   int // rounds answered wrong before the right words
		code    int
		asked   int // prompts
		created bool
	}{
		{"right", 0, 0, 3, true},
		{"one mistake", 1, 0, 4, true},
		{"never right", 3, 1, 3, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "home")
			var out, errb bytes.Buffer
			var prompts []string
			ask := func(prompt string) ([]byte, error) {
				prompts = append(prompts, prompt)
				m := regexp.MustCompile(`^word (\d+) of your recovery phrase: $`).FindStringSubmatch(prompt)
				if m == nil {
					return nil, errors.New("unexpected prompt " + prompt)
				}
				if strings.Count(out.String(), "your recovery phrase") <= c.wrong {
					return []byte("zzz"), nil
				}
				i, _ := strconv.Atoi(m[1])
				return []byte(strings.Fields(phraseIn(t, out.String()))[i-1]), nil
			}
			code := runWith(context.Background(), testRunAsking(ask), []string{"--home", home, "init", "--node", rpc}, nil, &out, &errb)
			if code != c.code || len(prompts) != c.asked {
				t.Fatalf("exit %d after %d prompts %q, want %d after %d\n%s%s", code, len(prompts), prompts, c.code, c.asked, out.String(), errb.String())
			}
			_, err := os.Stat(filepath.Join(home, "keystore"))
			if created := err == nil; created != c.created {
				t.Fatalf("keystore created: %v, want %v", created, c.created)
			}
			if !c.created {
				if !strings.Contains(errb.String(), "parley: the recovery phrase was not confirmed; nothing was created") ||
					!strings.Contains(errb.String(), "parley: hint: run 'parley init' again: it makes a new phrase") {
					t.Fatalf("stderr:\n%s", errb.String())
				}
				return
			}
			if c.wrong > 0 && !strings.Contains(out.String(), "is not that: here is the phrase again") {
				t.Fatalf("a wrong word was not said:\n%s", out.String())
			}
			owner, err := keystore.OwnerKeyOf(phraseIn(t, out.String()))
			if err != nil {
				t.Fatal(err)
			}
			if want := "owner key: " + bns.PublicKeyOf(owner).String(); !strings.Contains(out.String(), want) {
				t.Fatalf("init's owner key is not the phrase's (%s):\n%s", want, out.String())
			}
		})
	}
}

// initWithPhrase runs init in home (no terminal: the phrase is shown
// with a warning, not confirmed) and returns the phrase.
func initWithPhrase(t *testing.T, rpc, home string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := runWith(context.Background(), testRun(), []string{"--home", home, "init", "--node", rpc}, nil, &out, &errb); code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "parley: warning: no terminal to confirm the recovery phrase on") {
		t.Fatalf("init without a terminal did not warn:\n%s", errb.String())
	}
	return phraseIn(t, out.String())
}

// TestRecoverAfterAllDevicesLost: alice loses her only device. On a new
// one she recovers her name with the phrase alone: the chain lists the
// new device's keys, bob is told her keys changed and, once he confirms,
// they talk again; the old device is told it is retired and reads
// nothing bob sent after.
func TestRecoverAfterAllDevicesLost(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	old, bob := filepath.Join(t.TempDir(), "alice"), filepath.Join(t.TempDir(), "bob")
	phrase := initWithPhrase(t, rpc, old)
	initHome(t, rpc, bob)
	parley(t, "--home", old, "register", "alice", "--hub", hubs[0])
	parley(t, "--home", bob, "register", "bob", "--hub", hubs[1])
	awaitName(t, old, "bob")
	awaitName(t, bob, "alice")
	homes := map[string]string{"alice": old, "bob": bob}
	befriend(t, homes, "alice", "bob")
	parley(t, "--home", bob, "send", "alice", "before the loss")
	if out := parley(t, "--home", old, "read", "bob"); !strings.Contains(out, "bob: before the loss") {
		t.Fatalf("alice reads:\n%s", out)
	}
	before := awaitName(t, bob, "alice")

	// Every device lost: a new home, the phrase as she wrote it down.
	alice := filepath.Join(t.TempDir(), "alice-new")
	t.Setenv("PARLEY_RECOVERY_PHRASE", strings.ToUpper(strings.ReplaceAll(phrase, " ", "  ")))
	out := parley(t, "--home", alice, "recover", "alice", "--node", rpc)
	if !strings.Contains(out, "recovered alice at height ") || !strings.Contains(out, "every other device that held it is retired") {
		t.Fatalf("recover: %s", out)
	}
	after := awaitName(t, bob, "alice", "  2  height ")
	if after == before || !regexp.MustCompile(`\n +2  height \d+ +update +new keys: signing key ed25519:[0-9a-f]{16}…\n`).MatchString(after) ||
		strings.Contains(after, "new owner") {
		t.Fatalf("whois alice after the recovery: the history does not say new keys of the same owner:\n%s", after)
	}
	if out := parley(t, "--home", alice, "status"); !strings.Contains(out, "keys:     the chain holds this device's keys") {
		t.Errorf("the new device's status:\n%s", out)
	}
	if out := parley(t, "--home", old, "status"); !strings.Contains(out, "keys:     WARNING: ") || !strings.Contains(out, "if you ran 'parley recover' on another device, this one is retired") {
		t.Errorf("the old device's status:\n%s", out)
	}

	// Bob is told; once he confirms, the conversation starts over.
	code, _, errs := try(bob, "send", "alice", "after the loss, unconfirmed")
	if code != 1 || !strings.Contains(errs, "alice's keys changed on the chain at height ") || !strings.Contains(errs, "(update by the same owner key: a new device after 'alice' recovered the name, or someone holding that key)") ||
		!strings.Contains(errs, "parley contacts confirm alice") {
		t.Fatalf("bob sends to the recovered alice unconfirmed: exit %d\n%s", code, errs)
	}
	parley(t, "--home", bob, "contacts", "confirm", "alice")
	parley(t, "--home", bob, "send", "alice", "welcome back")
	if out := parley(t, "--home", alice, "requests"); !strings.Contains(out, "bob") {
		t.Fatalf("the recovered alice's requests:\n%s", out)
	}
	parley(t, "--home", alice, "contacts", "accept", "bob")
	if out := parley(t, "--home", alice, "read", "bob"); !strings.Contains(out, "bob: welcome back") || strings.Contains(out, "before the loss") {
		t.Fatalf("the recovered alice reads:\n%s", out)
	}
	parley(t, "--home", alice, "send", "bob", "glad to be back")
	if out := parley(t, "--home", bob, "read", "alice"); !strings.Contains(out, "alice: glad to be back") {
		t.Fatalf("bob reads:\n%s", out)
	}
	if _, out, _ := try(old, "read", "bob"); strings.Contains(out, "welcome back") || strings.Contains(out, "unconfirmed") {
		t.Fatalf("the lost device reads what bob sent after the recovery:\n%s", out)
	}
}

// TestRecoverRefusesAnotherOwner: a phrase that does not own the name,
// a mistyped phrase and a home that holds an identity are refused, each
// saying why, and nothing reaches the chain or the home.
func TestRecoverRefusesAnotherOwner(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	alice, mallory := filepath.Join(t.TempDir(), "alice"), filepath.Join(t.TempDir(), "mallory")
	initWithPhrase(t, rpc, alice)
	other := initWithPhrase(t, rpc, mallory)
	parley(t, "--home", alice, "register", "alice", "--hub", hubs[0])
	before := awaitName(t, alice, "alice")

	for _, c := range []struct {
		name, phrase, home string
		want               []string
	}{
		{"another owner's phrase", other, filepath.Join(t.TempDir(), "x"),
			[]string{"parley: this recovery phrase does not own the name alice: the phrase gives owner key ed25519:", "parley: hint: check the words"}},
		{"a word wrong", "legal winner thank year wave sausage worth useful legal winner thank year", filepath.Join(t.TempDir(), "y"),
			[]string{"its checksum does not match", "parley: hint: type the words as you wrote them down"}},
		{"an unknown word", "legal winner thank year wavy sausage worth useful legal winner thank yellow", filepath.Join(t.TempDir(), "z"),
			[]string{"a word is not in the BIP-39 English word list (word 5, \"wavy\")"}},
		{"a home with an identity", other, mallory,
			[]string{"already holds an identity", "recover into a new home"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("PARLEY_RECOVERY_PHRASE", c.phrase)
			code, out, errs := try(c.home, "recover", "alice", "--node", rpc)
			if code != 1 {
				t.Fatalf("exit %d\n%s%s", code, out, errs)
			}
			if strings.Contains(errs, "bip39") || strings.Contains(errs, "keystore:") {
				t.Errorf("stderr names Go packages:\n%s", errs)
			}
			for _, w := range c.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			if c.home != mallory {
				if _, err := os.Stat(filepath.Join(c.home, "keystore")); !errors.Is(err, fs.ErrNotExist) {
					t.Error("a refused recover left a keystore")
				}
			}
		})
	}
	if now := awaitName(t, alice, "alice"); now != before {
		t.Fatalf("alice's record changed:\n%s\nthen\n%s", before, now)
	}
}

// TestRecoverFromBackup: alice kept a backup. Her only device is lost;
// with the phrase and the backup passphrase a new device takes the name
// back with her contacts and history. Once bob confirms, they talk on,
// the earlier messages still there; the backup now holds the new keys
// (a restore from it works against the chain).
func TestRecoverFromBackup(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	t.Setenv("PARLEY_BACKUP_PASSPHRASE", "a backup passphrase")
	old, bob := filepath.Join(t.TempDir(), "alice"), filepath.Join(t.TempDir(), "bob")
	phrase := initWithPhrase(t, rpc, old)
	initHome(t, rpc, bob)
	parley(t, "--home", old, "register", "alice", "--hub", hubs[0])
	parley(t, "--home", bob, "register", "bob", "--hub", hubs[1])
	awaitName(t, old, "bob")
	awaitName(t, bob, "alice")
	befriend(t, map[string]string{"alice": old, "bob": bob}, "alice", "bob")
	parley(t, "--home", old, "backup", "on")
	parley(t, "--home", bob, "send", "alice", "before the loss")
	if out := parley(t, "--home", old, "read", "bob"); !strings.Contains(out, "bob: before the loss") {
		t.Fatalf("alice reads:\n%s", out)
	}

	alice := filepath.Join(t.TempDir(), "alice-new")
	t.Setenv("PARLEY_RECOVERY_PHRASE", phrase)
	out := parley(t, "--home", alice, "recover", "alice", "--node", rpc, "--from-backup")
	if !strings.Contains(out, "recovered alice at height ") || !strings.Contains(out, "from your backup: 1 contacts, ") {
		t.Fatalf("recover --from-backup: %s", out)
	}
	if out := parley(t, "--home", alice, "read", "bob"); !strings.Contains(out, "bob: before the loss") {
		t.Fatalf("the recovered alice's history:\n%s", out)
	}
	awaitName(t, bob, "alice", "  2  height ")
	parley(t, "--home", bob, "contacts", "confirm", "alice")
	parley(t, "--home", bob, "send", "alice", "welcome back")
	if out := parley(t, "--home", alice, "requests"); !strings.Contains(out, "bob") {
		t.Fatalf("the recovered alice's requests:\n%s", out)
	}
	parley(t, "--home", alice, "contacts", "accept", "bob")
	if out := parley(t, "--home", alice, "read", "bob"); !strings.Contains(out, "bob: welcome back") || !strings.Contains(out, "before the loss") {
		t.Fatalf("the recovered alice reads:\n%s", out)
	}
	parley(t, "--home", alice, "send", "bob", "glad to be back")
	if out := parley(t, "--home", bob, "read", "alice"); !strings.Contains(out, "alice: glad to be back") {
		t.Fatalf("bob reads:\n%s", out)
	}
	// The backup follows the new keys: a restore checks them against the chain.
	third := filepath.Join(t.TempDir(), "alice-third")
	if out := parley(t, "--home", third, "restore", "alice", "--node", rpc); !strings.Contains(out, "restored alice: 1 contacts") {
		t.Fatalf("restore from the backup the recovered device wrote: %s", out)
	}
}

// TestRecoverInGroup: alice holds a group with bob and dave, keeps a
// backup, and loses her device. Recovered from the phrase and the
// backup, she has the group; the lost device reads nothing the group
// says after; once bob and dave confirm her new keys, the group goes on
// with her.
func TestRecoverInGroup(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	t.Setenv("PARLEY_BACKUP_PASSPHRASE", "a backup passphrase")
	old := filepath.Join(t.TempDir(), "alice")
	phrase := initWithPhrase(t, rpc, old)
	parley(t, "--home", old, "register", "alice", "--hub", hubs[0])
	homes := users(t, rpc, hubs[1], "bob", "dave")
	homes["alice"] = old
	for _, n := range []string{"bob", "dave"} {
		awaitName(t, old, n)
		awaitName(t, homes[n], "alice")
	}
	bob, dave := homes["bob"], homes["dave"]
	befriend(t, homes, "alice", "bob")
	befriend(t, homes, "alice", "dave")
	parley(t, "--home", old, "backup", "on")
	parley(t, "--home", old, "group", "create", "crew", "bob", "dave")
	parley(t, "--home", old, "group", "send", "crew", "from alice")
	groupUntil(t, "bob and dave read alice", "crew", []string{bob, dave, old}, func() bool {
		return reads(t, bob, "crew", "alice: from alice") && reads(t, dave, "crew", "alice: from alice")
	})

	alice := filepath.Join(t.TempDir(), "alice-new")
	t.Setenv("PARLEY_RECOVERY_PHRASE", phrase)
	if out := parley(t, "--home", alice, "recover", "alice", "--node", rpc, "--from-backup"); !strings.Contains(out, "from your backup: 2 contacts, ") {
		t.Fatalf("recover: %s", out)
	}
	if out := parley(t, "--home", alice, "group", "list"); !strings.Contains(out, "crew\t") {
		t.Fatalf("the recovered alice's groups:\n%s", out)
	}
	awaitName(t, bob, "alice", "  2  height ")
	awaitName(t, dave, "alice", "  2  height ")
	parley(t, "--home", bob, "group", "send", "crew", "bob after the recovery")
	for _, h := range []string{bob, dave, old, alice} {
		try(h, "group", "list")
	}
	if out := parley(t, "--home", bob, "group", "read", "crew"); !strings.Contains(out, "alice's keys changed") {
		t.Errorf("bob's group history shows no key change:\n%s", out)
	}

	for _, n := range []string{"bob", "dave"} {
		parley(t, "--home", homes[n], "contacts", "confirm", "alice")
	}
	parley(t, "--home", alice, "contacts", "accept", "bob")
	parley(t, "--home", alice, "contacts", "accept", "dave")
	parley(t, "--home", bob, "group", "send", "crew", "bob to the recovered alice")
	groupUntil(t, "the recovered alice reads bob", "crew", []string{alice, bob, dave}, func() bool {
		return reads(t, alice, "crew", "bob: bob to the recovered alice")
	})
	parley(t, "--home", alice, "group", "send", "crew", "alice is back")
	groupUntil(t, "bob and dave read the recovered alice", "crew", []string{alice, bob, dave}, func() bool {
		return reads(t, bob, "crew", "alice: alice is back") && reads(t, dave, "crew", "alice: alice is back")
	})
	for _, h := range []string{old} {
		try(h, "group", "list")
	}
	if _, out, _ := try(old, "group", "read", "crew"); strings.Contains(out, "after the recovery") || strings.Contains(out, "recovered alice") {
		t.Fatalf("the lost device reads what the group said after the recovery:\n%s", out)
	}
}

// TestRecoverRenewsAnExpiredName: alice's devices were lost long enough
// for her name to expire. In its grace period, recover renews it first
// (only its owner may), then publishes the new device's keys.
func TestRecoverRenewsAnExpiredName(t *testing.T) {
	rpc, hubs := startWorldWith(t, func(o *node.Options) { o.Params.NameLifetime, o.Params.GracePeriod = 60, 100000 })
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	old := filepath.Join(t.TempDir(), "alice")
	phrase := initWithPhrase(t, rpc, old)
	parley(t, "--home", old, "register", "alice", "--hub", hubs[0])
	m := regexp.MustCompile(`expires:  height (\d+)`).FindStringSubmatch(awaitName(t, old, "alice"))
	if m == nil {
		t.Fatal("whois alice shows no expiry")
	}
	expires, _ := strconv.ParseInt(m[1], 10, 64)
	status, err := rpchttp.New(rpc, "/websocket")
	if err != nil {
		t.Fatal(err)
	}
	await.True(t, 2*time.Minute, fmt.Sprintf("the chain to pass alice's expiry (height %d)", expires), func() bool {
		st, err := status.Status(context.Background())
		return err == nil && st.SyncInfo.LatestBlockHeight > expires+1
	})

	alice := filepath.Join(t.TempDir(), "alice-new")
	t.Setenv("PARLEY_RECOVERY_PHRASE", phrase)
	out := parley(t, "--home", alice, "recover", "alice", "--node", rpc)
	if !strings.Contains(out, "alice had expired: renewed at height ") || !strings.Contains(out, "recovered alice at height ") {
		t.Fatalf("recover of an expired name: %s", out)
	}
	who := awaitName(t, alice, "alice", "  3  height ")
	if !regexp.MustCompile(`\n +2  height \d+ +renew\n +3  height \d+ +update +new keys: `).MatchString(who) || strings.Contains(who, "EXPIRED") {
		t.Fatalf("whois alice after recovering the expired name:\n%s", who)
	}
	if out := parley(t, "--home", alice, "status"); !strings.Contains(out, "keys:     the chain holds this device's keys") {
		t.Fatalf("the new device's status:\n%s", out)
	}
}
