// Package webtest drives the web app in real Chromium for tests, from a
// person's seat: controls are found by their role and accessible name
// (what a screen reader announces), text is typed as key presses, and
// what the page shows is read from its DOM. A failing test saves a
// screenshot of every page it drove. Pages are checked with axe-core
// (npm, at the version pinned in axe/package.json, installed with npm ci
// on first use).
//
// It is for tests only: it fails the test (t.Fatal) when Chromium or npm
// is missing, naming the package to install.
package webtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/parley-im/parley/internal/await"
)

// Wait bounds each wait for the page (a loaded machine is slow; a
// deadline is a bound on a hang, never a timing assertion).
const Wait = 2 * time.Minute

// Chromium is the browser's path: $CHROMIUM, else Debian's chromium.
func Chromium(t testing.TB) string {
	t.Helper()
	p := os.Getenv("CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("Chromium is not installed at %s: the web app's tests drive it (apt-get install chromium, or set CHROMIUM)", p)
	}
	return p
}

// Page is one browser tab of its own browser (its own cookies).
type Page struct {
	t   testing.TB
	ctx context.Context
	// Name names the page's screenshot ("alice").
	Name string
	// errors the page's scripts threw or logged as errors
	mu     sync.Mutex
	errors []string
}

// Browser starts a headless Chromium with a fresh profile (and the extra
// options, such as a flag) and returns its tab; it ends with the test,
// saving a screenshot first if the test failed.
func Browser(t testing.TB, name string, extra ...chromedp.ExecAllocatorOption) *Page {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Chromium(t)),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-proxy-server", true),
	}
	opts = append(opts, extra...)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses its sandbox to root (CI runs as root)
	}
	p := &Page{t: t, Name: name}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(p.listen))
	p.ctx = ctx
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancel()
		cancelA()
		t.Fatalf("starting Chromium: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			p.Screenshot("failed")
		}
		cancel()
		cancelA()
	})
	return p
}

// listen keeps what the page's scripts threw.
func (p *Page) listen(ev any) {
	switch e := ev.(type) {
	case *cdpruntime.EventExceptionThrown:
		p.mu.Lock()
		d := e.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		p.errors = append(p.errors, msg)
		p.mu.Unlock()
	case *cdpruntime.EventConsoleAPICalled:
		if e.Type == cdpruntime.ConsoleAPICalledTypeError {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, string(a.Value))
			}
			p.mu.Lock()
			p.errors = append(p.errors, "console.error: "+strings.Join(parts, " "))
			p.mu.Unlock()
		}
	}
}

// Errors are the exceptions and console errors the page had so far.
func (p *Page) Errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errors...)
}

// Screenshot saves the page as a PNG in $PARLEY_SCREENSHOTS (default: a
// directory under the system's temporary one) and logs where.
func (p *Page) Screenshot(what string) string {
	dir := os.Getenv("PARLEY_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "parley-web-screenshots")
	}
	os.MkdirAll(dir, 0o755)
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Logf("no screenshot of %s: %v", p.Name, err)
		return ""
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(p.t.Name() + "-" + p.Name + "-" + what + ".png")
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err == nil {
		p.t.Logf("screenshot of %s: %s", p.Name, path)
	}
	return path
}

// run runs actions with the page's deadline.
func (p *Page) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Wait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %s: %v", p.Name, what, err)
	}
}

// Open navigates to url.
func (p *Page) Open(url string) {
	p.t.Helper()
	p.run("open "+url, chromedp.Navigate(url))
}

