package main

import (
	"fmt"
	"slices"
	"testing"
	"time"

	awaitpkg "github.com/parley-im/parley/internal/await"
	"github.com/parley-im/parley/internal/web/webtest"
)

// webPair is alice and bob, contacts, each with the web app open in a
// browser of their own on the conversation with the other.
func webPair(b *testing.B) (alice, bob *webtest.Page, aliceApp string) {
	rpc, hubs := startWorld(b)
	const pass = "correct horse battery staple"
	b.Setenv("PARLEY_PASSPHRASE", pass)
	homes := users(b, rpc, hubs[0], "alice", "bob")
	befriend(b, homes, "alice", "bob")
	alice, aliceApp = webUser(b, homes["alice"], "alice", pass)
	bob, _ = webUser(b, homes["bob"], "bob", pass)
	alice.Click("link", "bob")
	bob.Click("link", "alice")
	alice.AwaitText("[role=log]", "hi alice")
	bob.AwaitText("[role=log]", "hi alice")
	return alice, bob, aliceApp
}

func report(b *testing.B, ms []float64, unit string) {
	slices.Sort(ms)
	b.ReportMetric(ms[len(ms)/2], "p50-"+unit)
	b.ReportMetric(ms[len(ms)*99/100], "p99-"+unit)
}

// BenchmarkWebConversationPage: from the start of loading the web app at
// a conversation (a full page load on loopback) until the conversation
// is shown and usable (the page's "conversation-shown" mark).
func BenchmarkWebConversationPage(b *testing.B) {
	alice, _, app := webPair(b)
	ms := make([]float64, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		alice.Open(fmt.Sprintf("%s/?load=%d#/c/bob", app, i))
		alice.Await("the conversation", `performance.getEntriesByName('conversation-shown').length > 0`)
		var at float64
		if err := alice.Eval(`performance.getEntriesByName('conversation-shown')[0].startTime`, &at); err != nil {
			b.Fatal(err)
		}
		ms = append(ms, at)
	}
	b.StopTimer()
	report(b, ms, "ms")
}

// BenchmarkWebMessage: a message typed in alice's browser (from the
// Enter key) until it is shown in bob's (the log's mutation), both pages
// on one machine's clock.
func BenchmarkWebMessage(b *testing.B) {
	alice, bob, _ := webPair(b)
	if err := alice.Eval(`window.sentAt = {};
		document.getElementById('composer-text').addEventListener('keydown', e => {
			if (e.key === 'Enter' && !e.shiftKey) window.sentAt[e.target.value] = performance.timeOrigin + performance.now();
		}, true); 1`, nil); err != nil {
		b.Fatal(err)
	}
	if err := bob.Eval(`window.seen = {};
		new MutationObserver(() => {
			const now = performance.timeOrigin + performance.now();
			for (const el of document.querySelectorAll('[role=log] .msg .text')) {
				const t = el.textContent;
				if (t.startsWith('bench ') && !(t in window.seen)) window.seen[t] = now;
			}
		}).observe(document.getElementById('log-region'), {childList: true, subtree: true, characterData: true}); 1`, nil); err != nil {
		b.Fatal(err)
	}
	ms := make([]float64, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		text := fmt.Sprint("bench ", i)
		alice.Fill("textbox", "Message", text)
		alice.Type("textbox", "Message", "\r")
		shown := awaitpkg.Value(b, time.Minute, "bob's page to show "+text, func() (float64, error) {
			var at *float64
			if err := bob.Eval(fmt.Sprintf(`window.seen[%q] ?? null`, text), &at); err != nil {
				return 0, err
			}
			if at == nil {
				return 0, errFalse("not yet")
			}
			return *at, nil
		})
		var sent float64
		if err := alice.Eval(fmt.Sprintf(`window.sentAt[%q]`, text), &sent); err != nil {
			b.Fatal(err)
		}
		ms = append(ms, shown-sent)
	}
	b.StopTimer()
	report(b, ms, "ms")
}
