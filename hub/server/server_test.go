package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/auth"
	"github.com/parley-im/parley/hub/driver/memory"
	"github.com/parley-im/parley/hub/server"
	"github.com/parley-im/parley/hub/server/hubtest"
	"github.com/parley-im/parley/internal/await"
)

type env struct {
	t    *testing.T
	url  string
	srv  *server.Server
	drv  *memory.Driver
	key  *secp256k1.PrivateKey
	addr string
	tok  string // Authorization header value for addr
}

func newEnv(t *testing.T, tweak func(*server.Config)) *env {
	t.Helper()
	h := hubtest.Start(t, func(c *server.Config) {
		c.ServerName, c.MaxUploadBytes, c.PageSize = "test-hub", 1<<20, 3
		c.InboxPowDifficulty, c.InboxMaxEntries, c.InboxMaxEnvelope, c.InboxPerMinute = 4, 3, 1024, 600
		if tweak != nil {
			tweak(c)
		}
	})
	key, _ := secp256k1.GeneratePrivateKey()
	e := &env{t: t, url: h.URL, srv: h.Server, drv: h.Driver, key: key, addr: auth.GaiaAddress(key.PubKey().SerializeCompressed())}
	e.tok = "bearer v1:" + auth.MakeGaia(key, auth.GaiaClaims{GaiaChallenge: h.Server.Challenge(), HubURL: h.URL})
	return e
}

