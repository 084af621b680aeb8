package agent

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/await"
)

// The socket's own tests: a hostile local client (another user, a
// connection that sends slowly, a body too large, a stream reader that
// stops reading, more connections and streams than the agent serves).
// They need no chain and no hub: the agent of a home with no identity yet
// answers GET /v1/agent and serves its event stream.

// served is an agent of a fresh home serving its socket.
type served struct {
	a    *Agent
	home string
	sock string
}

// serve starts a daemon agent on a fresh home with opts (Home, Mode and
// Lock are set here) and stops it when the test ends.
func serve(t *testing.T, opts Options) *served {
	t.Helper()
	home := t.TempDir()
	lock, err := TryLock(home, "test")
	if err != nil {
		t.Fatal(err)
	}
	opts.Home, opts.Mode, opts.Lock = home, ModeDaemon, lock
	a := New(opts)
	l, err := a.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		a.Close(context.Background())
		lock.Release()
	})
	return &served{a: a, home: home, sock: SocketPath(home)}
}

func (s *served) client(t *testing.T) *api.Client {
	c := api.NewUnix(s.sock)
	t.Cleanup(c.Close)
	return c
}

// dial opens a raw connection to the socket.
func (s *served) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", s.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// streams is how many event streams the agent serves now.
func (s *served) streams() int {
	s.a.streamsMu.Lock()
	defer s.a.streamsMu.Unlock()
	return s.a.streams
}

// closedByAgent reads c until the agent closes it (its answer, if any, is
// returned); a minute without that fails the test.
func closedByAgent(t *testing.T, c net.Conn, what string) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the agent kept the connection open a minute (read %q)", what, b)
	}
	return string(b)
}

