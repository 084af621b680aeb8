package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/await"
)

// TestStartErrorsAndLogs: an operator whose hubd cannot listen is told
// which address is taken and what to do, in a sentence and a hint; hubd's
// log is JSON objects off a terminal, key=value text with --log-format
// text; a log format hubd does not write is a usage error.
func TestStartErrorsAndLogs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().String()
	var out, errb bytes.Buffer
	want := "hubd: the address " + taken + " is in use\n" +
		"hubd: hint: another process listens there: stop it, or choose another address\n"
	if code := run(context.Background(), []string{"--public-url", "http://" + taken, "--driver", "memory", "--listen", taken}, &out, &errb); code != 1 || errb.String() != want {
		t.Fatalf("listening on a taken address: exit %d, stderr:\n%s\nwant exit 1 and:\n%s", code, errb.String(), want)
	}

	for format, isLogLine := range map[string]func(string) bool{
		"auto": func(s string) bool { return json.Valid([]byte(s)) && strings.HasPrefix(s, `{"time":`) },
		"text": func(s string) bool { return strings.HasPrefix(s, "time=") && strings.Contains(s, " level=") },
	} {
		ctx, stop := context.WithCancel(context.Background())
		var stdout, logs syncBuffer
		done, exited := make(chan int, 1), make(chan struct{})
		go func() {
			done <- run(ctx, []string{"--public-url", "http://hub.test", "--driver", "memory", "--listen", "127.0.0.1:0", "--log-format", format}, &stdout, &logs)
			close(exited)
		}()
		url, _ := servedAt(t, &stdout, exited, &logs)
		await.NoError(t, time.Minute, "hubd to answer /healthz", func() error {
			res, err := http.Get(url + "/healthz")
			if err == nil {
				res.Body.Close()
			}
			return err
		})
		stop()
		if code := <-done; code != 0 {
			t.Fatalf("--log-format %s: hubd exited %d: %s", format, code, logs.String())
		}
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		for _, line := range lines {
			if !isLogLine(line) {
				t.Errorf("--log-format %s: log line %q", format, line)
			}
		}
		if !strings.Contains(logs.String(), "listening") || len(lines) < 2 {
			t.Errorf("--log-format %s: no start and stop logged:\n%s", format, logs.String())
		}
	}

	errb.Reset()
	if code := run(context.Background(), []string{"--public-url", "http://" + taken, "--driver", "memory", "--log-format", "xml"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `hubd: --log-format "xml": want json, text or auto`) {
		t.Fatalf("--log-format xml: exit %d, %s", code, errb.String())
	}
}