func (e *env) do(method, path string, body []byte, hdr ...string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func (e *env) stored() int {
	objs, _, _ := e.drv.List(context.Background(), e.addr, "", "", 1000)
	return len(objs)
}

func TestHubInfo(t *testing.T) {
	e := newEnv(t, nil)
	res, b := e.do("GET", "/hub_info", nil)
	var info map[string]any
	json.Unmarshal(b, &info)
	if res.StatusCode != 200 || info["challenge_text"] != `["gaiahub","0","test-hub","blockstack_storage_please_sign"]` ||
		info["latest_auth_version"] != "v1" || info["read_url_prefix"] != e.url+"/read/" || info["max_file_upload_size_megabytes"] != 1.0 {
		t.Fatalf("hub_info = %d %s", res.StatusCode, b)
	}
}

func TestStoreReadListDelete(t *testing.T) {
	e := newEnv(t, nil)
	res, b := e.do("POST", "/store/"+e.addr+"/dir/hello.txt", []byte("hello"), "Authorization", e.tok, "Content-Type", "text/plain", "If-None-Match", "*")
	var put struct{ PublicURL, ETag string }
	json.Unmarshal(b, &put)
	if res.StatusCode != 202 || put.PublicURL != e.url+"/read/"+e.addr+"/dir/hello.txt" || put.ETag == "" {
		t.Fatalf("store = %d %s", res.StatusCode, b)
	}
	res, b = e.do("GET", "/read/"+e.addr+"/dir/hello.txt", nil)
	if res.StatusCode != 200 || string(b) != "hello" || res.Header.Get("ETag") != put.ETag || res.Header.Get("Content-Type") != "text/plain" ||
		res.Header.Get("Last-Modified") == "" || !strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), "ETag") {
		t.Fatalf("read = %d %q %v", res.StatusCode, b, res.Header)
	}
	if res, b := e.do("HEAD", "/read/"+e.addr+"/dir/hello.txt", nil); res.StatusCode != 200 || len(b) != 0 || res.Header.Get("Content-Length") != "5" {
		t.Fatalf("head = %d", res.StatusCode)
	}
	if res, _ := e.do("GET", "/read/"+e.addr+"/dir/hello.txt", nil, "If-None-Match", `"`+put.ETag+`"`); res.StatusCode != 304 {
		t.Fatalf("conditional read = %d", res.StatusCode)
	}
	// Update with If-Match, quoted or not.
	if res, b := e.do("POST", "/store/"+e.addr+"/dir/hello.txt", []byte("v2"), "Authorization", e.tok, "If-Match", `"`+put.ETag+`"`); res.StatusCode != 202 {
		t.Fatalf("update = %d %s", res.StatusCode, b)
	}
	for i := 0; i < 5; i++ {
		e.do("POST", fmt.Sprintf("/store/%s/f%d", e.addr, i), []byte{byte(i)}, "Authorization", e.tok)
	}
	// list-files pages of 3, then stat mode; ETags match the store's.
	var names []string
	page := any(nil)
	for {
		body, _ := json.Marshal(map[string]any{"page": page})
		res, b := e.do("POST", "/list-files/"+e.addr, body, "Authorization", e.tok, "Content-Type", "application/json")
		var l struct {
			Entries []string
			Page    *string
		}
		if err := json.Unmarshal(b, &l); err != nil || res.StatusCode != 202 {
			t.Fatalf("list = %d %s", res.StatusCode, b)
		}
		names = append(names, l.Entries...)
		if l.Page == nil {
			break
		}
		page = *l.Page
	}
	if strings.Join(names, ",") != "dir/hello.txt,f0,f1,f2,f3,f4" {
		t.Fatalf("listed %v", names)
	}
	_, b = e.do("POST", "/list-files/"+e.addr, []byte(`{"page":null,"stat":true}`), "Authorization", e.tok)
	var st struct {
		Entries []struct {
			Name, Etag    string
			ContentLength int64
			Exists        bool
		}
	}
	json.Unmarshal(b, &st)
	res, _ = e.do("GET", "/read/"+e.addr+"/dir/hello.txt", nil)
	if st.Entries[0].Name != "dir/hello.txt" || st.Entries[0].Etag != res.Header.Get("ETag") || st.Entries[0].ContentLength != 2 || !st.Entries[0].Exists {
		t.Fatalf("stat entries %s", b)
	}
	if res, b := e.do("DELETE", "/delete/"+e.addr+"/f0", nil, "Authorization", e.tok); res.StatusCode != 202 || len(b) != 0 {
		t.Fatalf("delete = %d %q", res.StatusCode, b)
	}
	if res, _ := e.do("DELETE", "/delete/"+e.addr+"/f0", nil, "Authorization", e.tok); res.StatusCode != 404 {
		t.Fatalf("second delete = %d", res.StatusCode)
	}
	if res, _ := e.do("GET", "/read/"+e.addr+"/f0", nil); res.StatusCode != 404 {
		t.Fatalf("read after delete = %d", res.StatusCode)
	}
	// A bucket never written lists empty.
	if _, b := e.do("POST", "/list-files/"+e.addr, nil, "Authorization", e.tok); !bytes.Contains(b, []byte(`"entries":[`)) {
		t.Fatalf("list without body: %s", b)
	}
}

func TestConditionalWrites(t *testing.T) {
	e := newEnv(t, nil)
	p := "/store/" + e.addr + "/c"
	e.do("POST", p, []byte("1"), "Authorization", e.tok, "If-None-Match", "*")
	for _, tc := range []struct {
		name string
		hdr  []string
	}{
		{"create over existing", []string{"If-None-Match", "*"}},
		{"stale If-Match", []string{"If-Match", "0123456789abcdef0123456789abcdef"}},
		{"both headers", []string{"If-Match", "*", "If-None-Match", "*"}},
		{"If-None-Match not *", []string{"If-None-Match", "abc"}},
	} {
		res, b := e.do("POST", p, []byte("2"), append([]string{"Authorization", e.tok}, tc.hdr...)...)
		if res.StatusCode != 412 || !bytes.Contains(b, []byte("PreconditionFailedError")) {
			t.Errorf("%s: %d %s", tc.name, res.StatusCode, b)
		}
	}
	if _, b := e.do("GET", "/read/"+e.addr+"/c", nil); string(b) != "1" {
		t.Fatalf("refused writes changed the object: %q", b)
	}
}

