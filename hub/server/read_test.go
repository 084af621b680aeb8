package server_test

import (
	"strings"
	"testing"
)

// TestReadsAreNeverActive: a writer stores a page with a script, an SVG
// with one, XML, JavaScript and odd spellings of them, hoping to run code
// on the hub's origin when a victim opens the read URL; every read
// (GET and HEAD) says nosniff and a sandboxing CSP, and anything but
// passive types comes as an attachment (the stored type kept, for
// Stacks.js), so no browser renders it on the hub's origin.
func TestReadsAreNeverActive(t *testing.T) {
	e := newEnv(t, nil)
	page := []byte(`<html><script>fetch("/list-files/x",{method:"POST"})</script></html>`)
	for _, tc := range []struct {
		path, ctype string
		inline      bool
	}{
		{"page.html", "text/html", false},
		{"page2.html", "TEXT/HTML; charset=utf-8", false},
		{"image.svg", "image/svg+xml", false},
		{"feed.xml", "application/xml", false},
		{"doc.xhtml", "application/xhtml+xml", false},
		{"text.xml", "text/xml", false},
		{"app.js", "text/javascript", false},
		{"app2.js", "application/javascript", false},
		{"doc.pdf", "application/pdf", false},
		{"garbled", "text/html;;;=", false},
		{"typeless", "", true}, // stored as application/octet-stream
		{"blob.bin", "application/octet-stream", true},
		{"data.json", "application/json", true},
		{"note.txt", "text/plain; charset=utf-8", true},
		{"photo.png", "image/png", true},
	} {
		hdr := []string{"Authorization", e.tok}
		if tc.ctype != "" {
			hdr = append(hdr, "Content-Type", tc.ctype)
		}
		if res, b := e.do("POST", "/store/"+e.addr+"/"+tc.path, page, hdr...); res.StatusCode != 202 {
			t.Fatalf("store %s: %d %s", tc.path, res.StatusCode, b)
		}
		for _, method := range []string{"GET", "HEAD"} {
			res, _ := e.do(method, "/read/"+e.addr+"/"+tc.path, nil)
			h := res.Header
			if res.StatusCode != 200 || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Content-Security-Policy") != "sandbox; default-src 'none'" {
				t.Errorf("%s %s (%s): %d, nosniff %q, CSP %q", method, tc.path, tc.ctype, res.StatusCode, h.Get("X-Content-Type-Options"), h.Get("Content-Security-Policy"))
			}
			if attached := strings.HasPrefix(h.Get("Content-Disposition"), "attachment"); attached == tc.inline {
				t.Errorf("%s %s (%s): Content-Disposition %q, Content-Type %q", method, tc.path, tc.ctype, h.Get("Content-Disposition"), h.Get("Content-Type"))
			}
		}
	}
}
