package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/parley-im/parley/internal/api"
)

// ServeHTTP serves the API: only to this process (api.NewLocal) or to a
// peer of the socket the agent's user runs (peer.go).
func (a *Agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !api.IsLocal(r.Context()) && !a.peerAllowed(r.Context()) {
		a.log.Warn("refused a caller of another user", "peer", peerString(r.Context()))
		writeEnvelope(w, a.opts.Limits.Write, http.StatusForbidden, api.Envelope{Error: api.Errorf(api.CodeForbidden, "this agent serves only its own user")})
		return
	}
	if _, pattern := a.mux.Handler(r); pattern == "" {
		writeEnvelope(w, a.opts.Limits.Write, http.StatusNotFound, api.Envelope{Error: api.Errorf(api.CodeNoRoute,
			fmt.Sprintf("no call %s %s in this agent's API (%s)", r.Method, r.URL.Path, api.Prefix))})
		return
	}
	a.mux.ServeHTTP(w, r)
}

// call is one API call being served.
type call struct {
	a      *Agent
	ctx    context.Context
	r      *http.Request
	w      http.ResponseWriter
	stream bool   // NDJSON: frames as they happen
	body   []byte // the request's body, read before the call runs

	mu      sync.Mutex
	started bool // the stream's status line is written
	notes   []*api.Note
	said    map[string]bool
}

// route serves pattern ("GET /v1/contacts") with f, whose result (or
// error) becomes the answer.
func (a *Agent) route(pattern string, f func(k *call) (any, error)) {
	a.patterns = append(a.patterns, pattern)
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		k := &call{a: a, ctx: r.Context(), r: r, w: w, stream: r.Header.Get("Accept") == api.NDJSON}
		var (
			result any
			err    error
		)
		k.body, err = readBody(w, r)
		if err != nil {
			k.finish(nil, a.apiError(err))
			return
		}
		// The body is in: the read deadline (Limits.Body) has done its
		// work, and the call runs as long as it needs.
		http.NewResponseController(w).SetReadDeadline(time.Time{})
		func() {
			defer func() {
				if p := recover(); p != nil {
					a.log.Error("a call failed", "call", pattern, "panic", p, "stack", string(debug.Stack()))
					err = fmt.Errorf("the agent failed serving %s: %v", pattern, p)
				}
			}()
			result, err = f(k)
		}()
		if err != nil {
			err = a.plainOffline(err)
		}
		for _, n := range a.afterNotes() {
			k.addNote(n)
		}
		k.finish(result, a.apiError(err))
	})
}

// readBody reads the request's body: at most api.MaxBody bytes, within
// the server's read deadline (Limits.Body).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxBody))
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		return nil, coded(api.CodeTooLarge, fmt.Errorf("the request's body is over %d bytes", api.MaxBody), "send at most that; a file goes by its path")
	case err != nil:
		return nil, coded(api.CodeBadRequest, fmt.Errorf("the request's body could not be read: %w", err), "")
	}
	return b, nil
}

// decode reads the request's JSON body into v: no unknown field, nothing
// after it.
func (k *call) decode(v any) error {
	dec := json.NewDecoder(bytes.NewReader(k.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return coded(api.CodeBadRequest, errors.New("the call takes a JSON body"), "")
		}
		return coded(api.CodeBadRequest, fmt.Errorf("the request's body is not the JSON this call takes: %w", err), "")
	}
	if dec.More() {
		return coded(api.CodeBadRequest, errors.New("the request's body holds more than one JSON value"), "")
	}
	return nil
}

// param is the path's wildcard name.
func (k *call) param(name string) string { return k.r.PathValue(name) }

// query is the query's value of name.
func (k *call) query(name string) string { return k.r.URL.Query().Get(name) }

// flag is a query's boolean: "1" or "true".
func (k *call) flag(name string) bool {
	v := k.query(name)
	return v == "1" || v == "true"
}

// intQuery is a query's integer (0 if absent).
func (k *call) intQuery(name string) (int, error) {
	v := k.query(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, usagef("%s=%q is not a count", name, v)
	}
	return n, nil
}

// warn notes err (with context) for the person: at once on a stream,
// else with the answer. Each is said once per call.
func (k *call) warn(context string, err error) {
	if err == nil {
		return
	}
	k.addNote(k.a.note(context, err))
}

// addNote sends or keeps a note.
func (k *call) addNote(n *api.Note) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := n.Context + "\x00" + n.Message + "\x00" + n.Hint
	if k.said[key] {
		return
	}
	if k.said == nil {
		k.said = map[string]bool{}
	}
	k.said[key] = true
	if k.stream {
		k.frame(api.Frame{Note: n})
		return
	}
	k.notes = append(k.notes, n)
}

// progress reports how far the call is (on a stream only).
func (k *call) progress(p api.Progress) {
	if !k.stream {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.frame(api.Frame{Progress: &p})
}

// frame writes one line of the stream; the caller holds k.mu.
func (k *call) frame(f api.Frame) {
	if !k.started {
		k.started = true
		k.w.Header().Set("Content-Type", api.NDJSON)
		k.w.Header().Set("Cache-Control", "no-store")
		k.w.WriteHeader(http.StatusOK)
	}
	b, err := json.Marshal(f)
	if err != nil {
		return
	}
	rc := http.NewResponseController(k.w)
	rc.SetWriteDeadline(time.Now().Add(k.a.opts.Limits.Write))
	k.w.Write(append(b, '\n'))
	rc.Flush()
}

// finish writes the answer.
func (k *call) finish(result any, e *api.Error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stream {
		if !k.started && e != nil {
			k.started = true
			k.w.Header().Set("Content-Type", api.NDJSON)
			k.w.WriteHeader(api.HTTPStatus(e.Code))
		}
		k.frame(api.Frame{Done: true, Result: result, Error: e})
		return
	}
	status := http.StatusOK
	if e != nil {
		status = api.HTTPStatus(e.Code)
	}
	writeEnvelope(k.w, k.a.opts.Limits.Write, status, api.Envelope{Result: result, Error: e, Notes: k.notes})
}

// writeEnvelope writes env as the JSON answer.
func writeEnvelope(w http.ResponseWriter, timeout time.Duration, status int, env api.Envelope) {
	w.Header().Set("Content-Type", api.JSON)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout))
	json.NewEncoder(w).Encode(env)
}
