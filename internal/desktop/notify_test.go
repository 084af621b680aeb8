package desktop

import (
	"bufio"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// sessionBus starts a real D-Bus session bus (dbus-daemon) for the test
// and returns its address.
func sessionBus(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Fatalf("dbus-daemon is not installed (apt-get install dbus-daemon; .ci/run installs it): %v", err)
	}
	addr := "unix:path=" + filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command(bin, "--session", "--nofork", "--nopidfile", "--address="+addr, "--print-address=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n') // printed once it listens
	if err != nil {
		t.Fatalf("dbus-daemon printed no address: %v", err)
	}
	return strings.TrimSpace(line)
}

// notification is one call of Notify as the server received it.
type notification struct {
	app, icon, summary, body string
	replaces                 uint32
	actions                  []string
	hints                    map[string]dbus.Variant
	timeout                  int32
}

// server is a notification server on the bus: it owns the freedesktop
// name and records every Notify.
type server struct{ got chan notification }

func (s server) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	s.got <- notification{app: app, replaces: replaces, icon: icon, summary: summary, body: body, actions: actions, hints: hints, timeout: timeout}
	return 1, nil
}

func startServer(t *testing.T, addr string) server {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := server{got: make(chan notification, 4)}
	if err := conn.Export(s, path, service); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName(service, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("owning %s: %v (reply %d)", service, err, reply)
	}
	return s
}

// TestNotifyOnARealSessionBus: the notification reaches the freedesktop
// service on a real bus as the specification's Notify call, with exactly
// the words given, cleaned.
func TestNotifyOnARealSessionBus(t *testing.T) {
	addr := sessionBus(t)
	s := startServer(t, addr)
	n := New(addr, "Parley")
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := n.Notify(ctx, "Parley", "new message from bob"); err != nil {
		t.Fatal(err)
	}
	got := <-s.got
	if got.app != "Parley" || got.summary != "Parley" || got.body != "new message from bob" || got.replaces != 0 || got.icon != "" ||
		len(got.actions) != 0 || len(got.hints) != 0 || got.timeout != -1 {
		t.Fatalf("the server got %+v", got)
	}
	// Control characters, bidi controls and markup never reach the
	// desktop; a long body is cut.
	if err := n.Notify(ctx, "Parley", "new message from <b>\x1b[31mbob\u202e&"+strings.Repeat("x", 1000)); err != nil {
		t.Fatal(err)
	}
	got = <-s.got
	if !strings.HasPrefix(got.body, "new message from b[31mbob") || strings.ContainsAny(got.body, "<>&\x1b\u202e") || len(got.body) > maxText {
		t.Fatalf("the server got the body %q", got.body)
	}
}

// TestNotifyWithoutAServer: a bus with no notification service: an
// error (the agent logs it), and the next notification tries again.
func TestNotifyWithoutAServer(t *testing.T) {
	addr := sessionBus(t)
	n := New(addr, "Parley")
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := n.Notify(ctx, "Parley", "new message from bob")
	var de dbus.Error
	if !errors.As(err, &de) || de.Name != "org.freedesktop.DBus.Error.ServiceUnknown" {
		t.Fatalf("no notification service: %v", err)
	}
	s := startServer(t, addr)
	if err := n.Notify(ctx, "Parley", "new message from bob"); err != nil {
		t.Fatal(err)
	}
	if got := <-s.got; got.body != "new message from bob" {
		t.Fatalf("after the service came: %+v", got)
	}
}

func TestNoSessionBus(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	if _, err := SessionNotifier("Parley"); !errors.Is(err, ErrNoSessionBus) {
		t.Fatalf("no session bus: %v", err)
	}
}
