package main

import "github.com/parley-im/parley/internal/agent"

// desktopNotifier is the desktop's notification service, where there is
// a session bus (nil: none).
func desktopNotifier() agent.Notifier { return nil }
