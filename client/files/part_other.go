//go:build !unix

package files

import "io/fs"

// noFollow: no such flag off Unix.
const noFollow = 0

func linkRefused(error) bool { return false }

// ownPlain reports whether fi is a regular file (its owner and links are
// not known off Unix).
func ownPlain(fi fs.FileInfo) bool { return fi.Mode().IsRegular() }