func TestSocketIsTheOwnersOnly(t *testing.T) {
	s := serve(t, Options{})
	fi, err := os.Stat(s.sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the socket's mode is %v, want a socket of mode 0600", fi.Mode())
	}
	info, err := s.client(t).Agent(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.API != "v1" || info.Mode != ModeDaemon || info.PID != os.Getpid() || info.Identity {
		t.Fatalf("GET /v1/agent: %+v", info)
	}
}

// TestSocketRefusesAnotherUser: a process of another user is refused, by
// the socket's mode and, should the mode let it in, by its peer
// credentials (SO_PEERCRED, the kernel's word).
func TestSocketRefusesAnotherUser(t *testing.T) {
	// The agent serves a user that is not the one calling: the peer check
	// alone refuses, with code forbidden, before any route.
	other := os.Getuid() + 1
	s := serve(t, Options{AllowUID: &other})
	for _, p := range []string{"agent", "events", "nothing-here"} {
		err := s.client(t).Do(context.Background(), http.MethodGet, api.Prefix+"/"+p, nil, nil)
		if !api.IsCode(err, api.CodeForbidden) {
			t.Fatalf("GET /v1/%s from another user: %v, want code forbidden", p, err)
		}
	}
	if os.Getuid() != 0 {
		t.Logf("not root: the check with a real process of another user needs root to start one")
		return
	}
	// A real process of user nobody (curl): refused by the socket's mode;
	// with the socket's mode opened wide, refused by its credentials.
	own := serve(t, Options{})
	nobody := func() (string, int) {
		cmd := exec.Command("curl", "-sS", "--max-time", "60", "--unix-socket", own.sock, "http://parley-agent/v1/agent")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	// The home is 0700: make the path to the socket traversable, so that
	// only the socket's own mode stands in the way.
	for d := own.home; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, code := nobody(); code != 7 || !strings.Contains(out, "Permission denied") && !strings.Contains(out, "Couldn't connect") {
		t.Fatalf("user nobody on the 0600 socket: exit %d, %s (want refused at connect)", code, out)
	}
	if err := os.Chmod(own.sock, 0o666); err != nil {
		t.Fatal(err)
	}
	out, code := nobody()
	if code != 0 || !strings.Contains(out, `"code":"forbidden"`) || strings.Contains(out, `"pid"`) {
		t.Fatalf("user nobody on a socket opened wide: exit %d, %s (want code forbidden and nothing of the agent)", code, out)
	}
}

func TestSocketBodyTooLarge(t *testing.T) {
	s := serve(t, Options{})
	big := api.UnlockRequest{Passphrase: strings.Repeat("x", api.MaxBody+1)}
	err := s.client(t).Do(context.Background(), http.MethodPost, api.Prefix+"/unlock", big, nil)
	if !api.IsCode(err, api.CodeTooLarge) {
		t.Fatalf("a body over %d bytes: %v, want code too_large", api.MaxBody, err)
	}
}

// TestSocketSlowCallers: a caller that sends its header or its body
// slowly, or not at all, loses its connection once the limit passes.
func TestSocketSlowCallers(t *testing.T) {
	s := serve(t, Options{Limits: Limits{Header: 100 * time.Millisecond, Body: 200 * time.Millisecond}})
	c := s.dial(t)
	io.WriteString(c, "GET /v1/agent HTTP/1.1\r\nHost: parley-agent\r\n")
	closedByAgent(t, c, "a header never finished")

	c = s.dial(t)
	io.WriteString(c, "POST /v1/unlock HTTP/1.1\r\nHost: parley-agent\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"passphrase\":")
	if out := closedByAgent(t, c, "a body never finished"); out != "" && !strings.Contains(out, `"code":"bad_request"`) {
		t.Fatalf("a body never finished: answered %q", out)
	}
}

// TestEventStreamOutlivesTheReadLimit: the read limit bounds a request's
// header and body, not how long a stream lasts.
func TestEventStreamOutlivesTheReadLimit(t *testing.T) {
	limit := 50 * time.Millisecond
	s := serve(t, Options{Limits: Limits{Header: limit, Body: limit}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan api.Event, 16)
	ended := make(chan error, 1)
	go func() {
		ended <- s.client(t).Events(ctx, "", func(ev api.Event) error { got <- ev; return nil })
	}()
	await.True(t, time.Minute, "the event stream to start", func() bool { return s.streams() == 1 })
	// Ten times the limit: a bound the stream must outlive, not a wait
	// for something to happen.
	time.Sleep(10 * limit)
	s.a.publish(api.Event{Type: api.EventWarning, Error: api.Errorf(api.CodeInternal, "after the limit")})
	select {
	case ev := <-got:
		if ev.Type != api.EventWarning || ev.Error.Message != "after the limit" {
			t.Fatalf("the stream gave %+v", ev)
		}
	case err := <-ended:
		t.Fatalf("the stream ended before the event: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the event never came")
	}
}

// TestSlowEventReader: a reader that stops reading never holds the agent
// back (publishing goes on), costs no more than the ring of recent events,
// and is dropped once a write waits longer than the write limit; resuming
// from its last cursor, it is told it missed events (reset).
func TestSlowEventReader(t *testing.T) {
	s := serve(t, Options{EventBuffer: 16, Limits: Limits{Write: 100 * time.Millisecond}})
	c := s.dial(t)
	io.WriteString(c, "GET /v1/events HTTP/1.1\r\nHost: parley-agent\r\nAccept: application/x-ndjson\r\n\r\n")
	r := bufio.NewReader(c)
	var cursor string
	for cursor == "" { // the header, then the first line: the ping that says where the stream begins
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if i := strings.Index(line, `"cursor":"`); i >= 0 {
			cursor = line[i+len(`"cursor":"`):]
			cursor = cursor[:strings.IndexByte(cursor, '"')]
		}
	}
	// It reads no more. 4,000 events of 8 KiB (32 MiB) go out meanwhile:
	// far more than the socket's buffers hold.
	big := strings.Repeat("x", 8<<10)
	for i := 0; i < 4000; i++ {
		s.a.publish(api.Event{Type: api.EventWarning, Error: api.Errorf(api.CodeInternal, big)})
	}
	// Events go on coming (the stream may have been lapped and written
	// less than the socket holds): each poll publishes one more.
	await.True(t, time.Minute, "the reader that stopped reading to be dropped", func() bool {
		s.a.publish(api.Event{Type: api.EventWarning, Error: api.Errorf(api.CodeInternal, big)})
		return s.streams() == 0
	})
	if n := len(s.a.events.ring); n != 16 {
		t.Fatalf("the ring holds %d events, want the 16 configured", n)
	}
	// Resuming from where it was, it learns that it missed events.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var first api.Event
	err := s.client(t).Events(ctx, cursor, func(ev api.Event) error { first = ev; return io.EOF })
	if !errors.Is(err, io.EOF) || first.Type != api.EventReset {
		t.Fatalf("resuming after the drop: %v, first event %+v (want reset)", err, first)
	}
}

// TestSocketConnectionAndStreamLimits: one connection more than the
// limit is closed at once; one stream more is refused with a code.
func TestSocketConnectionAndStreamLimits(t *testing.T) {
	s := serve(t, Options{Limits: Limits{Streams: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.client(t).Events(ctx, "", func(api.Event) error { return nil })
	await.True(t, time.Minute, "the first event stream", func() bool { return s.streams() == 1 })
	if err := s.client(t).Events(ctx, "", func(api.Event) error { return nil }); !api.IsCode(err, api.CodeTooLarge) {
		t.Fatalf("a second event stream: %v, want code too_large", err)
	}

	s = serve(t, Options{Limits: Limits{Conns: 2}})
	held := s.dial(t)
	s.dial(t)
	extra := s.dial(t)
	if out := closedByAgent(t, extra, "a connection over the limit"); out != "" {
		t.Fatalf("a connection over the limit was answered: %q", out)
	}
	// The connections within the limit are served.
	io.WriteString(held, "GET /v1/agent HTTP/1.1\r\nHost: parley-agent\r\n\r\n")
	line, err := bufio.NewReader(held).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("a connection within the limit: %q, %v", line, err)
	}
}
