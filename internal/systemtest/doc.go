// Package systemtest runs the whole system as a user does: the binaries,
// scripts/localnet.sh and scripts/demo.sh (what 'make demo' runs), real
// processes on 127.0.0.1, and fault drills on the network the demo leaves
// up.
//
// It holds only tests. It must not be imported, and drives the system from
// outside only: built binaries, scripts and their output, never the
// packages' internals.
package systemtest
