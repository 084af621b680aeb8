package hubclient_test

import (
	"bytes"
	"crypto/ed25519"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/hub/server"
	"github.com/parley-im/parley/hub/server/hubtest"
)

// TestCopycatHubCannotReplayStamps: a hub whose operator copies the
// hub_info of another (its challenge text, as with the same
// --server-name) receives honest senders' contact requests, stamps
// included. Bound to the challenge text, each stamp was good on the
// other hub too: the copycat replayed what honest senders solved for it
// into the other hub's inboxes, once each, without doing any work. A
// stamp is now bound to the URL the sender posts to (the one the
// recipient published on the chain), which the copycat cannot share: the
// other hub refuses every replay as a stamp for another hub (403).
func TestCopycatHubCannotReplayStamps(t *testing.T) {
	victim := hubtest.Start(t, func(c *server.Config) { c.ServerName = "shared-hub" })
	res, err := http.Get(victim.URL + "/hub_info")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := io.ReadAll(res.Body)
	res.Body.Close()

	type post struct {
		path, stamp string
		body        []byte
	}
	var (
		mu  sync.Mutex
		got []post
		mux = http.NewServeMux()
		cpy = httptest.NewServer(mux)
	)
	t.Cleanup(cpy.Close)
	mux.HandleFunc("GET /hub_info", func(w http.ResponseWriter, r *http.Request) { w.Write(info) })
	mux.HandleFunc("POST /inbox/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, post{r.URL.Path, r.Header.Get(hub.InboxStampHeader), b})
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"id":"x"}`))
	})

	// The recipient: an address with an inbox on both hubs.
	_, rpriv, _ := ed25519.GenerateKey(nil)
	recipient, err := hubclient.Dial(t.Context(), victim.URL, rpriv, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := recipient.Address()

	// An honest sender posts a request to a recipient on the copycat.
	_, priv, _ := ed25519.GenerateKey(nil)
	c, err := hubclient.Dial(t.Context(), cpy.URL, priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.InboxPost(t.Context(), addr, []byte("a sealed request")); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("the copycat received %d posts", len(got))
	}
	// The copycat replays it on the victim hub.
	p := got[0]
	req, _ := http.NewRequest("POST", victim.URL+p.path, bytes.NewReader(p.body))
	req.Header.Set(hub.InboxStampHeader, p.stamp)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || !bytes.Contains(b, []byte("BadStampError")) {
		t.Fatalf("a stamp an honest sender solved for the copycat hub, replayed on the hub whose hub_info it copied: %s %s, want 403 BadStampError", res.Status, b)
	}
}

// hubURL is u in the form stamps are bound to.
func hubURL(t *testing.T, u string) string {
	t.Helper()
	c, err := auth.CanonicalHubURL(u)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
