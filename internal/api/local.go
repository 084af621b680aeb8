package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// localTransport serves a request on a handler in this process: the
// handler runs in its own goroutine and writes the answer into a pipe,
// which the caller reads as the response's body while it is written (an
// NDJSON answer streams as over a socket). Closing the body stops the
// handler's writes; the request's context is the caller's.
type localTransport struct{ h http.Handler }

// localKey marks a request's context as made in this process.
type localKey struct{}

// IsLocal reports whether the request was made in this process by
// NewLocal's transport (no socket, no other user).
func IsLocal(ctx context.Context) bool { return ctx.Value(localKey{}) != nil }

func (t localTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	req = req.Clone(context.WithValue(req.Context(), localKey{}, true))
	if req.Body == nil {
		req.Body = http.NoBody
	}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				w.fail(fmt.Errorf("the agent failed: %v", p))
				return
			}
			w.writeHeader(http.StatusOK)
			pw.Close()
		}()
		t.h.ServeHTTP(w, req)
	}()
	select {
	case <-w.ready:
	case <-req.Context().Done():
		pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
	return &http.Response{
		Status:     http.StatusText(w.status),
		StatusCode: w.status,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        w.sent,
		Body:          pr,
		ContentLength: -1,
		Request:       req,
	}, nil
}

// pipeWriter is the http.ResponseWriter of a local request.
type pipeWriter struct {
	header http.Header
	sent   http.Header // the header as it was when the status was written
	pw     *io.PipeWriter
	once   sync.Once
	ready  chan struct{}
	status int
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(status int) { w.writeHeader(status) }

func (w *pipeWriter) writeHeader(status int) {
	w.once.Do(func() {
		w.status, w.sent = status, w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeWriter) Write(p []byte) (int, error) {
	w.writeHeader(http.StatusOK)
	return w.pw.Write(p)
}

// Flush is a no-op: a pipe holds nothing back.
func (w *pipeWriter) Flush() {}

func (w *pipeWriter) fail(err error) {
	w.writeHeader(http.StatusInternalServerError)
	w.pw.CloseWithError(err)
}
