package client

import (
	"testing"

	"github.com/parley-im/parley/client/wire"
)

// TestSettingsLastWriterByTime: a setting event is taken only if its
// stamp (time, then device) is later than the one held, per setting; a
// change made here is stamped past the held one even with a clock behind.
func TestSettingsLastWriterByTime(t *testing.T) {
	c := &Client{settingAt: map[string]stamp{}}
	block := func(name string, on bool, at int64) *wire.Event {
		return &wire.Event{Kind: wire.KindSetting, Set: wire.SetBlock, Conv: name, On: on, Time: at}
	}
	const devA, devB = "aa", "bb"
	steps := []struct {
		e    *wire.Event
		dev  string
		want bool
	}{
		{block("bob", true, 100), devA, true},
		{block("bob", false, 90), devB, false},  // older: ignored
		{block("bob", false, 100), devA, false}, // the same stamp again
		{block("bob", false, 100), devB, true},  // same time, greater device
		{block("carol", true, 50), devA, true},  // another setting, its own stamp
		{&wire.Event{Kind: wire.KindSetting, Set: wire.SetReceipts, Time: 1}, devA, true},
		{&wire.Event{Kind: wire.KindSetting, Set: wire.SetReceipts, On: true, Time: 0}, devB, false},
	}
	for i, s := range steps {
		if got := c.takeSetting(s.e, s.dev); got != s.want {
			t.Errorf("step %d (%s %q on=%v t=%d from %s): taken %v, want %v", i, s.e.Set, s.e.Conv, s.e.On, s.e.Time, s.dev, got, s.want)
		}
	}
}
