package main

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	awaitpkg "github.com/parley-im/parley/internal/await"
	"github.com/parley-im/parley/internal/web"
	"github.com/parley-im/parley/internal/web/webtest"
)

// webClock is parley web's clock in a test (runOptions.webNow): the
// system's, moved on by add.
type webClock struct {
	mu   sync.Mutex
	skew time.Duration
}

func (c *webClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skew)
}

func (c *webClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skew += d
}

// TestWebLinkThisDevice: Alice has her name on a device she uses from the
// CLI, with Bob as a contact and a group. In a browser on an empty home
// she chooses "Link this device to a name I already have": the page
// shows the link code and its QR code and follows the link (offered,
// approved, linked) while her CLI approves the code ('parley devices
// add'). The messenger then opens with Bob and the group the welcome
// brought; Bob's whois shows the new device; Bob's next message shows
// live in the browser and on her CLI; what she writes in the browser
// reaches Bob as hers. The Devices page lists both devices. Left idle
// past the session's lifetime, the open page says "Sign in again".
// Every new screen passes axe-core.
func TestWebLinkThisDevice(t *testing.T) {
	rpc, hubs := startWorldWith(t, longOffers)
	homes := users(t, rpc, hubs[0], "alice", "bob")
	alice, bob := homes["alice"], homes["bob"]
	befriend(t, homes, "alice", "bob")
	parley(t, "--home", alice, "read", "bob")
	parley(t, "--home", alice, "group", "create", "hikers", "bob")
	groupUntil(t, "bob to have the group", "hikers", []string{alice, bob}, func() bool {
		return reads(t, bob, "hikers", "alice")
	})

	browserHome := filepath.Join(t.TempDir(), "alice-browser")
	clk := &webClock{}
	opts := testRun()
	opts.webNow = clk.Now
	login, _ := startWebWith(t, browserHome, opts)
	page := webtest.Browser(t, "alice-browser")
	page.Open(login)
	page.AwaitText("main", "Set up Parley on this device")
	page.Click("radio", "Link this device to a name I already have")
	page.Axe("first run: link")
	page.Fill("textbox", "Chain node", rpc)
	page.Type("textbox", "Your name", "alice")
	page.Fill("textbox", "Device label", "browser")
	page.Type("textbox", "Passphrase", testPassphrase)
	page.Type("textbox", "Passphrase again", testPassphrase)
	page.Click("button", "Show the link code")
	page.AwaitText("[role=status]", "Waiting for a device of alice to approve this one")
	code := page.Text("#link-code")
	if len(strings.ReplaceAll(code, "-", "")) != 17 {
		t.Fatalf("the link code shown: %q", code)
	}
	page.AwaitText("ol.progress", "Offered on the chain at block")
	// Reloaded (and the name typed forgotten, as in another tab): the page
	// goes on waiting for the same code, and will ask whose name took it.
	if err := page.Eval(`sessionStorage.clear(); location.reload(); true`, nil); err != nil {
		t.Fatal(err)
	}
	page.AwaitText("[role=status]", "Waiting for a device of your name to approve this one")
	if again := page.Text("#link-code"); again != code {
		t.Fatalf("the link code after a reload: %q, want %q", again, code)
	}
	page.Await("the link code's QR code", `(() => { const i = document.querySelector('main img.qr'); return !!i && i.complete && i.naturalWidth > 0; })()`)
	page.Axe("link code")
	// At a phone's width the code, its QR code and the steps fit.
	page.Phone(true)
	page.Axe("link code, phone")
	var wide bool
	if page.Eval(`document.documentElement.scrollWidth > window.innerWidth`, &wide); wide {
		t.Error("at phone width, the link code's screen scrolls sideways")
	}
	page.Phone(false)
	// Every progress step the page shows, kept as it goes by.
	if err := page.Eval(`window.steps = []; new MutationObserver(() => document.querySelectorAll('ol.progress li').forEach((li) => { if (!window.steps.includes(li.textContent)) window.steps.push(li.textContent); })).observe(document.body, {childList: true, subtree: true, characterData: true}); true`, nil); err != nil {
		t.Fatal(err)
	}

	// Approved on her CLI device, by the code as the page shows it.
	if out := parley(t, "--home", alice, "devices", "add", code, "--yes"); !strings.Contains(out, "added browser to alice at height ") {
		t.Fatalf("devices add:\n%s", out)
	}
	page.AwaitText("main", "This device was added to alice. Is that your name?")
	page.Axe("link: is that your name?")
	page.Click("button", "Yes, alice is my name")
	page.AwaitText("nav[aria-label=Conversations]", "bob")
	page.AwaitText("nav[aria-label=Conversations]", "hikers")
	var steps []string
	if err := page.Eval(`window.steps`, &steps); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(steps, "\n"); !strings.Contains(got, "Approved: the chain lists this device under alice.") ||
		!strings.Contains(got, "Linked as alice’s browser, approved by first: 1 contacts, 1 groups") {
		t.Errorf("the link's progress as the page showed it:\n%s", got)
	}
	if got := page.Text("header"); !strings.Contains(got, "Signed in as alice") {
		t.Errorf("the header after linking: %q", got)
	}
	if out := parley(t, "--home", browserHome, "devices"); !strings.Contains(out, "browser") || !strings.Contains(out, "(this device)") {
		t.Errorf("devices, as the browser's home lists them:\n%s", out)
	}
	awaitName(t, bob, "alice", "device-add browser")

	// Bob writes: the browser shows it live, her CLI device reads it too.
	page.Click("link", "bob")
	page.AwaitText("[role=log]", "") // the conversation is open
	page.Eval(`window.sameDocument = true`, nil)
	parley(t, "--home", bob, "send", "alice", "hello, both of you")
	page.AwaitText("[role=log]", "hello, both of you")
	if got := parley(t, "--home", alice, "read", "bob"); !strings.Contains(got, "bob: hello, both of you") {
		t.Errorf("alice's CLI device reads bob:\n%s", got)
	}
	var same bool
	if page.Eval(`window.sameDocument === true`, &same); !same {
		t.Error("the page reloaded to show bob's message")
	}
	// What the browser writes reaches Bob as alice's, and her other device.
	page.Type("textbox", "Message", "from the browser\r")
	awaitpkg.True(t, 2*time.Minute, "bob to read what alice wrote in the browser", func() bool {
		return strings.Contains(parley(t, "--home", bob, "read", "alice"), "alice: from the browser")
	})
	awaitpkg.True(t, 2*time.Minute, "alice's CLI device to show what the browser sent", func() bool {
		return strings.Contains(parley(t, "--home", alice, "read", "bob"), "from the browser")
	})

	// The Devices page: both devices, this one marked.
	page.Click("link", "Devices")
	page.AwaitText("main", "The devices of alice")
	if got := page.Text("ul.devices"); !strings.Contains(got, "first") || !strings.Contains(got, "browser") || !strings.Contains(got, "(this device)") {
		t.Errorf("the devices page: %q", got)
	}
	page.Axe("devices, on the linked device")
	if errs := page.Errors(); len(errs) > 0 {
		t.Errorf("the page's scripts failed: %q", errs)
	}

	// Left open and unused past the session's idle lifetime: the server
	// ends the session (its sweep, within a minute), the event stream
	// with it, and the page says to sign in again.
	clk.add(web.DefaultSessionIdle + time.Minute)
	page.AwaitText("main", "Sign in again")
	page.AwaitText("main", "your session ended: it was not used for 12 hours")
	page.Axe("sign in again")
}

