// Package homedir owns what every process on a Parley home agrees on
// before any of them opens it: the home's lock (one process serves a
// home), the check that no other user of the machine can change it, and
// where its agent's socket is.
//
// It must stay small: it imports no client, chain or hub package, so that
// the command line's front-end (cmd/parley built with the front tag) can
// find a running agent without linking them.
package homedir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Files of a home that this package reads or makes.
const (
	// SocketName is the agent's socket in the home.
	SocketName = "agent.sock"
	// Config, Keystore and State are the files CheckPrivate checks (with
	// the home and the socket): whoever can change one of them controls
	// what the device trusts or holds.
	Config   = "config.json"
	Keystore = "keystore"
	State    = "state"
	lockF    = "lock"
)

// SocketPath is the agent's socket in home.
func SocketPath(home string) string { return home + string(os.PathSeparator) + SocketName }

// Lock is a home's lock: one process at a time works on a home, for two
// would each move ratchets on from the same state and one's messages
// would be lost.
type Lock struct{ f *os.File }

// BusyError says that another process holds the home's lock: Holder is
// what that process wrote in it ("pid 123, parley watch").
type BusyError struct {
	Dir, Holder string
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("another parley process is using %s (%s)", e.Dir, e.Holder)
}

// TryLock takes the lock of the home dir without waiting, writing what
// into it (the process and its command, never its arguments); held by
// another process, the error is a *BusyError. A home others can change
// is refused (*NotPrivateError).
func TryLock(dir, what string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := CheckPrivate(dir); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, lockF), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	busy, err := flock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	if busy {
		f.Close()
		holder, _ := os.ReadFile(filepath.Join(dir, lockF))
		return nil, &BusyError{Dir: dir, Holder: strings.TrimSpace(string(holder))}
	}
	f.Truncate(0)
	f.WriteAt(fmt.Appendf(nil, "pid %d, %s\n", os.Getpid(), what), 0)
	return &Lock{f}, nil
}

// Release lets another process have the home. A nil Lock, or one
// released already, is a no-op.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Truncate(0) // at rest the lock says nothing of what ran last
	l.f.Close()
	l.f = nil
}

// ErrNotPrivate is wrapped by a *NotPrivateError.
var ErrNotPrivate = errors.New("can be changed by other users of this machine")

// NotPrivateError says that other users of the machine can change a home:
// Path (the home, or a file of it that parley trusts) is writable by its
// group or others, or another user owns it.
type NotPrivateError struct {
	Path string
	What string // "mode -rwxrwxrwx", "owned by user 1001"
}

func (e *NotPrivateError) Error() string {
	return fmt.Sprintf("%s %v (%s): whoever can write there could point config.json at a chain node of their own, replace your keystore or put an agent of theirs in it, so parley does not use it", e.Path, ErrNotPrivate, e.What)
}

func (e *NotPrivateError) Unwrap() error { return ErrNotPrivate }

// Hint says what to do.
func (e *NotPrivateError) Hint() string {
	return fmt.Sprintf("if the home is yours and nobody changed it, run 'chmod go-w %s' (a home must belong to you)", e.Path)
}

// CheckPrivate refuses (*NotPrivateError) a home that other users of the
// machine can change: the directory, or its config.json, keystore, state
// or agent socket, writable by its group or by others, or owned by
// another user. Whoever can write there can point config.json at a chain
// node and trust root of their own, after which every record the device
// trusts comes from them, swap the keystore, or serve an agent socket
// that every command talks to (a socket is refused only if another user
// owns it: in a home nobody else can enter, its mode matters to nobody). A home that does not exist yet passes
// (it is made 0700). Every command checks it before it reads the home or
// dials its socket.
func CheckPrivate(dir string) error {
	for _, name := range []string{"", Config, Keystore, State, SocketName} {
		p := dir
		if name != "" {
			p = filepath.Join(dir, name)
		}
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if name == "" && fi.Mode()&fs.ModeSymlink != 0 { // a home given as a link: what it points to counts
			if fi, err = os.Stat(p); err != nil {
				return err
			}
		}
		what := fmt.Sprintf("mode %v", fi.Mode().Perm())
		if uid, other := ownedByOther(fi); other {
			what = fmt.Sprintf("owned by user %d", uid)
		} else if !othersWrite(fi) || fi.Mode()&(fs.ModeSymlink|fs.ModeSocket) != 0 {
			continue // a link's own mode is always 0777, and a socket's is set after it is made: whose it is counts
		}
		return &NotPrivateError{Path: p, What: what}
	}
	return nil
}
