package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parley-im/parley/chain/node"
	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/hub/server/hubtest"
	awaitpkg "github.com/parley-im/parley/internal/await"
	"github.com/parley-im/parley/internal/web/webtest"
)

// startWeb runs parley web on home and returns the address it printed
// first; at the end of the test it stops it, checks it exited cleanly and
// that its log never held the login token.
func startWeb(t testing.TB, home string) string {
	t.Helper()
	login, _ := startWebWith(t, home, testRun())
	return login
}

// startWebWith is startWeb with opts; stop stops parley web (and checks
// it) before the test ends.
func startWebWith(t testing.TB, home string, opts runOptions) (login string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- runWith(ctx, opts, []string{"--home", home, "web"}, nil, &out, &errb) }()
	first := awaitpkg.Value(t, 2*time.Minute, "parley web to print the address to open", func() (string, error) {
		line, _, ok := strings.Cut(out.String(), "\n")
		if !ok {
			return "", errFalse("nothing printed yet: " + errb.String())
		}
		return line, nil
	})
	m := regexp.MustCompile(`^open (http://127\.0\.0\.1:\d+/login\?token=([A-Za-z0-9_-]{43}))$`).FindStringSubmatch(first)
	if m == nil {
		cancel()
		t.Fatalf("parley web's first line is %q", first)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("parley web exited %d:\n%s", code, errb.String())
			}
			if strings.Contains(errb.String(), m[2]) {
				t.Errorf("parley web logged its login token:\n%s", errb.String())
			}
		})
	}
	t.Cleanup(stop)
	return m[1], stop
}

// notified records the notifications an agent shows (runOptions.notifier).
type notified struct {
	mu  sync.Mutex
	got []string
}

func (n *notified) Notify(_ context.Context, title, body string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, title+" | "+body)
	return nil
}

func (n *notified) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.got)
}

type errFalse string

func (e errFalse) Error() string { return string(e) }

// origin is the scheme, host and port of a URL.
func origin(u string) string {
	return u[:strings.Index(u[len("http://"):], "/")+len("http://")]
}

