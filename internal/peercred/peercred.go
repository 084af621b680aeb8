// Package peercred reads, from the kernel, who is at the other end of a
// Unix socket connection: the one system call the agent (checking who
// calls it) and the API's client (checking who serves the socket) share.
// It does not decide who may talk to whom: its callers do. Off Linux it
// knows nothing, and says so.
package peercred

// Cred is the process at the other end of a connection.
type Cred struct {
	UID int // its user
	PID int // its process
}