// TestHostileRequests: each is refused with the right status and stores
// nothing.
func TestHostileRequests(t *testing.T) {
	e := newEnv(t, nil)
	other, _ := secp256k1.GeneratePrivateKey()
	foreign := "bearer v1:" + auth.MakeGaia(other, auth.GaiaClaims{GaiaChallenge: e.srv.Challenge()})
	exp := -1.0
	expired := "bearer v1:" + auth.MakeGaia(e.key, auth.GaiaClaims{GaiaChallenge: e.srv.Challenge(), Exp: &exp})
	wrongHub := "bearer v1:" + auth.MakeGaia(e.key, auth.GaiaClaims{GaiaChallenge: auth.Challenge("other-hub")})
	forged := e.tok[:len(e.tok)-6] + "AAAAAA"
	store := "/store/" + e.addr + "/"
	for _, tc := range []struct {
		name, method, path string
		body               []byte
		hdr                []string
		status             int
	}{
		{"no token", "POST", store + "f", []byte("x"), nil, 401},
		{"forged token", "POST", store + "f", []byte("x"), []string{"Authorization", forged}, 401},
		{"expired token", "POST", store + "f", []byte("x"), []string{"Authorization", expired}, 401},
		{"other hub's token", "POST", store + "f", []byte("x"), []string{"Authorization", wrongHub}, 401},
		{"other address's token", "POST", store + "f", []byte("x"), []string{"Authorization", foreign}, 401},
		{"delete with another's token", "DELETE", "/delete/" + e.addr + "/f", nil, []string{"Authorization", foreign}, 401},
		{"list with another's token", "POST", "/list-files/" + e.addr, nil, []string{"Authorization", foreign}, 401},
		{"dot-dot", "POST", store + "a/../b", []byte("x"), []string{"Authorization", e.tok}, 403},
		{"encoded dot-dot", "POST", store + "%2e%2e/b", []byte("x"), []string{"Authorization", e.tok}, 403},
		{"encoded slash and dot-dot", "POST", store + "a%2F..%2Fb", []byte("x"), []string{"Authorization", e.tok}, 403},
		{"double-encoded dot-dot", "POST", store + "%252e%252e", []byte("x"), []string{"Authorization", e.tok}, 202}, // a literal "%2e%2e" name
		{"backslash", "POST", store + "a%5C..%5Cb", []byte("x"), []string{"Authorization", e.tok}, 403},
		{"NUL byte", "POST", store + "a%00b", []byte("x"), []string{"Authorization", e.tok}, 403},
		{"empty segment", "POST", store + "a//b", []byte("x"), []string{"Authorization", e.tok}, 403},
		{"trailing slashes", "POST", store + "a//", []byte("x"), []string{"Authorization", e.tok}, 403},
		{"dot segment", "POST", store + "./a", []byte("x"), []string{"Authorization", e.tok}, 403},
		{"bad address", "POST", "/store/not_an-address/f", []byte("x"), []string{"Authorization", e.tok}, 403},
		{"oversized body", "POST", store + "big", make([]byte, 1<<20+1), []string{"Authorization", e.tok}, 413},
		{"bad list JSON", "POST", "/list-files/" + e.addr, []byte("{"), []string{"Authorization", e.tok}, 400},
		{"bad page token", "POST", "/list-files/" + e.addr, []byte(`{"page":"!!"}`), []string{"Authorization", e.tok}, 400},
		{"huge list JSON", "POST", "/list-files/" + e.addr, []byte(`{"page":"` + strings.Repeat("a", 5000) + `"}`), []string{"Authorization", e.tok}, 413},
		{"revoke without timestamp", "POST", "/revoke-all/" + e.addr, []byte(`{}`), []string{"Authorization", e.tok}, 400},
		{"revoke with a word", "POST", "/revoke-all/" + e.addr, []byte(`{"oldestValidTimestamp":"soon"}`), []string{"Authorization", e.tok}, 400},
		{"GET on store", "GET", store + "f", nil, nil, 405},
		{"PUT on store", "PUT", store + "f", []byte("x"), []string{"Authorization", e.tok}, 405},
		{"unknown route", "GET", "/admin", nil, nil, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.stored()
			res, b := e.do(tc.method, tc.path, tc.body, tc.hdr...)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", res.StatusCode, tc.status, b)
			}
			if tc.status >= 400 {
				if after := e.stored(); after != before {
					t.Fatalf("a refused request stored something (%d -> %d objects)", before, after)
				}
				var msg map[string]any
				if tc.method != "HEAD" && (json.Unmarshal(b, &msg) != nil || msg["message"] == "") {
					t.Fatalf("refusal without a JSON message: %s", b)
				}
			}
		})
	}
	// A chunked body over the limit is cut off at the limit, not read to the end.
	req, _ := http.NewRequest("POST", e.url+store+"chunked", io.MultiReader(bytes.NewReader(make([]byte, 1<<20)), strings.NewReader("over")))
	req.Header.Set("Authorization", e.tok)
	req.ContentLength = -1
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 || e.stored() != 1 {
		t.Fatalf("chunked oversized body: %d, %d objects", res.StatusCode, e.stored())
	}
}