// Eval evaluates a JavaScript expression into out (JSON-decoded).
func (p *Page) Eval(expr string, out any) error {
	ctx, cancel := context.WithTimeout(p.ctx, Wait)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// Text is the text the page shows in the element selector selects ("" if
// none).
func (p *Page) Text(selector string) string {
	var s string
	if err := p.Eval(fmt.Sprintf(`(document.querySelector(%q) || {}).innerText || ""`, selector), &s); err != nil {
		p.t.Fatalf("%s: reading %s: %v", p.Name, selector, err)
	}
	return s
}

// AwaitText waits until the element selector selects shows text.
func (p *Page) AwaitText(selector, text string) {
	p.t.Helper()
	seen := ""
	await.True(p.t, Wait, fmt.Sprintf("%s to show %q in %s", p.Name, text, selector), func() bool {
		seen = p.Text(selector)
		return strings.Contains(seen, text)
	})
}

// Await waits until the JavaScript expression is true.
func (p *Page) Await(what, expr string) {
	p.t.Helper()
	await.True(p.t, Wait, p.Name+": "+what, func() bool {
		var ok bool
		return p.Eval(expr, &ok) == nil && ok
	})
}

// find returns the remote object of the first element with role and
// accessible name name (as the browser computes them for assistive
// technology), waiting for it.
func (p *Page) find(role, name string) cdpruntime.RemoteObjectID {
	p.t.Helper()
	var id cdpruntime.RemoteObjectID
	await.NoError(p.t, Wait, fmt.Sprintf("%s: a %s named %q", p.Name, role, name), func() error {
		ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
		defer cancel()
		return chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			doc, err := cdp.Call(ctx, t, dom.GetDocument, dom.GetDocumentParams{})
			if err != nil {
				return err
			}
			res, err := cdp.Call(ctx, t, accessibility.QueryAXTree, accessibility.QueryAXTreeParams{NodeID: doc.Root.NodeID, Role: role, AccessibleName: name})
			if err != nil {
				return err
			}
			for _, n := range res.Nodes {
				if n.Ignored || n.BackendDOMNodeID == 0 {
					continue
				}
				obj, err := cdp.Call(ctx, t, dom.ResolveNode, dom.ResolveNodeParams{BackendNodeID: n.BackendDOMNodeID})
				if err != nil {
					return err
				}
				id = obj.Object.ObjectID
				return nil
			}
			return fmt.Errorf("none on the page")
		}))
	})
	return id
}

// call calls the JavaScript function fn with this the element.
func (p *Page) call(what string, id cdpruntime.RemoteObjectID, fn string) {
	p.t.Helper()
	yes := true
	p.run(what, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, cdpruntime.CallFunctionOn, cdpruntime.CallFunctionOnParams{ObjectID: id, FunctionDeclaration: fn, AwaitPromise: &yes})
		if err != nil {
			return err
		}
		if d := res.ExceptionDetails; d != nil {
			return fmt.Errorf("the page threw: %s", d.Text)
		}
		return nil
	}))
}

// Click clicks the element with role and accessible name.
func (p *Page) Click(role, name string) {
	p.t.Helper()
	p.call(fmt.Sprintf("click the %s %q", role, name), p.find(role, name), `function() { this.scrollIntoView({block: "center"}); this.click(); }`)
}

// Has reports whether an element with role and name is on the page now.
func (p *Page) Has(role, name string) bool {
	found := false
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		doc, err := cdp.Call(ctx, t, dom.GetDocument, dom.GetDocumentParams{})
		if err != nil {
			return err
		}
		res, err := cdp.Call(ctx, t, accessibility.QueryAXTree, accessibility.QueryAXTreeParams{NodeID: doc.Root.NodeID, Role: role, AccessibleName: name})
		if err != nil {
			return err
		}
		for _, n := range res.Nodes {
			found = found || !n.Ignored
		}
		return nil
	}))
	return found
}

// Type focuses the element with role and name and types text as key
// presses ("\r" is Enter; shift with ShiftEnter).
func (p *Page) Type(role, name, text string) {
	p.t.Helper()
	p.call(fmt.Sprintf("focus the %s %q", role, name), p.find(role, name), `function() { this.focus(); }`)
	p.run(fmt.Sprintf("type into the %s %q", role, name), chromedp.KeyEvent(text))
}

// ShiftEnter presses Shift+Enter in the focused element.
func (p *Page) ShiftEnter() {
	p.t.Helper()
	p.run("Shift+Enter", chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierShift)))
}

// Fill sets a field's value at once (long values, not what is tested).
func (p *Page) Fill(role, name, value string) {
	p.t.Helper()
	b, _ := json.Marshal(value)
	p.call(fmt.Sprintf("fill the %s %q", role, name), p.find(role, name),
		`function() { this.focus(); this.value = `+string(b)+`; this.dispatchEvent(new Event("input", {bubbles: true})); }`)
}

