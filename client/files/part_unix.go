//go:build unix

package files

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// noFollow makes opening a part file fail on a symbolic link.
const noFollow = syscall.O_NOFOLLOW

// linkRefused reports whether err is an open refused by noFollow.
func linkRefused(err error) bool {
	return errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK)
}

// ownPlain reports whether fi is a regular file of this process's user
// with no other name (one link).
func ownPlain(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return fi.Mode().IsRegular() && ok && int(st.Uid) == os.Getuid() && st.Nlink == 1
}
