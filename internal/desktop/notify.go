// Package desktop shows desktop notifications through the freedesktop
// notification service (org.freedesktop.Notifications) on the user's
// D-Bus session bus.
//
// It shows what it is given and nothing more: the agent gives it "new
// message from NAME", never a message's text (docs/api.md).
package desktop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/godbus/dbus/v5"
)

// The freedesktop notification service (Desktop Notifications
// Specification 1.2).
const (
	service = "org.freedesktop.Notifications"
	path    = dbus.ObjectPath("/org/freedesktop/Notifications")
	method  = service + ".Notify"
)

// expireDefault lets the notification server choose how long it shows.
const expireDefault = int32(-1)

// maxText bounds a notification's summary and body (bytes).
const maxText = 256

// Notifier shows notifications on the session bus at an address. It
// connects on first use and again after a failure; it is safe for
// concurrent use.
type Notifier struct {
	address string
	app     string

	mu   sync.Mutex
	conn *dbus.Conn
}

// ErrNoSessionBus: there is no session bus to show notifications on.
var ErrNoSessionBus = errors.New("desktop: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)")

// SessionNotifier is a Notifier on the session bus the environment names
// (DBUS_SESSION_BUS_ADDRESS), or ErrNoSessionBus.
func SessionNotifier(app string) (*Notifier, error) {
	addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	if addr == "" {
		return nil, ErrNoSessionBus
	}
	return New(addr, app), nil
}

// New is a Notifier on the bus at address (a D-Bus address such as
// "unix:path=/run/user/1000/bus"), naming itself app.
func New(address, app string) *Notifier { return &Notifier{address: address, app: app} }

// Notify shows a notification of summary and body (each cut to a few
// hundred bytes, control characters dropped).
func (n *Notifier) Notify(ctx context.Context, summary, body string) error {
	conn, err := n.connect(ctx)
	if err != nil {
		return err
	}
	call := conn.Object(service, path).CallWithContext(ctx, method, 0,
		n.app, uint32(0), "", clean(summary), clean(body), []string{}, map[string]dbus.Variant{}, expireDefault)
	if call.Err != nil {
		n.drop(conn)
		return fmt.Errorf("desktop: notify: %w", call.Err)
	}
	return nil
}

// Close closes the connection to the bus.
func (n *Notifier) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conn == nil {
		return nil
	}
	err := n.conn.Close()
	n.conn = nil
	return err
}

func (n *Notifier) connect(ctx context.Context) (*dbus.Conn, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conn != nil && n.conn.Connected() {
		return n.conn, nil
	}
	conn, err := dbus.Connect(n.address, dbus.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("desktop: connect to the session bus: %w", err)
	}
	n.conn = conn
	return conn, nil
}

// drop forgets conn after a failure: the next notification connects anew.
func (n *Notifier) drop(conn *dbus.Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conn == conn {
		n.conn.Close()
		n.conn = nil
	}
}

// clean drops control characters and markup's angle brackets and
// ampersands (servers may read the body as markup), and cuts s to maxText
// bytes on a rune boundary.
func clean(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '<' || r == '>' || r == '&' || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			continue
		}
		if b.Len()+len(string(r)) > maxText {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