// Upload sets the files of the file input selector selects.
func (p *Page) Upload(selector string, files ...string) {
	p.t.Helper()
	p.run("choose "+strings.Join(files, ", "), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, cdpruntime.Evaluate, cdpruntime.EvaluateParams{Expression: fmt.Sprintf("document.querySelector(%q)", selector)})
		if err != nil {
			return err
		}
		if res.Result == nil || res.Result.ObjectID == "" {
			return fmt.Errorf("no %s on the page", selector)
		}
		_, err = cdp.Call(ctx, t, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: files, ObjectID: res.Result.ObjectID})
		return err
	}))
}

// Axe runs axe-core on the page and fails the test on any serious or
// critical violation, naming each.
func (p *Page) Axe(screen string) {
	p.t.Helper()
	src := axeSource(p.t)
	var n int
	if err := p.Eval(src+"\n;1", &n); err != nil {
		p.t.Fatalf("%s: loading axe-core: %v", p.Name, err)
	}
	var out []struct {
		ID     string `json:"id"`
		Impact string `json:"impact"`
		Help   string `json:"help"`
		Nodes  []struct {
			Target []any  `json:"target"`
			HTML   string `json:"html"`
		} `json:"nodes"`
	}
	if err := p.Eval(`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations)`, &out); err != nil {
		p.t.Fatalf("%s: axe on %s: %v", p.Name, screen, err)
	}
	for _, v := range out {
		if v.Impact == "serious" || v.Impact == "critical" {
			var where []string
			for _, n := range v.Nodes {
				where = append(where, fmt.Sprint(n.Target)+" "+n.HTML)
			}
			p.t.Errorf("%s: axe on %s: %s violation %s (%s) at:\n  %s", p.Name, screen, v.Impact, v.ID, v.Help, strings.Join(where, "\n  "))
		}
	}
}

// axeSource is axe.min.js, installed with npm ci in axe/ on first use.
func axeSource(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "axe")
	js := filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
	if _, err := os.Stat(js); err != nil {
		if _, err := exec.LookPath("npm"); err != nil {
			t.Fatal("npm is not installed: it installs axe-core for the accessibility checks (apt-get install npm)")
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Phone makes the page a phone's: 390×844 CSS pixels, touch, mobile
// viewport (false restores the window's).
func (p *Page) Phone(on bool) {
	p.t.Helper()
	params := emulation.SetDeviceMetricsOverrideParams{}
	if on {
		params = emulation.SetDeviceMetricsOverrideParams{Width: 390, Height: 844, DeviceScaleFactor: 2, Mobile: true}
	}
	p.run("phone width", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if !on {
			_, err := cdp.Call(ctx, t, emulation.ClearDeviceMetricsOverride, cdp.Empty{})
			return err
		}
		_, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, params)
		return err
	}))
}

// Dark makes the system prefer a dark (or, false, light) color scheme.
func (p *Page) Dark(on bool) {
	p.t.Helper()
	scheme := "light"
	if on {
		scheme = "dark"
	}
	p.run("prefers-color-scheme "+scheme, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	}))
}

// Choose picks value in the select (a combobox) with accessible name
// name, as a person's choice does (input and change events), waiting
// until the select is enabled.
func (p *Page) Choose(name, value string) {
	p.t.Helper()
	id := p.find("combobox", name)
	b, _ := json.Marshal(value)
	p.Await(fmt.Sprintf("the select %q to be enabled", name), fmt.Sprintf(`(() => { const s = [...document.querySelectorAll('select')].find(s => s.getAttribute('aria-label') === %q || (s.labels && [...s.labels].some(l => l.textContent === %q))); return !!s && !s.disabled; })()`, name, name))
	p.call(fmt.Sprintf("choose %s in the select %q", value, name), id,
		`function() { if (![...this.options].some(o => o.value === `+string(b)+`)) throw new Error("no option "+`+string(b)+`); this.focus(); this.value = `+string(b)+`; this.dispatchEvent(new Event("input", {bubbles: true})); this.dispatchEvent(new Event("change", {bubbles: true})); }`)
}

// Cookies are the page's cookies for url, by name, read through the
// DevTools protocol (HttpOnly ones too).
func (p *Page) Cookies(url string) map[string]string {
	p.t.Helper()
	cookies := map[string]string{}
	p.run("read the cookies", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
		if err != nil {
			return err
		}
		for _, c := range res.Cookies {
			cookies[c.Name] = c.Value
		}
		return nil
	}))
	return cookies
}
