//go:build linux

package agent

import (
	"net"
	"syscall"
)

// peerOf reads the credentials of the process at the other end of a Unix
// socket connection (SO_PEERCRED: the kernel's word, not the peer's).
func peerOf(c net.Conn) (peer, bool) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peer{}, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return peer{}, false
	}
	var (
		cred *syscall.Ucred
		cerr error
	)
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return peer{}, false
	}
	return peer{uid: int(cred.Uid), pid: int(cred.Pid), known: true}, true
}
