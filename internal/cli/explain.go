package cli

import (
	"errors"
	"io/fs"
	"net"
	"net/url"
	"syscall"
)

// ExplainSystem says, for the daemons (hubd, bnsd), what an error from the
// operating system or the network means to an operator, in one sentence
// with a hint: an address in use, a path that is missing or not theirs, a
// full disk, a server that does not answer. It returns "" for any other
// error, which the program's own [Explain] (or [Plain]) then presents.
func ExplainSystem(err error) (what, hint string) {
	var (
		op  *net.OpError
		pe  *fs.PathError
		ue  *url.Error
		dns *net.DNSError
	)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		addr := "to listen on"
		if errors.As(err, &op) && op.Addr != nil {
			addr = op.Addr.String()
		}
		return "the address " + addr + " is in use", "another process listens there: stop it, or choose another address"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "this machine has no such address to listen on", "listen on one of its own addresses (127.0.0.1, 0.0.0.0 for all)"
	case errors.Is(err, syscall.ENOSPC):
		return "the disk is full", "free some space, then start again"
	case errors.As(err, &pe) && errors.Is(err, fs.ErrPermission):
		return "no permission to " + pe.Op + " " + pe.Path, "run as a user who owns it, or choose another directory"
	case errors.As(err, &pe) && errors.Is(err, fs.ErrNotExist):
		return pe.Path + " does not exist", "check the path"
	case errors.As(err, &dns):
		return dns.Name + " is not a known host name", "check the address"
	case errors.Is(err, syscall.ECONNREFUSED):
		server := "a server"
		if errors.As(err, &ue) {
			server = ue.URL
		} else if errors.As(err, &op) && op.Addr != nil {
			server = op.Addr.String()
		}
		return server + " does not answer (connection refused)", "check that it runs and that the address is right"
	}
	return "", ""
}