// TestWebLinkCodeExpires: nobody approves the browser's link code before
// its offer expires (100 blocks on the test chain, 5 s): the page says
// the code expired and what to do, instead of waiting for ever; so does
// the page reloaded later, which finds the offer gone.
func TestWebLinkCodeExpires(t *testing.T) {
	rpc, _ := startWorld(t)
	browserHome := filepath.Join(t.TempDir(), "alice-browser")
	page := webtest.Browser(t, "alice-browser")
	page.Open(startWeb(t, browserHome))
	page.AwaitText("main", "Set up Parley on this device")
	page.Click("radio", "Link this device to a name I already have")
	page.Fill("textbox", "Chain node", rpc)
	page.Type("textbox", "Your name", "alice")
	page.Type("textbox", "Passphrase", testPassphrase)
	page.Type("textbox", "Passphrase again", testPassphrase)
	page.Click("button", "Show the link code")
	page.AwaitText("main", "Link code:")
	page.AwaitText("[role=alert]", "This link code expired before a device approved it.")
	page.Axe("link code expired")
	if err := page.Eval(`location.reload(); true`, nil); err != nil {
		t.Fatal(err)
	}
	page.AwaitText("[role=alert]", "This link code expired before a device approved it.")
	if errs := page.Errors(); len(errs) > 0 {
		t.Errorf("the page's scripts failed: %q", errs)
	}
}
