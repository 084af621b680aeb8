package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/server"
)

// postFrom posts an envelope to address's inbox as a client at ip would,
// straight into the handler (the hub trusts no proxy header, so this is
// how one test stands for many source addresses).
func (e *env) postFrom(ip, address string, body []byte, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/inbox/"+address, bytes.NewReader(body))
	req.RemoteAddr = ip + ":40000"
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return rec
}

// TestInboxStampReplay: an attacker solves one stamp and posts it 1,000
// times from 200 source addresses (5 each, within the per-source limit)
// to fill the inbox. The hub takes it once and refuses every replay; the
// owner still receives a real request.
func TestInboxStampReplay(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.InboxMaxEntries, c.InboxPerMinute = 1000, 20 })
	junk := []byte("junk that no key opens")
	stamp := stampHeader(t, e, e.addr, junk)
	statuses := map[int]int{}
	for i := range 1000 {
		rec := e.postFrom(fmt.Sprintf("10.0.%d.%d", i/5/250, i/5%250+1), e.addr, junk, stamp...)
		statuses[rec.Code]++
	}
	real := []byte("a real request")
	rec := e.postFrom("192.0.2.7", e.addr, real, stampHeader(t, e, e.addr, real)...)
	_, b := e.do("GET", "/inbox/"+e.addr, nil, "Authorization", e.tok)
	var l struct{ Entries []struct{ ID string } }
	json.Unmarshal(b, &l)
	if statuses[http.StatusAccepted] != 1 || statuses[http.StatusConflict] != 999 || rec.Code != http.StatusAccepted || len(l.Entries) != 2 {
		t.Fatalf("one stamp posted 1000 times from 200 sources: statuses %v; then a real request: %d %s; the inbox holds %d envelopes",
			statuses, rec.Code, rec.Body, len(l.Entries))
	}
	// Deleting the envelope does not make its stamp good again.
	for _, en := range l.Entries {
		e.do("DELETE", "/inbox/"+e.addr+"/"+en.ID, nil, "Authorization", e.tok)
	}
	if rec := e.postFrom("10.9.9.9", e.addr, junk, stamp...); rec.Code != http.StatusConflict || !bytes.Contains(rec.Body.Bytes(), []byte("StampUsedError")) {
		t.Fatalf("a used stamp after its envelope was deleted: %d %s", rec.Code, rec.Body)
	}
}

// TestInboxStampBinding: a stamp works only for the inbox, the hub and
// the time it was made for.
func TestInboxStampBinding(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.InboxPowDifficulty = 8 })
	body := []byte("sealed")
	other := "1OtherAddressOnThisHub"
	// A stamp for e.addr that is not also, by chance, one for other.
	var forAddr hub.InboxStamp
	for at := time.Now(); ; at = at.Add(-time.Second) {
		s, err := hub.SolveInboxStamp(context.Background(), e.srv.HubURL(), e.addr, body, at, 8)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hub.CheckInboxStamp(e.srv.HubURL(), other, body, s, 8, time.Now()); errors.Is(err, hub.ErrBadStamp) {
			forAddr = s
			break
		}
	}
	if rec := e.postFrom("10.0.0.1", other, body, hub.InboxStampHeader, forAddr.String()); rec.Code != http.StatusForbidden {
		t.Fatalf("a stamp for another inbox: %d %s", rec.Code, rec.Body)
	}
	for name, at := range map[string]time.Time{"old": time.Now().Add(-hub.InboxStampWindow - time.Minute), "future": time.Now().Add(hub.InboxStampWindow + time.Minute)} {
		s, err := hub.SolveInboxStamp(context.Background(), e.srv.HubURL(), e.addr, body, at, 8)
		if err != nil {
			t.Fatal(err)
		}
		if rec := e.postFrom("10.0.0.2", e.addr, body, hub.InboxStampHeader, s.String()); rec.Code != http.StatusForbidden || !bytes.Contains(rec.Body.Bytes(), []byte("from the hub's clock")) {
			t.Fatalf("a stamp from the %s: %d %s", name, rec.Code, rec.Body)
		}
	}
	if rec := e.postFrom("10.0.0.3", e.addr, body, hub.InboxStampHeader, forAddr.String()); rec.Code != http.StatusAccepted {
		t.Fatalf("the stamp where it belongs: %d %s", rec.Code, rec.Body)
	}
}

