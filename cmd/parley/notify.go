//go:build !front

package main

import (
	"github.com/parley-im/parley/internal/agent"
	"github.com/parley-im/parley/internal/desktop"
)

// desktopNotifier is the desktop's notification service on the session
// bus (nil: no session bus), or the one runOptions gave. The agent uses
// it only when the user turned notifications on (parley settings
// notifications on).
func (h *home) desktopNotifier() agent.Notifier {
	if h.core.notifier != nil {
		return h.core.notifier
	}
	n, err := desktop.SessionNotifier("Parley")
	if err != nil {
		return nil
	}
	return n
}
