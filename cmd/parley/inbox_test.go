package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/hub/server"
	"github.com/parley-im/parley/hub/server/hubtest"
)

// inboxAddress is the bucket address of the identity in home.
func inboxAddress(t *testing.T, home string) string {
	t.Helper()
	return inboxAddressWith(t, home, "a test passphrase")
}

// inboxAddressWith is inboxAddress for a keystore sealed under pass.
func inboxAddressWith(t *testing.T, home, pass string) string {
	t.Helper()
	id, err := keystore.Load(filepath.Join(home, "keystore"), []byte(pass))
	if err != nil {
		t.Fatal(err)
	}
	return auth.NativeAddress(id.SigningKey().Public().(ed25519.PublicKey))
}

// TestJunkNeverBlocksTheInbox: mallory, who needs no name, fills bob's
// inbox (4 envelopes at most on his hub) with junk, replaying one stamp
// and then paying a fresh stamp for each envelope. The replays are
// refused; the paid junk fills the inbox and a real request no longer
// fits. bob sees the junk as such, clears it with 'requests --clear',
// which says what it removed, and then receives alice's request.
func TestJunkNeverBlocksTheInbox(t *testing.T) {
	rpc, hubs := startWorld(t)
	small := hubtest.Start(t, func(c *server.Config) { c.InboxMaxEntries, c.InboxPerMinute = 4, 600 })
	t.Setenv("PARLEY_PASSPHRASE", "a test passphrase")
	alice, bob := filepath.Join(t.TempDir(), "alice"), filepath.Join(t.TempDir(), "bob")
	initHome(t, rpc, alice)
	initHome(t, rpc, bob)
	parley(t, "--home", alice, "register", "alice", "--hub", hubs[0])
	parley(t, "--home", bob, "register", "bob", "--hub", small.URL)
	awaitName(t, alice, "bob")
	bobAddr := inboxAddress(t, bob)

	ctx := context.Background()
	mallory, err := hubclient.Dial(ctx, small.URL, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)), nil)
	if err != nil {
		t.Fatal(err)
	}
	// One stamp, posted ten times: taken once.
	junk := []byte("junk 0: not sealed to anyone")
	stamp, err := hub.SolveInboxStamp(ctx, small.Server.HubURL(), bobAddr, junk, time.Now(), 6)
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for range 10 {
		req, _ := http.NewRequest("POST", small.URL+"/inbox/"+bobAddr, bytes.NewReader(junk))
		req.Header.Set(hub.InboxStampHeader, stamp.String())
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusAccepted {
			accepted++
		} else if res.StatusCode != http.StatusConflict {
			t.Fatalf("a replayed stamp: %d", res.StatusCode)
		}
	}
	if accepted != 1 {
		t.Fatalf("one stamp posted ten times was taken %d times", accepted)
	}
	// Fresh stamps, paid for, fill the inbox.
	for _, j := range []string{"junk 1", "junk 2", "junk 3"} {
		if _, err := mallory.InboxPost(ctx, bobAddr, []byte(j)); err != nil {
			t.Fatalf("posting %s: %v", j, err)
		}
	}
	if _, err := mallory.InboxPost(ctx, bobAddr, []byte("one more")); !errors.Is(err, hub.ErrInboxFull) {
		t.Fatalf("a post to the full inbox: %v", err)
	}

	var out, errb bytes.Buffer
	if code := run(ctx, []string{"--home", bob, "requests"}, nil, &out, &errb); code != 0 || strings.Count(out.String(), "?\t") != 4 ||
		!strings.Contains(errb.String(), "4 of them cannot be opened, ever: 'parley requests --clear' removes them") {
		t.Fatalf("bob's requests: exit %d\n%s%s", code, out.String(), errb.String())
	}
	got := parley(t, "--home", bob, "requests", "--clear")
	if len(regexp.MustCompile(`(?m)^removed\t\S+ on `+regexp.QuoteMeta(small.URL)+`: not sealed to your keys, or malformed\n`).FindAllString(got, -1)) != 4 ||
		!strings.Contains(got, "removed 4 requests that cannot be opened\n") || strings.Contains(got, "?\t") {
		t.Fatalf("requests --clear:\n%s", got)
	}

	parley(t, "--home", alice, "contacts", "add", "bob", "--message", "hi bob, alice here")
	if got := parley(t, "--home", bob, "requests"); got != "alice\t(signature verified against the chain): hi bob, alice here\n" {
		t.Fatalf("bob's requests after clearing:\n%s", got)
	}
	parley(t, "--home", bob, "contacts", "accept", "alice")
	if got := parley(t, "--home", bob, "read", "alice"); !strings.Contains(got, "alice: hi bob, alice here") {
		t.Fatalf("bob reads alice:\n%s", got)
	}
}
