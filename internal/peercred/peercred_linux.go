//go:build linux

package peercred

import (
	"net"
	"syscall"
)

// Of returns the credentials of the process at the other end of c
// (SO_PEERCRED: the kernel's word, not the peer's), and false when c is
// not a Unix socket connection or the kernel does not answer.
func Of(c net.Conn) (Cred, bool) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Cred{}, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Cred{}, false
	}
	var (
		cred *syscall.Ucred
		cerr error
	)
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return Cred{}, false
	}
	return Cred{UID: int(cred.Uid), PID: int(cred.Pid)}, true
}
