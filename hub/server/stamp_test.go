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
		s, err := hub.SolveInboxStamp(context.Background(), e.srv.Challenge(), e.addr, body, at, 8)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hub.CheckInboxStamp(e.srv.Challenge(), other, body, s, 8, time.Now()); errors.Is(err, hub.ErrBadStamp) {
			forAddr = s
			break
		}
	}
	if rec := e.postFrom("10.0.0.1", other, body, hub.InboxStampHeader, forAddr.String()); rec.Code != http.StatusForbidden {
		t.Fatalf("a stamp for another inbox: %d %s", rec.Code, rec.Body)
	}
	for name, at := range map[string]time.Time{"old": time.Now().Add(-hub.InboxStampWindow - time.Minute), "future": time.Now().Add(hub.InboxStampWindow + time.Minute)} {
		s, err := hub.SolveInboxStamp(context.Background(), e.srv.Challenge(), e.addr, body, at, 8)
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