// TestInboxStampOnAnotherHub: a stamp names the hub by its URL, so a
// stamp made for one hub is refused by every other (403), even one that
// copied its challenge text (the same --server-name): before stamps were
// bound to the URL (version 2 bound them to the challenge text), such a
// hub took the other's stamps, and a hostile one replayed on the other
// the stamps honest senders solved for it (TestCopycatHubCannotReplayStamps
// in client/hubclient does it with the real client).
func TestInboxStampOnAnotherHub(t *testing.T) {
	shared := newEnv(t, nil) // both "test-hub": one copied the other's server name
	copycat := newEnv(t, nil)
	own := newEnv(t, func(c *server.Config) { c.ServerName = "" }) // its own host and port
	if shared.srv.Challenge() != copycat.srv.Challenge() || shared.srv.HubURL() == copycat.srv.HubURL() {
		t.Fatalf("challenges %q and %q, URLs %q and %q", shared.srv.Challenge(), copycat.srv.Challenge(), shared.srv.HubURL(), copycat.srv.HubURL())
	}
	body := []byte("a sealed request")
	// A stamp is work: one solved for copycat meets another hub's
	// difficulty (4 bits here) by chance once in 16. Such a stamp proves
	// nothing of the binding, so the test takes one that does not.
	var stamp []string
	for at := time.Now(); stamp == nil; at = at.Add(-time.Second) {
		s, err := hub.SolveInboxStamp(context.Background(), copycat.srv.HubURL(), copycat.addr, body, at, 4)
		if err != nil {
			t.Fatal(err)
		}
		_, onShared := hub.CheckInboxStamp(shared.srv.HubURL(), copycat.addr, body, s, 4, time.Now())
		_, onOwn := hub.CheckInboxStamp(own.srv.HubURL(), copycat.addr, body, s, 4, time.Now())
		if onShared != nil && onOwn != nil {
			stamp = []string{hub.InboxStampHeader, s.String()}
		}
	}
	if rec := copycat.postFrom("10.0.0.1", copycat.addr, body, stamp...); rec.Code != http.StatusAccepted {
		t.Fatalf("the stamp where it was made: %d %s", rec.Code, rec.Body)
	}
	if rec := shared.postFrom("10.0.0.2", copycat.addr, body, stamp...); rec.Code != http.StatusForbidden || !bytes.Contains(rec.Body.Bytes(), []byte("BadStampError")) {
		t.Fatalf("the stamp on a hub with the same challenge: %d %s", rec.Code, rec.Body)
	}
	if rec := own.postFrom("10.0.0.5", copycat.addr, body, stamp...); rec.Code != http.StatusForbidden {
		t.Fatalf("the stamp on a hub with its own challenge: %d %s", rec.Code, rec.Body)
	}
}

// TestInboxWorkGrowsWithFill: stamps at the hub's base difficulty cost a
// few milliseconds, so junk from enough source addresses filled an inbox
// (1,000 entries) at almost no cost, and kept it full however often its
// owner cleared it. A post now needs more work the fuller the inbox is:
// the base while under a quarter full, then up to 12 bits more. A stamp
// short of it is refused (403) with the difficulty needed in
// X-Parley-Stamp-Bits, and one solved at that difficulty is taken.
func TestInboxWorkGrowsWithFill(t *testing.T) {
	const max = 40
	e := newEnv(t, func(c *server.Config) { c.InboxMaxEntries, c.InboxPerMinute = max, 6000 })
	post := func(i int, bits int) *httptest.ResponseRecorder {
		body := []byte(fmt.Sprintf("junk %d", i))
		s, err := hub.SolveInboxStamp(context.Background(), e.srv.HubURL(), e.addr, body, time.Now(), bits)
		if err != nil {
			t.Fatal(err)
		}
		return e.postFrom(fmt.Sprintf("10.1.%d.%d", i/250, i%250+1), e.addr, body, hub.InboxStampHeader, s.String())
	}
	held, last := 0, 4 // the base difficulty (newEnv)
	for i := 0; held < max; i++ {
		need := hub.InboxDifficulty(4, held, max)
		if need < last || need > 4+12 {
			t.Fatalf("with %d envelopes held the inbox needs %d bits (%d before)", held, need, last)
		}
		last = need
		if need > 4 {
			// A stamp one bit short of what the inbox needs now: refused,
			// saying what it needs (a stamp may have more bits than it was
			// solved for: try until one has exactly need-1).
			var rec *httptest.ResponseRecorder
			for j := 0; ; j++ {
				body := []byte(fmt.Sprintf("short %d %d", i, j))
				s, _ := hub.SolveInboxStamp(context.Background(), e.srv.HubURL(), e.addr, body, time.Now(), need-1)
				if _, err := hub.CheckInboxStamp(e.srv.HubURL(), e.addr, body, s, need, time.Now()); err == nil {
					continue
				}
				rec = e.postFrom("10.2.0.1", e.addr, body, hub.InboxStampHeader, s.String())
				break
			}
			if rec.Code != http.StatusForbidden || !bytes.Contains(rec.Body.Bytes(), []byte("BadStampError")) || rec.Header().Get(hub.InboxDifficultyHeader) != fmt.Sprint(need) {
				t.Fatalf("with %d envelopes held, a stamp of %d bits: %d %s (%s: %q), want 403 asking %d", held, need-1, rec.Code, rec.Body, hub.InboxDifficultyHeader, rec.Header().Get(hub.InboxDifficultyHeader), need)
			}
		}
		if rec := post(i, need); rec.Code != http.StatusAccepted {
			t.Fatalf("with %d envelopes held, a stamp of the %d bits asked: %d %s", held, need, rec.Code, rec.Body)
		}
		held++
	}
	if last != 4+11 {
		t.Fatalf("the last envelope needed %d bits, want %d", last, 4+11)
	}
	if rec := post(max, 4+12); rec.Code != http.StatusTooManyRequests || !bytes.Contains(rec.Body.Bytes(), []byte("InboxFullError")) {
		t.Fatalf("a post to the full inbox: %d %s", rec.Code, rec.Body)
	}
}
