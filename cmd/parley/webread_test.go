package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	awaitpkg "github.com/parley-im/parley/internal/await"
)

// signedInClient is an HTTP client signed in to the web app at login (a
// cookie jar, no redirects followed), as a browser would be.
func signedInClient(t *testing.T, login string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(login)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("signing in: %s", res.Status)
	}
	return c
}

// webCall makes one call of the web app's API as its page does (a change
// carries the app's Origin) and returns the status and body.
func webCall(t *testing.T, c *http.Client, app, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, app+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method != http.MethodGet {
		req.Header.Set("Origin", app)
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, string(b)
}

// TestWebReadingIsExplicit: a GET of a conversation through the web app
// (a link, a prefetch, a page of another port in a browser without Fetch
// Metadata) must not tell the contact their message was read; only the
// page's explicit POST …/read (which must carry the app's Origin) does.
// Bob's CLI shows what he is told: [delivered], then [read].
func TestWebReadingIsExplicit(t *testing.T) {
	rpc, hubs := startWorld(t)
	homes := users(t, rpc, hubs[0], "alice", "bob")
	befriend(t, homes, "alice", "bob")
	alice, bob := homes["alice"], homes["bob"]
	parley(t, "--home", alice, "read", "bob")
	parley(t, "--home", bob, "send", "alice", "did you read this?")

	login := startWeb(t, alice)
	app := origin(login)
	c := signedInClient(t, login)
	if code, body := webCall(t, c, app, "POST", "/api/v1/unlock", `{"passphrase":"`+testPassphrase+`"}`); code != http.StatusOK {
		t.Fatalf("unlock: %d %s", code, body)
	}
	// Plain GETs, as a link or a prefetch makes them: the message is
	// fetched (and delivered), never marked read.
	for range 2 {
		code, body := webCall(t, c, app, "GET", "/api/v1/conversations/bob/messages?fetch=1", "")
		if code != http.StatusOK || !strings.Contains(body, "did you read this?") {
			t.Fatalf("GET the conversation: %d %s", code, body)
		}
	}
	if code, _ := webCall(t, c, app, "GET", "/api/v1/conversations/bob/read", ""); code == http.StatusOK {
		t.Fatal("GET …/read marked the conversation read")
	}
	awaitpkg.True(t, 2*time.Minute, "bob to see his message delivered", func() bool {
		return strings.Contains(parley(t, "--home", bob, "read", "alice"), "did you read this? [delivered]")
	})
	if out := parley(t, "--home", bob, "read", "alice"); strings.Contains(out, "did you read this? [read]") {
		t.Fatalf("after alice's web app was only asked GETs, bob reads his message as read:\n%s", out)
	}
	// The page's explicit call marks it read.
	if code, body := webCall(t, c, app, "POST", "/api/v1/conversations/bob/read", ""); code != http.StatusOK {
		t.Fatalf("POST …/read: %d %s", code, body)
	}
	awaitpkg.True(t, 2*time.Minute, "bob to see his message read", func() bool {
		return strings.Contains(parley(t, "--home", bob, "read", "alice"), "did you read this? [read]")
	})
}