func TestRevokeAll(t *testing.T) {
	e := newEnv(t, nil)
	if res, _ := e.do("POST", "/store/"+e.addr+"/f", []byte("x"), "Authorization", e.tok); res.StatusCode != 202 {
		t.Fatal("store before revocation failed")
	}
	ts := time.Now().Unix()
	if res, b := e.do("POST", "/revoke-all/"+e.addr, []byte(fmt.Sprintf(`{"oldestValidTimestamp":%d}`, ts)), "Authorization", e.tok); res.StatusCode != 202 || !bytes.Contains(b, []byte("success")) {
		t.Fatalf("revoke = %d %s", res.StatusCode, b)
	}
	// Stacks.js tokens carry no iat: refused from now on, as in Gaia.
	res, b := e.do("POST", "/store/"+e.addr+"/f", []byte("y"), "Authorization", e.tok)
	if res.StatusCode != 401 || !bytes.Contains(b, []byte("AuthTokenTimestampValidationError")) {
		t.Fatalf("old token after revocation: %d %s", res.StatusCode, b)
	}
	iat := float64(ts)
	fresh := "bearer v1:" + auth.MakeGaia(e.key, auth.GaiaClaims{GaiaChallenge: e.srv.Challenge(), Iat: &iat})
	if res, b := e.do("POST", "/store/"+e.addr+"/f", []byte("y"), "Authorization", fresh); res.StatusCode != 202 {
		t.Fatalf("fresh token: %d %s", res.StatusCode, b)
	}
	// The timestamp is only ever raised.
	e.do("POST", "/revoke-all/"+e.addr, []byte(`{"oldestValidTimestamp":"1"}`), "Authorization", fresh)
	if res, _ := e.do("POST", "/store/"+e.addr+"/f", []byte("z"), "Authorization", e.tok); res.StatusCode != 401 {
		t.Fatal("lowering the revocation timestamp re-enabled old tokens")
	}
}

func TestScopesAndNativeTokens(t *testing.T) {
	e := newEnv(t, nil)
	scoped := "bearer v1:" + auth.MakeGaia(e.key, auth.GaiaClaims{GaiaChallenge: e.srv.Challenge(), Scopes: []auth.Scope{{Scope: auth.ScopePutFilePrefix, Domain: "public/"}}})
	if res, _ := e.do("POST", "/store/"+e.addr+"/public/a", []byte("x"), "Authorization", scoped); res.StatusCode != 202 {
		t.Fatal("scoped write inside the scope refused")
	}
	if res, _ := e.do("POST", "/store/"+e.addr+"/private/a", []byte("x"), "Authorization", scoped); res.StatusCode != 401 {
		t.Fatal("scoped write outside the scope accepted")
	}
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	addr := auth.NativeAddress(priv.Public().(ed25519.PublicKey))
	tok := "bearer " + auth.MakeNative(priv, e.url, time.Now(), time.Now().Add(time.Hour), nil)
	if res, b := e.do("POST", "/store/"+addr+"/msg", []byte("native"), "Authorization", tok); res.StatusCode != 202 {
		t.Fatalf("native write: %d %s", res.StatusCode, b)
	}
	if _, b := e.do("GET", "/read/"+addr+"/msg", nil); string(b) != "native" {
		t.Fatalf("native read: %q", b)
	}
}

