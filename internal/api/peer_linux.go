//go:build linux

package api

import (
	"net"
	"syscall"
)

// peerUID reads the user of the process at the other end of a Unix
// socket connection (SO_PEERCRED: the kernel's word, not the peer's).
func peerUID(c net.Conn) (uid int, ok bool) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var (
		cred *syscall.Ucred
		cerr error
	)
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return 0, false
	}
	return int(cred.Uid), true
}
