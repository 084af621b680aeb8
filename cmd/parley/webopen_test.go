package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awaitpkg "github.com/parley-im/parley/internal/await"
	"github.com/parley-im/parley/internal/web/webtest"
)

// TestWebOpenKeepsTheTokenToItself: `parley web --open` ran `xdg-open
// http://127.0.0.1:PORT/login?token=…`, and xdg-open runs the browser
// with the same argument. A process's command line is readable by every
// user of the machine (/proc/PID/cmdline), and the browser takes a
// moment to start: another user polling the process list reads the
// address and signs in first, with the whole messenger as the prize. Now
// the browser is given a page in a private directory (0700, the page
// 0600) that sends it on to the address: what the process list shows
// signs nobody in, and the user's browser, opening it, signs in.
func TestWebOpenKeepsTheTokenToItself(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	userHome := t.TempDir()
	t.Setenv("HOME", userHome)
	bin := t.TempDir()
	argsFile := filepath.Join(bin, "args")
	// The browser opener: it keeps its command line where the test (the
	// other user reading the process list) can see it.
	envFile := filepath.Join(bin, "env")
	script := "#!/bin/sh\nprintf '%s' \"${PARLEY_PASSPHRASE-not given}\" > " + envFile + "\n" +
		"printf '%s\\n' \"$@\" > " + argsFile + ".tmp && mv " + argsFile + ".tmp " + argsFile + "\n"
	if err := os.WriteFile(filepath.Join(bin, "xdg-open"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- runWith(ctx, testRun(), []string{"--home", home, "web", "--open"}, nil, &out, &errb) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("parley web exited %d:\n%s", code, errb.String())
		}
	})
	args := awaitpkg.Value(t, 2*time.Minute, "parley web to run xdg-open", func() ([]string, error) {
		b, err := os.ReadFile(argsFile)
		if err != nil {
			return nil, errFalse("xdg-open not run yet: " + errb.String())
		}
		return strings.Fields(string(b)), nil
	})
	if len(args) != 1 {
		t.Fatalf("xdg-open ran with %q, want one argument", args)
	}
	arg := args[0]
	// Nor is the browser given the passphrase (PARLEY_PASSPHRASE, set as a
	// script would): every process it starts would hold it.
	if b, err := os.ReadFile(envFile); err != nil || string(b) != "not given" {
		t.Fatalf("xdg-open was given PARLEY_PASSPHRASE: %q (%v)", b, err)
	}

	// Another user, who read xdg-open's command line, gets there first.
	thief := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, f := range strings.FieldsFunc(arg, func(r rune) bool { return r == ' ' }) {
		if !strings.HasPrefix(f, "http://") {
			continue
		}
		res, err := thief.Get(f)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("another user who read xdg-open's command line (%s) signed in: %s, set-cookie %q", f, res.Status, res.Header.Get("Set-Cookie"))
		}
	}
	// What the browser is given is the user's alone (the page 0600 in a
	// directory 0700), in a place a browser packaged as a snap reads: the
	// user's home, not hidden (not /tmp, not ~/.something).
	if dir := filepath.Dir(arg); filepath.Dir(dir) != userHome || strings.HasPrefix(filepath.Base(dir), ".") {
		t.Fatalf("the page given to the browser is %s, want it in a directory of the user's home %s that is not hidden", arg, userHome)
	}
	if fi, err := os.Stat(arg); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the page given to the browser: %v %v, want 0600", fi, err)
	}
	if fi, err := os.Stat(filepath.Dir(arg)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the directory of the page given to the browser: %v %v, want 0700", fi, err)
	}

	// The user's browser, given that page, signs in.
	page := webtest.Browser(t, "user")
	page.Open("file://" + arg)
	// (Await, not AwaitText: the page goes on to /login, then to /, and a
	// read in the middle of a navigation fails.)
	page.Await("the first-run screen", `location.pathname === '/' && !!document.querySelector('main') && document.querySelector('main').innerText.includes('Set up Parley on this device')`)

	// Once used, the page and its directory are gone.
	awaitpkg.True(t, time.Minute, "the page to go once the browser signed in", func() bool {
		_, err := os.Stat(filepath.Dir(arg))
		return os.IsNotExist(err)
	})
}
