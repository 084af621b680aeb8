//go:build unix

package homedir

import (
	"errors"
	"os"
	"syscall"
)

// flock takes f's exclusive lock without waiting; busy reports that
// another process (or another open file in this one) holds it.
func flock(f *os.File) (busy bool, err error) {
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	return false, err
}

// ownedByOther reports whether fi belongs to another user than the one
// running parley, and which.
func ownedByOther(fi os.FileInfo) (uid uint32, other bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, st.Uid != uint32(os.Getuid())
}

// othersWrite reports whether fi's group or others may write to it.
func othersWrite(fi os.FileInfo) bool { return fi.Mode().Perm()&0o022 != 0 }