func TestQuota(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.QuotaBytes = 100 })
	if res, _ := e.do("POST", "/store/"+e.addr+"/a", make([]byte, 60), "Authorization", e.tok); res.StatusCode != 202 {
		t.Fatal("write within quota refused")
	}
	if res, _ := e.do("POST", "/store/"+e.addr+"/b", make([]byte, 60), "Authorization", e.tok); res.StatusCode != 507 {
		t.Fatalf("write over quota: %d", res.StatusCode)
	}
	if res, _ := e.do("POST", "/store/"+e.addr+"/a", make([]byte, 90), "Authorization", e.tok); res.StatusCode != 202 {
		t.Fatal("overwrite within quota refused")
	}
	e.do("DELETE", "/delete/"+e.addr+"/a", nil, "Authorization", e.tok)
	if res, _ := e.do("POST", "/store/"+e.addr+"/b", make([]byte, 60), "Authorization", e.tok); res.StatusCode != 202 {
		t.Fatal("delete did not free quota")
	}
}

func stampFor(t *testing.T, e *env, address string, body []byte) string {
	s, err := hub.SolveInboxStamp(context.Background(), e.srv.HubURL(), address, body, time.Now(), 4)
	if err != nil {
		t.Fatal(err)
	}
	return s.String()
}

// stampHeader is the header pair of a fresh stamp.
func stampHeader(t *testing.T, e *env, address string, body []byte) []string {
	return []string{hub.InboxStampHeader, stampFor(t, e, address, body)}
}

func TestInbox(t *testing.T) {
	e := newEnv(t, nil)
	env1 := []byte("sealed envelope 1")
	post := func(body []byte, hdr ...string) (*http.Response, []byte) {
		return e.do("POST", "/inbox/"+e.addr, body, hdr...)
	}
	if res, _ := post(env1); res.StatusCode != 400 {
		t.Fatalf("post without stamp: %d", res.StatusCode)
	}
	weak := hub.InboxStamp{Time: time.Now().Unix()}
	for ; ; weak.Nonce++ {
		if _, err := hub.CheckInboxStamp(e.srv.HubURL(), e.addr, env1, weak, 4, time.Now()); errors.Is(err, hub.ErrBadStamp) {
			break
		}
	}
	if res, b := post(env1, hub.InboxStampHeader, weak.String()); res.StatusCode != 403 || !bytes.Contains(b, []byte("BadStampError")) {
		t.Fatalf("post with a weak stamp: %d %s", res.StatusCode, b)
	}
	for _, bad := range []string{"0", "v1.1.2", "v2.01.2", "v2.1.+2", "v2.1", "v2.1.2.3", "v2.-1.2"} {
		if res, _ := post(env1, hub.InboxStampHeader, bad); res.StatusCode != 400 {
			t.Fatalf("post with stamp %q: %d", bad, res.StatusCode)
		}
	}
	if res, _ := post(make([]byte, 2000), hub.InboxStampHeader, "v2.0.0"); res.StatusCode != 413 {
		t.Fatalf("oversized envelope: %d", res.StatusCode)
	}
	res, b := post(env1, hub.InboxStampHeader, stampFor(t, e, e.addr, env1))
	if res.StatusCode != 202 {
		t.Fatalf("post: %d %s", res.StatusCode, b)
	}
	var id struct{ ID string }
	json.Unmarshal(b, &id)
	// Owner only.
	if res, _ := e.do("GET", "/inbox/"+e.addr, nil); res.StatusCode != 401 {
		t.Fatalf("stranger listed the inbox: %d", res.StatusCode)
	}
	_, b = e.do("GET", "/inbox/"+e.addr, nil, "Authorization", e.tok)
	if !strings.Contains(string(b), id.ID) {
		t.Fatalf("inbox list: %s", b)
	}
	if _, b := e.do("GET", "/inbox/"+e.addr+"/"+id.ID, nil, "Authorization", e.tok); string(b) != string(env1) {
		t.Fatalf("envelope = %q", b)
	}
	// The count cap (3) refuses the fourth and stores nothing.
	for i := 2; i <= 3; i++ {
		body := []byte(fmt.Sprint("envelope ", i))
		if res, _ := post(body, hub.InboxStampHeader, stampFor(t, e, e.addr, body)); res.StatusCode != 202 {
			t.Fatalf("post %d: %d", i, res.StatusCode)
		}
	}
	body := []byte("one too many")
	if res, _ := post(body, hub.InboxStampHeader, stampFor(t, e, e.addr, body)); res.StatusCode != 429 {
		t.Fatalf("post over the cap: %d", res.StatusCode)
	}
	if res, _ := e.do("DELETE", "/inbox/"+e.addr+"/"+id.ID, nil, "Authorization", e.tok); res.StatusCode != 202 {
		t.Fatalf("delete: %d", res.StatusCode)
	}
	if res, _ := e.do("GET", "/inbox/"+e.addr+"/"+id.ID, nil, "Authorization", e.tok); res.StatusCode != 404 {
		t.Fatalf("deleted envelope: %d", res.StatusCode)
	}
	if res, _ := e.do("GET", "/inbox/"+e.addr+"/..%2F..%2Fx", nil, "Authorization", e.tok); res.StatusCode != 404 {
		t.Fatalf("odd envelope id: %d", res.StatusCode)
	}
}

