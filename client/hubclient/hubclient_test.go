package hubclient_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/hub/hubapi"
	"github.com/parley-im/parley/hub/server"
	"github.com/parley-im/parley/hub/server/hubtest"
	"github.com/parley-im/parley/internal/await"
)

// newHub serves the real hub (memory driver) on 127.0.0.1.
func newHub(t *testing.T) string {
	return hubtest.Start(t, func(c *server.Config) { c.PageSize, c.InboxPowDifficulty, c.InboxPerMinute = 2, 6, 600 }).URL
}

func dial(t *testing.T, url string, seed byte) *hubclient.Client {
	c, err := hubclient.Dial(context.Background(), url, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestObjects(t *testing.T) {
	url := newHub(t)
	ctx := context.Background()
	alice, bob := dial(t, url, 1), dial(t, url, 2)
	etag, err := alice.Put(ctx, "msgs/one two", []byte("hello"), "", hubclient.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	// Bob reads Alice's bucket: reads are public.
	b, got, err := bob.Get(ctx, alice.Address(), "msgs/one two")
	if err != nil || string(b) != "hello" || got != etag {
		t.Fatalf("get = %q %s %v", b, got, err)
	}
	if _, err := alice.Put(ctx, "msgs/one two", []byte("x"), "", hubclient.Cond{IfNoneMatch: true}); !errors.Is(err, hub.ErrPrecondition) {
		t.Fatalf("create over existing: %v", err)
	}
	if _, err := alice.Put(ctx, "msgs/one two", []byte("v2"), "", hubclient.Cond{IfMatch: etag}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bob.Get(ctx, alice.Address(), "missing"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := alice.Put(ctx, "../escape", []byte("x"), "", hubclient.Cond{}); !errors.Is(err, hub.ErrInvalid) {
		t.Fatalf("bad path: %v", err)
	}
	for i := 0; i < 5; i++ {
		alice.Put(ctx, fmt.Sprintf("f%d", i), []byte{byte(i)}, "", hubclient.Cond{})
	}
	entries, err := alice.List(ctx)
	if err != nil || len(entries) != 6 || entries[0].Name != "f0" || entries[5].Name != "msgs/one two" {
		t.Fatalf("list (pages of 2) = %+v %v", entries, err)
	}
	if err := alice.Delete(ctx, "f0", "wrong-etag"); !errors.Is(err, hub.ErrPrecondition) {
		t.Fatalf("delete with a wrong etag: %v", err)
	}
	if err := alice.Delete(ctx, "f0", ""); err != nil {
		t.Fatal(err)
	}
	if err := alice.Delete(ctx, "f0", ""); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestInbox(t *testing.T) {
	url := newHub(t)
	ctx := context.Background()
	alice, bob := dial(t, url, 1), dial(t, url, 2)
	id, err := bob.InboxPost(ctx, alice.Address(), []byte("sealed request"))
	if err != nil {
		t.Fatal(err)
	}
	list, err := alice.InboxList(ctx)
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Fatalf("inbox list = %+v %v", list, err)
	}
	if b, err := alice.InboxGet(ctx, id); err != nil || string(b) != "sealed request" {
		t.Fatalf("inbox get = %q %v", b, err)
	}
	if _, err := bob.InboxList(ctx); err != nil {
		t.Fatal("bob cannot list his own (empty) inbox")
	}
	if err := alice.InboxDelete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.InboxGet(ctx, id); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("deleted envelope: %v", err)
	}
}

func TestWatch(t *testing.T) {
	url := newHub(t)
	alice, bob := dial(t, url, 1), dial(t, url, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	events := make(chan hubclient.Event, 16)
	wctx, stop := context.WithCancel(ctx)
	go bob.Watch(wctx, []hubclient.Follow{{Address: alice.Address(), Prefix: "msgs/"}}, "", func(ev hubclient.Event) error {
		events <- ev
		return nil
	})
	if ev := <-events; ev.Kind != "ready" {
		t.Fatalf("first event %+v", ev)
	}
	etag, _ := alice.Put(ctx, "msgs/1", []byte("one"), "", hubclient.Cond{})
	ev := <-events
	if ev.Kind != "change" || ev.Path != "msgs/1" || ev.ETag != etag || ev.Op != "put" || ev.Cursor == "" {
		t.Fatalf("change %+v", ev)
	}
	stop()
	// While disconnected: one more change; resuming delivers it.
	alice.Put(ctx, "msgs/2", []byte("two"), "", hubclient.Cond{})
	got := make(chan hubclient.Event, 16)
	go bob.Watch(ctx, []hubclient.Follow{{Address: alice.Address(), Prefix: "msgs/"}}, ev.Cursor, func(e hubclient.Event) error {
		got <- e
		return nil
	})
	if e := <-got; e.Kind != "change" || e.Path != "msgs/2" {
		t.Fatalf("resumed %+v", e)
	}
}

// TestInboxStampFromHubClock: a hub whose clock is half an hour ahead of the
// device's (beyond the stamp window) still takes the device's requests:
// stamps are dated by the hub's clock, as its hub_info said.
func TestInboxStampFromHubClock(t *testing.T) {
	url := hubtest.Start(t, func(c *server.Config) {
		c.InboxPowDifficulty = 6
		c.Now = func() time.Time { return time.Now().Add(30 * time.Minute) }
	}).URL
	alice, bob := dial(t, url, 1), dial(t, url, 2)
	if _, err := alice.InboxPost(context.Background(), bob.Address(), []byte("sealed")); err != nil {
		t.Fatalf("a post to a hub half an hour ahead: %v", err)
	}
	if entries, err := bob.InboxList(context.Background()); err != nil || len(entries) != 1 {
		t.Fatalf("bob's inbox: %v %v", entries, err)
	}
}

// TestErrorClassesArriveApart: errors that share a status arrive as
// their own sentinels (they arrived as one: a full inbox was a rate
// limit, a bad path and a bad stamp were both hub.ErrInvalid).
func TestErrorClassesArriveApart(t *testing.T) {
	ctx := context.Background()
	full := hubtest.Start(t, func(c *server.Config) { c.InboxPowDifficulty, c.InboxMaxEntries, c.InboxPerMinute = 4, 1, 600 }).URL
	limited := hubtest.Start(t, func(c *server.Config) { c.InboxPowDifficulty, c.InboxPerMinute = 4, 1 }).URL
	alice := dial(t, full, 1)
	bob := dial(t, full, 2)
	if _, err := bob.InboxPost(ctx, alice.Address(), []byte("first")); err != nil {
		t.Fatal(err)
	}
	_, err := bob.InboxPost(ctx, alice.Address(), []byte("second"))
	if !errors.Is(err, hub.ErrInboxFull) || errors.Is(err, hub.ErrRateLimited) {
		t.Fatalf("a post to a full inbox: %v, want hub.ErrInboxFull only", err)
	}
	bob2 := dial(t, limited, 2)
	if _, err := bob2.InboxPost(ctx, alice.Address(), []byte("first")); err != nil {
		t.Fatal(err)
	}
	_, err = bob2.InboxPost(ctx, alice.Address(), []byte("second"))
	if !errors.Is(err, hub.ErrRateLimited) || errors.Is(err, hub.ErrInboxFull) {
		t.Fatalf("a post over the rate: %v, want hub.ErrRateLimited only", err)
	}
	_, err = alice.Put(ctx, "a..b", []byte("x"), "", hubclient.Cond{})
	if !errors.Is(err, hub.ErrInvalid) || errors.Is(err, hub.ErrBadStamp) || errors.Is(err, hub.ErrBadRequest) {
		t.Fatalf("a bad path: %v, want hub.ErrInvalid only", err)
	}
	// A stamp too weak for the hub, as the hub answers it and the client
	// reads it.
	env, now := []byte("weak"), time.Now()
	stamp := hub.InboxStamp{Time: now.Unix()}
	for ; ; stamp.Nonce++ {
		if _, err := hub.CheckInboxStamp(hubURL(t, full), alice.Address(), env, stamp, 4, now); errors.Is(err, hub.ErrBadStamp) {
			break
		}
	}
	req, _ := http.NewRequest("POST", full+"/inbox/"+alice.Address(), bytes.NewReader(env))
	req.Header.Set(hub.InboxStampHeader, stamp.String())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body hubapi.ErrorBody
	json.NewDecoder(res.Body).Decode(&body)
	err = hubapi.ErrorOf(res.StatusCode, body.Error, body.Message)
	if !errors.Is(err, hub.ErrBadStamp) || errors.Is(err, hub.ErrInvalid) {
		t.Fatalf("a weak stamp: %v, want hub.ErrBadStamp only", err)
	}
}

// TestInboxPostAsItFills: the fuller an inbox, the more work its hub asks
// for a stamp (hub.InboxDifficulty); a post solved at hub_info's
// difficulty is refused with what is needed now, and the client solves
// again at that difficulty: every post into an inbox filling up arrives.
func TestInboxPostAsItFills(t *testing.T) {
	url := hubtest.Start(t, func(c *server.Config) { c.InboxPowDifficulty, c.InboxMaxEntries, c.InboxPerMinute = 4, 40, 6000 }).URL
	alice, bob := dial(t, url, 1), dial(t, url, 2)
	for i := range 40 {
		if _, err := alice.InboxPost(context.Background(), bob.Address(), []byte(fmt.Sprintf("request %d", i))); err != nil {
			t.Fatalf("post %d (the inbox needs %d bits): %v", i, hub.InboxDifficulty(4, i, 40), err)
		}
	}
	if entries, err := bob.InboxList(context.Background()); err != nil || len(entries) != 40 {
		t.Fatalf("bob's inbox: %d entries, %v", len(entries), err)
	}
}

// TestTokensDatedByHubClock: a device whose clock is an hour off the
// hub's (either way, beyond the hub's 5 minutes of allowed skew) dated
// its tokens by its own clock: an hour behind, every token was refused
// as expired or issued before a revoke-all the hub dated by its clock;
// an hour ahead, as issued in the future. Tokens are dated by the hub's
// clock, as its hub_info answer's Date said: the owner writes, and after
// revoking every token, writes again.
func TestTokensDatedByHubClock(t *testing.T) {
	for _, off := range []time.Duration{time.Hour, -time.Hour} {
		url := hubtest.Start(t, func(c *server.Config) { c.Now = func() time.Time { return time.Now().Add(off) } }).URL
		alice := dial(t, url, 1)
		ctx := context.Background()
		if _, err := alice.Put(ctx, "m/1", []byte("one"), "", hubclient.Cond{}); err != nil {
			t.Fatalf("a write to a hub %v off the device's clock: %v", off, err)
		}
		// Every token is revoked, by the hub's clock (as the owner's
		// other device, or a thief holding a token, does).
		key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
		hubNow := time.Now().Add(off)
		start := hubNow.Unix()
		await.True(t, 5*time.Second, "the next second", func() bool { return time.Now().Add(off).Unix() != start })
		hubNow = time.Now().Add(off)
		tok := "bearer " + auth.MakeNative(key, url, hubNow, hubNow.Add(time.Hour), nil)
		req, _ := http.NewRequest("POST", url+"/revoke-all/"+alice.Address(), strings.NewReader(fmt.Sprintf(`{"oldestValidTimestamp":%d}`, hubNow.Unix())))
		req.Header.Set("Authorization", tok)
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusAccepted {
			t.Fatalf("revoke-all on a hub %v off: %v %v", off, err, res)
		}
		if _, err := alice.Put(ctx, "m/2", []byte("two"), "", hubclient.Cond{}); err != nil {
			t.Fatalf("a write after revoke-all to a hub %v off the device's clock: %v", off, err)
		}
	}
}
