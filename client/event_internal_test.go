package client

import (
	"testing"

	"github.com/parley-im/parley/client/wire"
)

// TestEventMessage: whatever an authentic blob holds, it becomes a message;
// what this client cannot read is kept as unsupported, never dropped and
// never a crash.
func TestEventMessage(t *testing.T) {
	for name, tc := range map[string]struct {
		plain string
		kind  string
	}{
		"text":           {`{"v":1,"k":"text","t":1000,"text":"hi"}`, wire.KindText},
		"not json":       {`\x00garbage`, KindUnsupported},
		"truncated":      {`{"v":1,"k":"te`, KindUnsupported},
		"empty":          {``, KindUnsupported},
		"future version": {`{"v":9,"k":"text","t":1000}`, KindUnsupported},
		"unknown kind":   {`{"v":1,"k":"poll","t":1000}`, KindUnsupported},
		"react, no ref":  {`{"v":1,"k":"react","t":1000,"emoji":"x"}`, KindUnsupported},
	} {
		m, e := eventMessage("alice", "bob", 3, []byte(tc.plain))
		if m.Kind != tc.kind || m.From != "alice" || m.Seq != 3 || (tc.kind == KindUnsupported) != (e == nil) {
			t.Errorf("%s: %+v %v", name, m, e)
		}
	}
}

func TestSharedName(t *testing.T) {
	for in, want := range map[string]string{
		"/home/a/holiday.mov": "holiday.mov",
		"/home/a/.bashrc":     "bashrc",
		"/tmp/...":            "file",
		"/tmp/a\x01b\\c":      "a_b_c",
	} {
		got := sharedName(in)
		if got != want || wire.CheckFileName(got) != nil {
			t.Errorf("sharedName(%q) = %q, want %q", in, got, want)
		}
	}
}