func TestInboxRateLimit(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.InboxPerMinute = 4; c.InboxMaxEntries = 100 })
	limited := false
	for i := 0; i < 10 && !limited; i++ {
		body := []byte(fmt.Sprint("e", i))
		res, _ := e.do("POST", "/inbox/"+e.addr, body, hub.InboxStampHeader, stampFor(t, e, e.addr, body))
		limited = res.StatusCode == 429
	}
	if !limited {
		t.Fatal("ten posts in a burst from one source were all accepted at 4 a minute")
	}
}

// sse reads server-sent events.
type sse struct {
	r    *bufio.Reader
	body io.Closer
}

func (e *env) watch(query string, hdr ...string) *sse {
	req, _ := http.NewRequest("GET", e.url+"/watch?"+query, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		e.t.Fatalf("watch: %v %v", err, res)
	}
	e.t.Cleanup(func() { res.Body.Close() })
	return &sse{r: bufio.NewReader(res.Body), body: res.Body}
}

type sseEvent struct{ id, event, data string }

func (s *sse) next(t *testing.T) sseEvent {
	t.Helper()
	var ev sseEvent
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("watch stream ended: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && ev.event != "":
			return ev
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
}

func TestWatch(t *testing.T) {
	e := newEnv(t, nil)
	w := e.watch("follow=" + e.addr + ":msgs/&follow=1OtherAddr")
	if ev := w.next(t); ev.event != "ready" {
		t.Fatalf("first event %+v", ev)
	}
	e.do("POST", "/store/"+e.addr+"/other/x", []byte("not followed"), "Authorization", e.tok)
	e.do("POST", "/store/"+e.addr+"/msgs/1", []byte("one"), "Authorization", e.tok)
	ev := w.next(t)
	if ev.event != "change" || !strings.Contains(ev.data, `"path":"msgs/1"`) || !strings.Contains(ev.data, `"op":"put"`) {
		t.Fatalf("change event %+v", ev)
	}
	cursor := ev.id
	// Changes made while disconnected are delivered on resume.
	e.do("POST", "/store/"+e.addr+"/msgs/2", []byte("two"), "Authorization", e.tok)
	e.do("DELETE", "/delete/"+e.addr+"/msgs/1", nil, "Authorization", e.tok)
	r := e.watch("follow="+e.addr+":msgs/", "Last-Event-ID", cursor)
	if ev := r.next(t); !strings.Contains(ev.data, `"path":"msgs/2"`) {
		t.Fatalf("resumed event 1: %+v", ev)
	}
	if ev := r.next(t); !strings.Contains(ev.data, `"op":"delete"`) {
		t.Fatalf("resumed event 2: %+v", ev)
	}
	if ev := r.next(t); ev.event != "ready" {
		t.Fatalf("after backlog: %+v", ev)
	}
	// A cursor from another run of the hub cannot be resumed: reset.
	s := e.watch("follow="+e.addr, "Last-Event-ID", "deadbeef.3")
	if ev := s.next(t); ev.event != "reset" {
		t.Fatalf("foreign cursor: %+v", ev)
	}
	// Bad requests.
	for _, q := range []string{"", "follow=bad_address", "follow=" + e.addr + "&cursor=nonsense"} {
		if res, _ := e.do("GET", "/watch?"+q, nil); res.StatusCode != 400 {
			t.Errorf("watch?%s: %d", q, res.StatusCode)
		}
	}
}

// TestWatchInbox: an arrival in an inbox is announced to a watcher
// holding the owner's token, and to nobody else, whatever it follows.
func TestWatchInbox(t *testing.T) {
	e := newEnv(t, nil)
	owner := e.watch("follow="+e.addr+":_inbox/", "Authorization", e.tok)
	stranger := e.watch("follow=" + e.addr) // every prefix, no token
	for _, w := range []*sse{owner, stranger} {
		if ev := w.next(t); ev.event != "ready" {
			t.Fatalf("first event %+v", ev)
		}
	}
	body := []byte("sealed request")
	if res, _ := e.do("POST", "/inbox/"+e.addr, body, hub.InboxStampHeader, stampFor(t, e, e.addr, body)); res.StatusCode != 202 {
		t.Fatalf("inbox post: %d", res.StatusCode)
	}
	e.do("POST", "/store/"+e.addr+"/after", []byte("x"), "Authorization", e.tok)
	if ev := owner.next(t); ev.event != "change" || !strings.Contains(ev.data, `"path":"_inbox/`) {
		t.Fatalf("the owner's watcher got %+v", ev)
	}
	if ev := stranger.next(t); !strings.Contains(ev.data, `"path":"after"`) {
		t.Fatalf("a stranger's watcher got %+v before the next change", ev)
	}
}

func TestCORSAndOps(t *testing.T) {
	e := newEnv(t, nil)
	res, _ := e.do("OPTIONS", "/hub_info", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "x-hiro-product")
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(strings.ToLower(res.Header.Get("Access-Control-Allow-Headers")), "x-hiro-product") {
		t.Fatalf("preflight: %d %v", res.StatusCode, res.Header)
	}
	if res, b := e.do("GET", "/healthz", nil); res.StatusCode != 200 || string(b) != "ok\n" {
		t.Fatal("healthz")
	}
	e.do("GET", "/hub_info", nil)
	if _, b := e.do("GET", "/metrics", nil); !bytes.Contains(b, []byte(`hub_requests_total{method="GET",route="/hub_info",status="2xx"}`)) {
		t.Fatalf("metrics: %s", b)
	}
}

// TestClientDisconnectsMidUpload: the hub survives and stores nothing.
func TestClientDisconnectsMidUpload(t *testing.T) {
	e := newEnv(t, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /store/%s/partial HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: 100000\r\n\r\n", e.addr, e.tok)
	conn.Write(make([]byte, 5000))
	conn.Close()
	await.True(t, time.Minute, "the hub to answer /healthz", func() bool {
		res, _ := e.do("GET", "/healthz", nil)
		return res.StatusCode == 200
	})
	if res, _ := e.do("POST", "/store/"+e.addr+"/after", []byte("x"), "Authorization", e.tok); res.StatusCode != 202 {
		t.Fatal("hub unusable after a client disconnected mid-upload")
	}
	if _, err := e.drv.Stat(context.Background(), e.addr, "partial"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("a partial upload: %v, want hub.ErrNotFound (not stored)", err)
	}
}
