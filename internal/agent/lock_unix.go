//go:build unix

package agent

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
