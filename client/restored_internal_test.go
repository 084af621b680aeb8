package client

import (
	"testing"
	"time"
)

// TestDeviceNewer: a later generation replaces an earlier one; two
// restores of one backup (the same generation) agree which one goes on.
func TestDeviceNewer(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		d, o device
		want bool
	}{
		{"restored from it", device{ID: "b", Gen: 1}, device{ID: "a", Gen: 0}, true},
		{"the device it was restored from", device{ID: "a", Gen: 0}, device{ID: "b", Gen: 1}, false},
		{"two restores of one backup, greater ID", device{ID: "c", Gen: 1}, device{ID: "b", Gen: 1, Since: now}, true},
		{"two restores of one backup, smaller ID", device{ID: "b", Gen: 1, Since: now}, device{ID: "c", Gen: 1}, false},
		{"itself", device{ID: "a", Gen: 2}, device{ID: "a", Gen: 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.d.newer(tc.o); got != tc.want {
				t.Fatalf("newer = %v, want %v", got, tc.want)
			}
		})
	}
	if a, b := newDevice(0, now), newDevice(0, now); a.ID == b.ID || len(a.ID) != 32 {
		t.Fatalf("device IDs %q, %q", a.ID, b.ID)
	}
}
