//go:build front && unix

package main

import (
	"fmt"
	"syscall"
)

// execReplace executes path in this process's place.
func execReplace(path string, argv, env []string) error {
	if err := syscall.Exec(path, argv, env); err != nil {
		return fmt.Errorf("running %s: %w", path, err)
	}
	return nil
}
