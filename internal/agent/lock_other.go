//go:build !unix

package agent

import "os"

// flock does not lock where there is no flock: one parley at a time per
// home is then up to the user.
func flock(*os.File) (busy bool, err error) { return false, nil }
