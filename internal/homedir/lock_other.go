//go:build !unix

package homedir

import "os"

// flock does not lock where there is no flock: one parley at a time per
// home is then up to the user.
func flock(*os.File) (busy bool, err error) { return false, nil }

// ownedByOther and othersWrite cannot tell owners and permissions apart
// here (no Unix mode bits): they are up to the system.
func ownedByOther(os.FileInfo) (uid uint32, other bool) { return 0, false }
func othersWrite(os.FileInfo) bool                      { return false }