// TestWebScenario: Alice uses the web app, Bob the CLI, on a real chain
// node and two real hubs. Alice unlocks in the browser, removes the junk
// in her inbox, sees Bob's request with its greeting, accepts it; they
// write both ways and each sees the other's messages live (Alice's page
// without a reload); the timer selector shows the timer either side set;
// what Bob wrote that looks like markup, script or bidi tricks is shown
// as the text it is and runs nothing; files go both ways (Bob's image
// shown as a preview, Alice's upload fetched by Bob intact); Alice checks
// the safety number against what Bob's whois says, marks Bob verified,
// then not. Her settings take effect (notifications, another node);
// she renews her name and moves it to Bob's hub (Bob's whois follows and
// he reads her there), links a laptop to her name by its link code and
// removes it (Bob's whois shows both), changes her passphrase, signs out (the cookie no
// longer works) and unlocks again with the new passphrase only; she
// starts the conversation over (Bob accepts her new request), removes
// Bob, declines his new request (he is told nothing), and revokes her
// name (Bob's whois says REVOKED). Every screen passes axe-core with no
// serious or critical violation.
func TestWebScenario(t *testing.T) {
	rpc, hubs := startWorldWith(t, longOffers)
	const pass = "correct horse battery staple"
	t.Setenv("PARLEY_PASSPHRASE", pass)
	alice, bob := filepath.Join(t.TempDir(), "alice"), filepath.Join(t.TempDir(), "bob")
	initHome(t, rpc, alice)
	initHome(t, rpc, bob)
	parley(t, "--home", alice, "register", "alice", "--hub", hubs[0])
	parley(t, "--home", bob, "register", "bob", "--hub", hubs[1])
	awaitName(t, bob, "alice")
	awaitName(t, alice, "bob")
	greeting := `hi alice <b>it's bob</b> <script>window.pwned = "greeting"</script>`
	parley(t, "--home", bob, "contacts", "add", "alice", "--message", greeting)
	// Junk in Alice's inbox: two envelopes sealed to nobody, stamps paid.
	ctx := context.Background()
	junker, err := hubclient.Dial(ctx, hubs[0], ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range []string{"junk 1", "junk 2"} {
		if _, err := junker.InboxPost(ctx, inboxAddressWith(t, alice, pass), []byte(j)); err != nil {
			t.Fatalf("posting %s: %v", j, err)
		}
	}

	notes := &notified{}
	opts := testRun()
	opts.notifier = notes
	login, stopWeb := startWebWith(t, alice, opts)
	app := origin(login)
	page := webtest.Browser(t, "alice")
	page.Open(login)

	// Signed in, the keys still locked: the passphrase is typed in the page.
	page.AwaitText("main", "Unlock Parley")
	page.Axe("unlock")
	page.Type("textbox", "Passphrase", pass)
	page.Click("button", "Unlock")

	// The request, with its greeting as text.
	page.Click("link", "Requests (1)")
	page.AwaitText("main", "bob")
	if got := page.Text(".greeting"); got != greeting {
		t.Fatalf("the greeting shows as %q, want %q", got, greeting)
	}
	page.AwaitText("main", "2 envelopes in your inbox can never be opened")
	page.Axe("requests")
	// The junk removed in the page: the CLI on Alice's home lists none.
	page.Click("button", "Remove them")
	page.AwaitText("main", "Removed 2 envelopes that could never be opened.")
	if out := parley(t, "--home", alice, "requests"); strings.Contains(out, "?\t") || !strings.Contains(out, "bob") {
		t.Errorf("alice's requests after clearing the junk in the page:\n%s", out)
	}
	page.Click("button", "Accept bob")

	// The conversation: Bob's greeting is its first message.
	page.AwaitText("[role=log]", "it's bob")
	page.Type("textbox", "Message", "hello bob, from the browser\r")
	awaitpkg.True(t, 2*time.Minute, "bob to read alice's message", func() bool {
		return strings.Contains(parley(t, "--home", bob, "read", "alice"), "alice: hello bob, from the browser")
	})
	// Shift+Enter is a new line, Enter sends.
	page.Type("textbox", "Message", "line one")
	page.ShiftEnter()
	page.Type("textbox", "Message", "line two\r")
	awaitpkg.True(t, 2*time.Minute, "bob to read alice's two lines", func() bool {
		out := parley(t, "--home", bob, "read", "alice")
		return strings.Contains(out, "line one") && strings.Contains(out, "line two")
	})

	// Bob's reply arrives live: no reload.
	page.Eval(`window.sameDocument = true`, nil)
	parley(t, "--home", bob, "send", "alice", "hi alice, live from the CLI")
	page.AwaitText("[role=log]", "hi alice, live from the CLI")

	// A reply quoting Bob's message, a reaction, an edit, a delete and a
	// timer, each as Bob's CLI reads it.
	page.Click("button", "Reply to bob/2")
	page.AwaitText("#composer-context", "Replying to bob")
	page.Type("textbox", "Message", "a reply to that\r")
	page.Await("the reply with its quote", `[...document.querySelectorAll('[role=log] .msg')].some(li => li.querySelector('.quote') && li.querySelector('.quote').textContent.includes('hi alice, live from the CLI') && li.textContent.includes('a reply to that'))`)
	page.Click("button", "React 👍 to bob/2")
	page.Click("button", "Edit alice/1")
	page.Fill("textbox", "Message", "hello bob, from the browser (edited here)")
	page.Type("textbox", "Message", "\r")
	page.Click("button", "Delete alice/2")
	page.Click("button", "Delete alice/2 for everyone")
	page.Choose("Disappearing messages", "3600")
	awaitpkg.True(t, 2*time.Minute, "bob to read the reply, reaction, edit, delete and timer", func() bool {
		out := parley(t, "--home", bob, "read", "alice")
		return strings.Contains(out, "↪ bob/2 a reply to that") && strings.Contains(out, "👍alice") &&
			strings.Contains(out, "hello bob, from the browser (edited here) (edited)") && strings.Contains(out, "(deleted)") &&
			!strings.Contains(out, "line one") && strings.Contains(out, "(set disappearing messages to 1h0m0s)")
	})
	// The selector shows the timer as set: on opening the conversation
	// again, and live when Bob sets another one.
	page.Open(app + "/#/")
	page.Open(app + "/#/c/bob")
	page.Await("the selector to show the 1 hour timer", `document.getElementById('timer-select').value === '3600' && !document.getElementById('timer-select').disabled`)
	parley(t, "--home", bob, "timer", "alice", "2h")
	page.Await("the selector to show bob's 2 hour timer", `document.getElementById('timer-select').value === '7200' && document.getElementById('timer-select').selectedOptions[0].textContent === 'Disappear after 2 hours'`)
	page.Choose("Disappearing messages", "0")
	awaitpkg.True(t, 2*time.Minute, "bob to read the timer turned off", func() bool {
		return strings.Contains(parley(t, "--home", bob, "read", "alice"), "(turned disappearing messages off)")
	})

	// Hostile text: shown as text, nothing runs, no link made.
	hostile := "<img src=x onerror=\"window.pwned='img'\"><a href=\"javascript:window.pwned='link'\">click</a> \u202eevil.exe\u202c <script>window.pwned='script'</script>"
	parley(t, "--home", bob, "send", "alice", hostile)
	page.AwaitText("[role=log]", "click")
	var shown string
	page.Eval(`[...document.querySelectorAll('[role=log] .msg .text')].map(e => e.textContent).pop()`, &shown)
	if shown != hostile {
		t.Errorf("the hostile message shows as %q, want %q", shown, hostile)
	}
	var dom struct {
		Pwned, Same                       any
		Scripts, Imgs, Links, Bdi, Inline int
	}
	page.Eval(`({pwned: window.pwned, same: window.sameDocument,
		scripts: document.querySelectorAll('[role=log] script, body > script:not([src])').length,
		imgs: document.querySelectorAll('[role=log] img:not(.preview)').length,
		links: document.querySelectorAll('a[href^="javascript:"]').length,
		bdi: document.querySelectorAll('[role=log] bdi').length,
		inline: document.querySelectorAll('[onerror],[onclick],[onload]').length})`, &dom)
	if dom.Pwned != nil || dom.Same != true || dom.Scripts != 0 || dom.Imgs != 0 || dom.Links != 0 || dom.Inline != 0 || dom.Bdi == 0 {
		t.Errorf("after the hostile message the page has %+v", dom)
	}
	page.Axe("conversation")

	// A file from Bob with a hostile name: an image, previewed, and its
	// name as text.
	dir := t.TempDir()
	imgName := `<img src=x onerror=window.pwned=1>` + "\u202e" + `gnp.png`
	pic := filepath.Join(dir, imgName)
	writePNG(t, pic)
	parley(t, "--home", bob, "send-file", "alice", pic)
	page.AwaitText("[role=log]", "gnp.png")
	page.Await("the image preview to load", `[...document.querySelectorAll('[role=log] img.preview')].some(i => i.complete && i.naturalWidth === 8)`)
	var preview string
	page.Eval(`document.querySelector('[role=log] img.preview').getAttribute('src')`, &preview)
	var names []string
	page.Eval(`[...document.querySelectorAll('[role=log] .file-name')].map(e => e.textContent)`, &names)
	if len(names) != 1 || names[0] != "📎 "+imgName {
		t.Errorf("the file's name shows as %q", names)
	}

	// A file from Alice, chosen with the picker, sent with progress, and
	// fetched by Bob intact.
	upload := filepath.Join(dir, "from-alice.txt")
	content := bytes.Repeat([]byte("parley web "), 50000)
	os.WriteFile(upload, content, 0o600)
	page.Upload("#composer-file", upload)
	page.AwaitText("[role=log]", "from-alice.txt")
	ref := awaitpkg.Value(t, 2*time.Minute, "bob to see alice's file", func() (string, error) {
		m := regexp.MustCompile(`from-alice\.txt \([^;]*; get-file (alice/\d+)\)`).FindStringSubmatch(parley(t, "--home", bob, "read", "alice"))
		if m == nil {
			return "", errFalse("not yet")
		}
		return m[1], nil
	})
	got := filepath.Join(t.TempDir(), "got.txt")
	parley(t, "--home", bob, "get-file", "alice", ref, "--out", got)
	if b, _ := os.ReadFile(got); !bytes.Equal(b, content) {
		t.Errorf("bob got %d bytes of alice's %d", len(b), len(content))
	}

	// The safety number Alice is shown is the one Bob's whois reads; she
	// types it and Bob is verified (as the CLI on her home, served by the
	// web app's agent, says).
	page.Click("link", "Contact details and safety number")
	page.AwaitText("main", "Safety number")
	number := page.Text("#safety-number")
	if number == "" || !strings.Contains(parley(t, "--home", bob, "whois", "alice"), number) {
		t.Fatalf("alice is shown safety number %q, not in bob's whois", number)
	}
	page.Await("the QR code to load", `document.querySelector('img.qr').complete && document.querySelector('img.qr').naturalWidth > 0`)
	page.Axe("contact")
	page.Type("textbox", "The number bob reads to you", number)
	page.Click("button", "Mark verified")
	page.AwaitText("main", "Verified in person")
	if out := parley(t, "--home", alice, "contacts"); !strings.HasPrefix(out, "bob\tkeys as confirmed, verified in person") {
		t.Errorf("alice's contacts after verifying in the browser: %q", out)
	}
	page.Click("button", "Mark not verified")
	page.AwaitText("main", "Not verified in person yet")
	if out := parley(t, "--home", alice, "contacts"); !strings.HasPrefix(out, "bob\tkeys as confirmed, not verified (parley contacts verify bob)") {
		t.Errorf("alice's contacts after unverifying in the browser: %q", out)
	}

	// A hostile display name from Bob: text on his page, and in the list.
	evilName := `<img src=x onerror="window.pwned='name'">` + "\u202e" + `boB`
	parley(t, "--home", bob, "profile", "set", "--name", evilName, "--status", "<b>away</b>", "--avatar", pic)
	page.Open(app + "/#/contact/bob")
	page.AwaitText("main", "<b>away</b>")
	if !strings.Contains(page.Text("main"), evilName) {
		t.Errorf("bob's page does not show his display name as text: %q", page.Text("main"))
	}
	page.Await("bob's avatar on his page", `[...document.querySelectorAll('main img.avatar')].some(i => i.complete && i.naturalWidth === 8)`)
	page.Open(app + "/#/")
	page.AwaitText("nav[aria-label=Conversations]", "boB")
	page.Await("bob's avatar in the list", `[...document.querySelectorAll('nav[aria-label=Conversations] img.avatar')].some(i => i.complete && i.naturalWidth === 8)`)
	page.Click("link", evilName) // the list names a contact by their display name
	page.AwaitText("#conv-title", "boB")
	page.Eval(`({pwned: window.pwned, imgs: document.querySelectorAll('main img:not(.preview):not(.avatar)').length})`, &dom)
	if dom.Pwned != nil || dom.Imgs != 0 {
		t.Errorf("after the hostile display name the page has %+v", dom)
	}

	// Bob's file downloads intact, as an attachment.
	var dl struct {
		Size        int
		Disposition string
	}
	page.Await("the file's download link", `!!document.querySelector('[role=log] a[download]')`)
	page.Eval(`fetch(document.querySelector('[role=log] a[download]').href).then(async r => ({size: (await r.arrayBuffer()).byteLength, disposition: r.headers.get('Content-Disposition')}))`, &dl)
	if st, _ := os.Stat(pic); dl.Size != int(st.Size()) || !strings.HasPrefix(dl.Disposition, "attachment;") {
		t.Errorf("the download: %+v, want %d bytes as an attachment", dl, st.Size())
	}

	// Search finds Bob's message and leads to the conversation.
	page.Open(app + "/#/search")
	page.Type("searchbox", "Words to find", "live from the CLI\r")
	page.AwaitText(".results", "hi alice, live from the CLI")

	// Alice's profile, set in the page, is what Bob reads.
	page.Open(app + "/#/profile")
	page.Fill("textbox", "Display name", "Alice L.")
	page.Fill("textbox", "Status", "in the browser")
	page.Click("button", "Save and share with contacts")
	awaitpkg.True(t, 2*time.Minute, "bob to read alice's new profile", func() bool {
		_, out, _ := try(bob, "profile", "alice") // "no profile shared by alice" until it arrives
		return strings.Contains(out, "Alice L.") && strings.Contains(out, "in the browser")
	})

	// Block and unblock, as the CLI on Alice's home (served by her web
	// app's agent) sees it.
	page.Open(app + "/#/contact/bob")
	page.Click("button", "Block bob")
	page.AwaitText("main", "Unblock bob")
	if out := parley(t, "--home", alice, "settings"); !strings.Contains(out, "blocked: bob") {
		t.Errorf("alice's settings after blocking in the page:\n%s", out)
	}
	page.Click("button", "Unblock bob")
	page.AwaitText("main", "Block bob")
	if out := parley(t, "--home", alice, "settings"); strings.Contains(out, "blocked: bob") {
		t.Errorf("alice's settings after unblocking in the page:\n%s", out)
	}

	// A file dropped on the conversation is sent.
	page.Open(app + "/#/c/bob")
	page.AwaitText("[role=log]", "live from the CLI")
	page.Eval(`(() => { const dt = new DataTransfer(); dt.items.add(new File(['dropped on the page'], 'dropped.txt'));
		document.querySelector('.conv-pane').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true})); return 1; })()`, nil)
	page.AwaitText("[role=log]", "dropped.txt")
	awaitpkg.True(t, 2*time.Minute, "bob to see the dropped file", func() bool {
		return strings.Contains(parley(t, "--home", bob, "read", "alice"), "dropped.txt")
	})

	// The system's dark scheme, and a phone's width: the list, or the
	// conversation with a way back.
	page.Dark(true)
	var bg string
	page.Eval(`getComputedStyle(document.body).backgroundColor`, &bg)
	if bg != "rgb(17, 19, 23)" {
		t.Errorf("in the dark scheme the page's background is %s", bg)
	}
	page.Axe("conversation, dark")
	page.Phone(true)
	page.Await("the conversation alone at phone width", `getComputedStyle(document.getElementById('conv-list')).display === 'none' && getComputedStyle(document.querySelector('.back')).display !== 'none'`)
	page.Click("link", "← Chats")
	page.Await("the list alone at phone width", `getComputedStyle(document.getElementById('conv-list')).display !== 'none' && getComputedStyle(document.querySelector('.conv-pane')).display === 'none'`)
	page.Axe("list, phone")
	page.Phone(false)
	page.Dark(false)

	// Attacks from another browser and another site. The login address
	// works once: a second browser that opens it is refused and signed in
	// nowhere.
	mallory := webtest.Browser(t, "mallory")
	mallory.Open(login)
	mallory.AwaitText("body", `"unauthorized"`)
	mallory.Open(app + "/")
	mallory.AwaitText("main", "Not signed in")
	// DNS rebinding: a name of the attacker's that resolves to 127.0.0.1
	// reaches the server, which answers nothing but that it is misdirected.
	port := app[strings.LastIndexByte(app, ':')+1:]
	rebinder := webtest.Browser(t, "rebinder", chromedp.Flag("host-resolver-rules", "MAP rebind.test 127.0.0.1"))
	rebinder.Open("http://rebind.test:" + port + "/")
	rebinder.AwaitText("body", "this server answers only to "+app)
	var status int
	rebinder.Eval(`fetch('/api/v1/agent').then(r => r.status)`, &status)
	if status != http.StatusMisdirectedRequest {
		t.Errorf("the rebound page's call: %d, want 421", status)
	}
	// A page of another site (another port of 127.0.0.1: same-site, so
	// the SameSite cookie goes along) in Alice's own signed-in browser
	// posts a message: the Origin check refuses it, nothing is sent.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><title>evil</title><script>
fetch(%q, {method: 'POST', mode: 'no-cors', credentials: 'include', headers: {'Content-Type': 'text/plain'},
  body: JSON.stringify({text: 'forged by another site'})}).then(() => { document.title = 'done'; }, () => { document.title = 'done'; });
</script>`, app+"/api/v1/conversations/bob/messages")
	}))
	defer evil.Close()
	page.Open(evil.URL)
	page.Await("the other site's request to be made", `document.title === 'done'`)
	if out := parley(t, "--home", alice, "read", "bob"); strings.Contains(out, "forged by another site") {
		t.Errorf("a page of another site sent a message as alice:\n%s", out)
	}

	// The status page: the chain's verified height, Alice's hub answering.
	page.Open(app + "/#/status")
	page.AwaitText("main", "Verified height")
	page.AwaitText("main table", hubs[0])
	page.AwaitText("main table", "answers (")

	// A message while Alice is elsewhere: the list shows it unread, with
	// its text; opening the conversation reads it.
	parley(t, "--home", bob, "send", "alice", "while you were away")
	page.Open(app + "/#/")
	page.AwaitText("nav[aria-label=Conversations]", "1 unread")
	page.AwaitText("nav[aria-label=Conversations]", "while you were away")
	page.Click("link", evilName)
	page.AwaitText("[role=log]", "while you were away")
	awaitpkg.True(t, 2*time.Minute, "bob to see his message read", func() bool {
		return strings.Contains(parley(t, "--home", bob, "read", "alice"), "while you were away [read]")
	})

	// Read receipts off in the settings, as the CLI on Alice's home reads them.
	page.Open(app + "/#/settings")
	page.Click("checkbox", "Send read receipts")
	awaitpkg.True(t, time.Minute, "read receipts off", func() bool {
		return strings.Contains(parley(t, "--home", alice, "settings"), "read-receipts: off")
	})

	// Notifications on in the settings: the agent shows one for Bob's
	// next message (none before, while they were off), naming him, never
	// the text.
	if got := notes.all(); len(got) != 0 {
		t.Errorf("notifications shown while they were off: %q", got)
	}
	page.Click("checkbox", "Desktop notifications (from the agent)")
	awaitpkg.True(t, time.Minute, "notifications on", func() bool {
		return strings.Contains(parley(t, "--home", alice, "settings"), "notifications: on")
	})
	parley(t, "--home", bob, "send", "alice", "a secret the notification must not show")
	shownNotes := awaitpkg.Value(t, 2*time.Minute, "a notification of bob's message", func() ([]string, error) {
		if got := notes.all(); len(got) > 0 {
			return got, nil
		}
		return nil, errFalse("none yet")
	})
	if shownNotes[0] != "Parley | new message from bob" {
		t.Errorf("the notifications shown: %q", shownNotes)
	}

	// Another address of the node, and a witness, set in the page: the
	// CLI on Alice's home and her status page use them; a node that does
	// not answer is refused, saying so, and changes nothing.
	nodePort := rpc[strings.LastIndexByte(rpc, ':')+1:]
	localRPC := "http://localhost:" + nodePort
	page.Open(app + "/#/settings")
	page.Fill("textbox", "Node", "http://127.0.0.1:1")
	page.Click("button", "Use this node")
	page.AwaitText("main [role=alert]", "127.0.0.1:1")
	page.Fill("textbox", "Node", localRPC)
	page.Fill("textbox", "Witnesses (one per line)", rpc)
	page.Click("button", "Use this node")
	awaitpkg.True(t, time.Minute, "the new node in alice's settings", func() bool {
		out := parley(t, "--home", alice, "settings")
		return strings.Contains(out, "node: "+localRPC+"\n") && strings.Contains(out, "witnesses: "+rpc+"\n")
	})
	page.Open(app + "/#/status")
	page.AwaitText("main", "Verified height")
	if got := page.Text("main dl"); !strings.Contains(got, localRPC) || !regexp.MustCompile(`Witnesses\s+1\b`).MatchString(got) {
		t.Errorf("the status page after the node changed: %q", got)
	}

	for _, screen := range []string{"status", "settings", "profile", "search", "add", "groups/new"} {
		page.Open(app + "/#/" + screen)
		page.Await(screen+" to show", `document.querySelector('main h1') !== null && !document.querySelector('main .loading')`)
		page.Axe(screen)
	}
	// At a phone's width, the screens with new controls fit (nothing
	// scrolls sideways) and pass axe-core.
	page.Phone(true)
	for _, screen := range []string{"settings", "contact/bob", "requests", "name", "devices", "status"} {
		page.Open(app + "/#/" + screen)
		page.Await(screen+" to show", `document.querySelector('main h1') !== null && document.querySelectorAll('main section, main form, main li').length > 0`)
		page.Axe(screen + ", phone")
		var wide bool
		page.Eval(`document.documentElement.scrollWidth > window.innerWidth`, &wide)
		if wide {
			t.Errorf("at phone width, %s scrolls sideways", screen)
		}
	}
	page.Phone(false)

	// Alice's name, renewed in the page: Bob's whois reads the new expiry.
	before := expiresAt(t, bob, "alice")
	page.Open(app + "/#/name")
	page.AwaitText("main", "Move to other hubs")
	page.Axe("name")
	page.Click("button", "Renew my name")
	page.AwaitText("main", "now expires at height")
	awaitpkg.True(t, 2*time.Minute, "bob to see alice's name renewed", func() bool { return expiresAt(t, bob, "alice") > before })

	// Moved to Bob's hub, the old one emptied: Bob's whois names the new
	// hub, and he reads what Alice writes next from it.
	page.Fill("textbox", "Hubs (one per line)", hubs[1])
	page.Click("checkbox", "Empty the hubs I leave")
	page.Click("button", "Move to these hubs")
	page.AwaitText("main", "Now on "+hubs[1])
	awaitName(t, bob, "alice", "hubs:     "+hubs[1]+"\n")
	page.Open(app + "/#/c/bob")
	page.Type("textbox", "Message", "from my new hub\r")
	awaitpkg.True(t, 2*time.Minute, "bob to read alice from her new hub", func() bool {
		return strings.Contains(parley(t, "--home", bob, "read", "alice"), "alice: from my new hub")
	})

	// A laptop linked to Alice's name in the page: its 'parley link'
	// prints a code; Alice looks it up (the offer shown first) and adds
	// it; the laptop opens its welcome, with her contacts, and Bob's whois
	// shows the device added. She removes it in the page, asked twice:
	// Bob's whois says so, and the laptop knows.
	laptop := filepath.Join(t.TempDir(), "alice-laptop")
	code, lout, lerr, ldone := startLink(t, rpc, laptop, "--label", "laptop", "--name", "alice")
	page.Open(app + "/#/devices")
	page.AwaitText("main ul.devices", "(this device)")
	page.Axe("devices")
	page.Type("textbox", "Link code", strings.ToLower(code)+"\r")
	page.AwaitText("main", "The device that offers itself")
	if got := page.Text("section.record"); !strings.Contains(got, "laptop") || !strings.Contains(got, "ed25519:") {
		t.Errorf("the offer as shown: %q", got)
	}
	page.Axe("devices, an offer")
	page.Click("checkbox", "Give it my message history too")
	page.Click("button", "Add laptop to alice")
	if c := <-ldone; c != 0 || !strings.Contains(lout.String(), "this device is alice's laptop now (approved by first)") {
		t.Fatalf("link on the laptop: exit %d\n%s%s", c, lout.String(), lerr.String())
	}
	page.AwaitText("main ul.devices", "laptop")
	if got := parley(t, "--home", laptop, "contacts"); !strings.Contains(got, "bob") {
		t.Errorf("the laptop's contacts:\n%s", got)
	}
	awaitName(t, bob, "alice", "device-add laptop")
	page.Click("button", "Remove laptop")
	page.Click("button", "Remove laptop for good")
	page.Await("the laptop gone from the list", `!!document.querySelector('main ul.devices') && !document.querySelector('main ul.devices').textContent.includes('laptop')`)
	awaitName(t, bob, "alice", "device-remove laptop")
	if got := parley(t, "--home", laptop, "status"); !strings.Contains(got, "this device was linked to it and has been removed") {
		t.Errorf("the removed laptop's status:\n%s", got)
	}

	// A new passphrase, set in the page.
	const newPass = "a new passphrase for alice"
	page.Open(app + "/#/settings")
	page.Type("textbox", "Current passphrase", pass)
	page.Type("textbox", "New passphrase", newPass)
	page.Type("textbox", "New passphrase again", newPass)
	page.Click("button", "Change passphrase")
	page.AwaitText("main", "Passphrase changed")

	// Alice signs out. The session's cookie no longer opens anything.
	// What the page showed of Bob's (his image, his avatar, the safety
	// number's QR code) is not left in the browser's cache for whoever
	// uses the browser next: before, the image was kept an hour
	// (Cache-Control: private, max-age=3600), on disk with the browser's
	// profile, and a page asking the cache alone got it after signing out.
	cookieName := "parley_session_" + app[strings.LastIndexByte(app, ':')+1:]
	session := page.Cookies(app)[cookieName]
	withCookie := func() int {
		req, _ := http.NewRequest("GET", app+"/api/v1/agent", nil)
		req.AddCookie(&http.Cookie{Name: cookieName, Value: session})
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if session == "" || withCookie() != http.StatusOK {
		t.Fatalf("before signing out, the session cookie %s=%q does not work", cookieName, session)
	}
	var qr, avatar string
	page.Open(app + "/#/contact/bob")
	page.Await("the QR code to load", `document.querySelector('img.qr') && document.querySelector('img.qr').complete`)
	page.Eval(`document.querySelector('img.qr').getAttribute('src')`, &qr)
	page.Eval(`document.querySelector('main img.avatar').getAttribute('src')`, &avatar)
	page.Open(app + "/#/settings")
	page.Click("button", "Sign out")
	page.Await("the signed-out page", `!document.querySelector('nav[aria-label=Conversations]')`)
	page.AwaitText("main", "Not signed in")
	if code := withCookie(); code != http.StatusUnauthorized {
		t.Errorf("the cookie after signing out: %d, want 401", code)
	}
	if c, ok := page.Cookies(app)[cookieName]; ok {
		t.Errorf("the browser keeps the session cookie after signing out: %q", c)
	}
	for _, u := range []string{preview, qr, avatar} {
		var cached string
		page.Eval(`fetch(`+strconv.Quote(u)+`, {cache: 'only-if-cached', mode: 'same-origin'}).then(r => r.ok ? 'cached: ' + r.status + ' ' + r.headers.get('content-type') : 'not cached: ' + r.status, e => 'not cached')`, &cached)
		if cached != "not cached" && !strings.HasPrefix(cached, "not cached: ") {
			t.Errorf("after signing out, the browser's cache still answers %s: %s", u, cached)
		}
	}
	// Nor does going back to the conversation show it: in the page, nor
	// after leaving it and coming back (the back/forward cache).
	var text string
	page.Eval(`location.hash = '#/c/bob'`, nil)
	page.Await("the conversation refused", `document.title === 'Parley: not signed in'`)
	page.Eval(`document.body.innerText`, &text)
	if strings.Contains(text, "while you were away") || strings.Contains(text, "live from the CLI") {
		t.Errorf("after signing out, going back to the conversation shows it:\n%s", text)
	}
	page.Open("about:blank")
	page.Eval(`history.back()`, nil)
	page.Await("the app again", `location.origin === `+strconv.Quote(app)+` && document.readyState === 'complete' && document.title === 'Parley: not signed in'`)
	page.Eval(`document.body.innerText`, &text)
	if strings.Contains(text, "while you were away") || strings.Contains(text, "live from the CLI") {
		t.Errorf("after signing out, leaving and pressing back shows the conversation:\n%s", text)
	}

	// parley web again: the old passphrase no longer unlocks, the new one does.
	stopWeb()
	login, _ = startWebWith(t, alice, opts)
	app = origin(login)
	page.Open(login)
	page.AwaitText("main", "Unlock Parley")
	page.Type("textbox", "Passphrase", pass)
	page.Click("button", "Unlock")
	page.AwaitText("main [role=alert]", "passphrase")
	page.Fill("textbox", "Passphrase", newPass)
	page.Click("button", "Unlock")
	page.Await("the app to open", `!!document.querySelector('nav[aria-label=Conversations]')`)

	// Alice starts the conversation over from Bob's page: Bob gets her new
	// request with its greeting; once he accepts, his messages reach her.
	page.Open(app + "/#/contact/bob")
	page.Fill("textbox", "Greeting for the new request", "starting over, from the browser")
	page.Click("button", "Start the conversation over")
	awaitpkg.True(t, 2*time.Minute, "bob to get alice's new request", func() bool {
		return strings.Contains(parley(t, "--home", bob, "requests"), "alice\t(signature verified against the chain): starting over, from the browser")
	})
	parley(t, "--home", bob, "contacts", "accept", "alice")
	parley(t, "--home", bob, "send", "alice", "glad we started over")
	page.Open(app + "/#/c/bob")
	page.AwaitText("[role=log]", "glad we started over")

	// Alice removes Bob: he is gone from her list and her contacts.
	page.Open(app + "/#/contact/bob")
	page.Click("button", "Remove bob")
	page.Click("button", "Remove bob and the conversation for good")
	page.Await("bob gone from the list", `location.hash === '#/' && !!document.getElementById('conv-list') && !document.getElementById('conv-list').textContent.includes('boB')`)
	if out := parley(t, "--home", alice, "contacts"); strings.Contains(out, "bob") {
		t.Errorf("alice's contacts after removing bob in the page:\n%s", out)
	}
	// Bob asks again (to her new hub's inbox); Alice declines in the page.
	// Bob is told nothing: his request still waits for an answer.
	parley(t, "--home", bob, "contacts", "reset", "alice", "--message", "bob asks again")
	page.Click("link", "Requests (1)")
	page.AwaitText("main", "bob asks again")
	page.Click("button", "Decline bob")
	page.AwaitText("main", "No requests waiting.")
	if out := parley(t, "--home", alice, "requests"); strings.Contains(out, "bob") {
		t.Errorf("alice's requests after declining bob in the page:\n%s", out)
	}
	if out := parley(t, "--home", bob, "contacts"); !strings.Contains(out, "request sent, waiting for alice to accept") {
		t.Errorf("bob's contacts after alice declined:\n%s", out)
	}
	page.Open(app + "/#/")
	page.Open(app + "/#/requests")
	page.AwaitText("main", "No requests waiting.")

	// Revoking needs the name typed again; then Bob's whois says REVOKED.
	page.Open(app + "/#/name")
	page.AwaitText("main", "Revoke your name")
	revokeDisabled := func() bool {
		var d bool
		page.Eval(`[...document.querySelectorAll('button')].find(b => b.textContent === 'Revoke my name for good').disabled`, &d)
		return d
	}
	page.Type("textbox", "Type alice to confirm", "alic")
	if !revokeDisabled() {
		t.Fatal("the revoke button works before the name is typed in full")
	}
	page.Type("textbox", "Type alice to confirm", "e")
	if revokeDisabled() {
		t.Fatal("the revoke button stays disabled with the name typed")
	}
	page.Type("textbox", "Your recovery phrase", phraseOf(t, alice))
	page.Click("button", "Revoke my name for good")
	page.AwaitText("main", "was revoked at block")
	awaitName(t, bob, "alice", "REVOKED")

	if errs := page.Errors(); len(errs) > 0 {
		t.Errorf("the page's scripts failed: %q", errs)
	}
}

// phraseWordsAsked is which words of the recovery phrase (1 to 12) the
// page asks back: three, in order.
func phraseWordsAsked(t *testing.T, page *webtest.Page) []int {
	t.Helper()
	var labels []string
	if err := page.Eval(`[...document.querySelectorAll('main label')].map((l) => l.textContent)`, &labels); err != nil {
		t.Fatalf("reading the words asked: %v", err)
	}
	var asked []int
	for _, l := range labels {
		var n int
		if _, err := fmt.Sscanf(l, "Word %d", &n); err == nil {
			asked = append(asked, n)
		}
	}
	if len(asked) != 3 {
		t.Fatalf("the page asks for %q, want three words", labels)
	}
	return asked
}

// longOffers makes a link offer live 6,000 blocks (5 minutes of the test
// chain's 50 ms blocks) instead of the test chain's 100 (5 s): less than a
// loaded machine takes between the laptop's code and its lookup in the
// page ("no device is waiting with this code"). A preorder lives as long.
func longOffers(o *node.Options) { o.Params.PreorderTTL = 6000 }

// writePNG writes an 8×8 PNG.
func writePNG(t *testing.T, path string) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range 8 {
		img.Set(i, i, color.RGBA{200, 30, 30, 255})
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// webUser is a user's web app, open and unlocked in its own browser.
func webUser(t testing.TB, home, name, pass string) (*webtest.Page, string) {
	t.Helper()
	login := startWeb(t, home)
	page := webtest.Browser(t, name)
	page.Open(login)
	page.AwaitText("main", "Unlock Parley")
	page.Type("textbox", "Passphrase", pass)
	page.Click("button", "Unlock")
	page.Await("the app to open", `!!document.querySelector('nav[aria-label=Conversations]')`)
	return page, origin(login)
}

// TestWebKeyChange: bob's name expires and carol registers it. Alice, in
// the browser, writes to bob: the page warns that bob's keys changed,
// shows the new safety number and holds sending (nothing reaches carol);
// once Alice confirms the new keys, a new request goes to the new holder.
func TestWebKeyChange(t *testing.T) {
	t.Parallel() // its time goes in waiting for the chain's clock: see lapsingNames
	rpc, hubs := startWorldWith(t, lapsingNames)
	const pass = testPassphrase
	homes := lapseFirst(t, rpc, hubs[0], "bob", "alice") // alice outlives bob's name, and renews hers
	alice := homes["alice"]
	befriend(t, homes, "alice", "bob")
	carol := takeOver(t, rpc, hubtest.Start(t, nil).URL, alice, "bob", alice)
	awaitName(t, alice, "bob", "  2  height ") // the second registration

	page, _ := webUser(t, alice, "alice", pass)
	page.Click("link", "bob")
	page.AwaitText("[role=log]", "hi alice")
	page.Type("textbox", "Message", "sent after the change, before confirming\r")
	page.AwaitText("[role=alert]", "Keys changed: sending is held")
	if !strings.Contains(page.Text("#keys-banner"), "bob") {
		t.Errorf("the warning: %q", page.Text("#keys-banner"))
	}
	page.Await("sending to be held", `document.getElementById('composer-text').disabled && document.getElementById('composer-send').disabled`)
	page.Axe("key change")
	page.Click("button", "I checked: confirm the new keys")
	awaitpkg.True(t, 2*time.Minute, "carol to get alice's new request", func() bool {
		return strings.Contains(parley(t, "--home", carol, "requests"), "alice")
	})
	parley(t, "--home", carol, "contacts", "accept", "alice")
	if out := parley(t, "--home", carol, "read", "alice"); strings.Contains(out, "before confirming") {
		t.Errorf("carol reads what alice wrote before confirming:\n%s", out)
	}
}

// TestWebFirstRunAndGroup: Dora's first run is in the browser, from an
// empty home to a registered name (the stages shown); she adds Bob by
// name after seeing his verified record, accepts Carol's request, makes
// a group of the three, and the group's messages go both ways between
// her page and Bob's and Carol's CLI; she renames it, removes Carol,
// invites her back and leaves, each seen on the others' devices; she
// turns backup on. On a new device she recovers her name in the browser
// with her recovery phrase, her contacts back from the backup; Bob,
// told of her new keys, confirms them, and they write again. Bob's own
// backup restores him on a new device in the browser.
func TestWebFirstRunAndGroup(t *testing.T) {
	rpc, hubs := startWorld(t)
	const pass = "correct horse battery staple"
	t.Setenv("PARLEY_PASSPHRASE", pass)
	homes := users(t, rpc, hubs[1], "bob", "carol")
	bob, carol := homes["bob"], homes["carol"]
	dora := filepath.Join(t.TempDir(), "dora")

	login := startWeb(t, dora)
	page := webtest.Browser(t, "dora")
	page.Open(login)
	page.AwaitText("main", "Set up Parley on this device")
	page.Axe("first run")
	page.Fill("textbox", "Chain node", rpc)
	page.Type("textbox", "Passphrase", pass)
	page.Type("textbox", "Passphrase again", pass)
	page.Click("button", "Set up")
	page.AwaitText("main", "Write down your recovery phrase")
	phrase := page.Text("#recovery-phrase")
	if words := strings.Fields(phrase); len(words) < 12 {
		t.Errorf("the recovery phrase shown: %q", words)
	}
	page.Axe("recovery phrase")
	// Three words asked back, as init asks them: a wrong one shows the
	// phrase again; right ones (any case, or four letters) go on.
	words := strings.Fields(phrase)
	page.Click("button", "I wrote it down")
	page.AwaitText("main", "Check your recovery phrase")
	page.Axe("recovery phrase check")
	asked := phraseWordsAsked(t, page)
	page.Fill("textbox", fmt.Sprintf("Word %d", asked[0]), "zzzz")
	for _, n := range asked[1:] {
		page.Fill("textbox", fmt.Sprintf("Word %d", n), words[n-1])
	}
	page.Click("button", "Check")
	page.AwaitText("main", fmt.Sprintf("Word %d is not the one in your recovery phrase", asked[0]))
	if again := page.Text("#recovery-phrase"); again != phrase {
		t.Errorf("the phrase shown again: %q, want %q", again, phrase)
	}
	page.Click("button", "I wrote it down")
	page.AwaitText("main", "Check your recovery phrase")
	asked = phraseWordsAsked(t, page)
	page.Fill("textbox", fmt.Sprintf("Word %d", asked[0]), strings.ToUpper(words[asked[0]-1]))
	page.Fill("textbox", fmt.Sprintf("Word %d", asked[1]), words[asked[1]-1][:min(4, len(words[asked[1]-1]))])
	page.Fill("textbox", fmt.Sprintf("Word %d", asked[2]), words[asked[2]-1])
	page.Click("button", "Check")
	page.AwaitText("main", "Choose your name")
	if got := page.Text("#recovery-phrase"); got != "" {
		t.Errorf("the phrase still on the page after the check: %q", got)
	}
	page.Axe("register")
	page.Type("textbox", "Name", "dora")
	page.Fill("textbox", "Hubs (one per line)", hubs[0])
	page.Click("button", "Register")
	page.Await("the registration's stages", `document.querySelectorAll('ol.progress li').length > 0 || !!document.querySelector('nav[aria-label=Conversations]')`)
	page.Await("the app to open", `!!document.querySelector('nav[aria-label=Conversations]')`)
	if out := parley(t, "--home", dora, "name"); !strings.Contains(out, "dora") {
		t.Fatalf("dora's name, as the CLI reads it through her web app's agent: %s", out)
	}
	awaitName(t, bob, "dora")
	awaitName(t, carol, "dora")

	// Bob, added by name: his verified record is shown before anything goes.
	page.Click("link", "Add contact")
	page.Type("textbox", "Name", "bob\r")
	page.AwaitText("section.record", "verified by proof")
	if rec := page.Text("section.record"); !strings.Contains(rec, hubs[1]) || !strings.Contains(rec, "MLKEM768-X25519") {
		t.Errorf("bob's record as shown: %q", rec)
	}
	page.Type("textbox", "Greeting", "hi bob, dora here")
	page.Click("button", "Send request")
	page.AwaitText("main", "Request sent")
	awaitpkg.True(t, 2*time.Minute, "bob to see dora's request", func() bool {
		return strings.Contains(parley(t, "--home", bob, "requests"), "dora")
	})
	parley(t, "--home", bob, "contacts", "accept", "dora")
	if out := parley(t, "--home", bob, "read", "dora"); !strings.Contains(out, "dora: hi bob, dora here") {
		t.Errorf("bob reads: %s", out)
	}

	// Carol asks; Dora accepts in the page.
	parley(t, "--home", carol, "contacts", "add", "dora", "--message", "hi dora, carol here")
	page.Open(origin(login) + "/#/requests")
	page.AwaitText("main", "hi dora, carol here")
	// The flake seen under load (the page left on the requests, "No
	// requests waiting", never on Carol's conversation): a call of the
	// list's refresh after accepting failed, the page stayed, and the
	// redraw a live event made hid the error. A loaded agent is played
	// here: the groups call fails while the requests show.
	if err := page.Eval(`(() => { const f = window.fetch; window.fetch = (u, o) => String(u).includes('/api/v1/groups') && location.hash === '#/requests' ? Promise.reject(new TypeError('Failed to fetch')) : f(u, o); return true; })()`, nil); err != nil {
		t.Fatal(err)
	}
	page.Click("button", "Accept carol")
	page.AwaitText("[role=log]", "hi dora, carol here")

	// The group of three.
	page.Click("link", "New group")
	page.Type("textbox", "Group name", "hikers")
	page.Click("checkbox", "bob")
	page.Click("checkbox", "carol")
	page.Click("button", "Create group")
	page.AwaitText("#conv-title", "hikers")
	page.Type("textbox", "Message", "welcome to the hikers\r")
	// Each member's device takes the group in (rosters and keys) as
	// 'group list' runs there, round after round.
	groupUntil(t, "bob and carol read dora's group message", "hikers", []string{bob, carol}, func() bool {
		return reads(t, bob, "hikers", "dora: welcome to the hikers") && reads(t, carol, "hikers", "dora: welcome to the hikers")
	})
	parley(t, "--home", bob, "group", "send", "hikers", "bob says hi to the hikers")
	page.AwaitText("[role=log]", "bob says hi to the hikers")
	page.Axe("group")
	page.Click("link", "Group details")
	page.AwaitText("main", "Members")
	for _, m := range []string{"bob", "carol", "dora"} {
		if !strings.Contains(page.Text("main"), m) {
			t.Errorf("the group's members as shown lack %s: %q", m, page.Text("main"))
		}
	}
	page.Axe("group details")
	// Renamed and carol removed in the page: bob's device follows, and
	// the conversation shows the notices.
	page.Fill("textbox", "New name", "hill walkers")
	page.Click("button", "Rename")
	page.AwaitText("main h1", "hill walkers")
	page.Click("button", "Remove carol")
	page.Await("carol to be gone from the members", `![...document.querySelectorAll('main li')].some(li => li.textContent.startsWith('carol'))`)
	groupUntil(t, "bob sees the group renamed, without carol", "hill walkers", []string{bob}, func() bool {
		_, out, _ := try(bob, "group", "list")
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "hill walkers\t") {
				return strings.Contains(line, "bob") && strings.Contains(line, "dora") && !strings.Contains(line, "carol")
			}
		}
		return false
	})
	page.Click("link", "Open the conversation")
	page.AwaitText("[role=log]", "carol")
	page.AwaitText("#conv-title", "hill walkers")

	// Carol invited back in the page: she has the group again, and Bob's
	// device shows the notice.
	page.Click("link", "Group details")
	page.Choose("Contact to invite", "carol")
	page.Click("button", "Invite")
	page.Await("carol among the members again", `[...document.querySelectorAll('main li')].some(li => li.textContent.startsWith('carol'))`)
	groupUntil(t, "bob and carol see carol invited back", "hill walkers", []string{bob, carol}, func() bool {
		return reads(t, bob, "hill walkers", "dora added carol") && reads(t, carol, "hill walkers", "dora added you to hill walkers")
	})
	// Dora leaves in the page: the others read that she left, and whom
	// she handed the group to; her list no longer has it.
	page.Click("button", "Leave the group")
	groupUntil(t, "bob and carol see dora leave", "hill walkers", []string{bob, carol}, func() bool {
		return reads(t, bob, "hill walkers", "dora left and handed the group to") && reads(t, carol, "hill walkers", "dora left and handed the group to")
	})
	page.Open(origin(login) + "/#/")
	page.Await("the group gone from dora's list", `!!document.getElementById('conv-list') && !document.getElementById('conv-list').textContent.includes('hill walkers') && document.getElementById('conv-list').textContent.includes('carol')`)

	// Backup on in the page (the CLI on her home says so).
	page.Open(origin(login) + "/#/settings")
	page.Type("textbox", "Backup passphrase", "dora's backup passphrase")
	page.Click("button", "Turn backup on")
	page.AwaitText("main", "are backed up, encrypted, on your hubs")
	if out := parley(t, "--home", dora, "status"); !strings.Contains(out, "settings: backup on") {
		t.Errorf("dora's status after backup on in the page:\n%s", out)
	}
	if errs := page.Errors(); len(errs) > 0 {
		t.Errorf("the page's scripts failed: %q", errs)
	}

	// Dora loses her device. On a new one, her first run in the browser
	// recovers her name with the recovery phrase, and her backup gives
	// back her contacts. Bob is told her keys changed, by the same owner;
	// once he confirms, his request reaches her new page, and they write
	// again.
	dora2 := filepath.Join(t.TempDir(), "dora2")
	page3 := webtest.Browser(t, "dora2")
	page3.Open(startWeb(t, dora2))
	page3.AwaitText("main", "Set up Parley on this device")
	page3.Click("radio", "Recover my name with its recovery phrase")
	page3.Fill("textbox", "Chain node", rpc)
	page3.Type("textbox", "Your name", "dora")
	page3.Fill("textbox", "Recovery phrase", phrase)
	page3.Type("textbox", "Backup passphrase", "dora's backup passphrase")
	page3.Type("textbox", "Passphrase", pass)
	page3.Type("textbox", "Passphrase again", pass)
	page3.Axe("recover")
	page3.Click("button", "Set up")
	page3.AwaitText("nav[aria-label=Conversations]", "bob")
	page3.AwaitText("nav[aria-label=Conversations]", "carol")
	awaitName(t, bob, "dora", "new keys: signing key")
	if code, _, errs := try(bob, "send", "dora", "are you back?"); code != 1 || !strings.Contains(errs, "(update by the same owner key: a new device after 'dora' recovered the name, or someone holding that key)") {
		t.Fatalf("bob sends to the recovered dora unconfirmed: exit %d\n%s", code, errs)
	}
	parley(t, "--home", bob, "contacts", "confirm", "dora")
	parley(t, "--home", bob, "send", "dora", "welcome back, dora")
	page3.Click("link", "Requests (1)")
	page3.Click("button", "Accept bob")
	page3.AwaitText("[role=log]", "welcome back, dora")
	page3.Type("textbox", "Message", "thanks, bob: recovered in the browser\r")
	awaitpkg.True(t, 2*time.Minute, "bob to read the recovered dora", func() bool {
		return strings.Contains(parley(t, "--home", bob, "read", "dora"), "dora: thanks, bob: recovered in the browser")
	})
	if errs := page3.Errors(); len(errs) > 0 {
		t.Errorf("dora's new page's scripts failed: %q", errs)
	}

	// Bob keeps a backup; on a new device his first run in the browser
	// restores it: his name, his contacts and the group.
	t.Setenv("PARLEY_BACKUP_PASSPHRASE", "bob's backup passphrase")
	parley(t, "--home", bob, "backup", "on")
	bob2 := filepath.Join(t.TempDir(), "bob2")
	login2 := startWeb(t, bob2)
	page2 := webtest.Browser(t, "bob2")
	page2.Open(login2)
	page2.AwaitText("main", "Set up Parley on this device")
	page2.Click("radio", "Restore from my backup")
	page2.Fill("textbox", "Chain node", rpc)
	page2.Type("textbox", "Your name", "bob")
	page2.Type("textbox", "Backup passphrase", "bob's backup passphrase")
	page2.Type("textbox", "Passphrase", pass)
	page2.Type("textbox", "Passphrase again", pass)
	page2.Axe("restore")
	page2.Click("button", "Set up")
	page2.AwaitText("nav[aria-label=Conversations]", "dora")
	page2.AwaitText("nav[aria-label=Conversations]", "hill walkers")
	if errs := page2.Errors(); len(errs) > 0 {
		t.Errorf("bob's new page's scripts failed: %q", errs)
	}
}

// TestWebUsage: parley web serves on a loopback address only; any other,
// and a malformed one, is a usage error (exit 2), before anything runs.
func TestWebUsage(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"web", "--listen", "0.0.0.0:8080"}, "parley: --listen 0.0.0.0:8080: the web app listens on a loopback address only"},
		{[]string{"web", "--listen", "192.168.1.2:0"}, "parley: --listen 192.168.1.2:0: the web app listens on a loopback address only"},
		{[]string{"web", "--listen", "example.com:80"}, "loopback address only"},
		{[]string{"web", "--listen", "8080"}, `parley: --listen "8080" is not HOST:PORT`},
		{[]string{"web", "--log-level", "loud"}, `parley: --log-level "loud": want `},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), append([]string{"--home", home}, tc.args...), nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) || out.Len() != 0 {
			t.Errorf("parley %v: exit %d, stdout %q, stderr %q; want a usage error saying %q", tc.args, code, out.String(), errb.String(), tc.want)
		}
	}
}
