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
		"reply":          {`{"v":1,"k":"text","t":1000,"text":"yes","ref":{"by":"bob","seq":2}}`, wire.KindText},
		// A reference names an author: a name, never escape sequences
		// (a title, a clear screen) for the reader's terminal.
		"reply by escapes":   {`{"v":1,"k":"text","t":1000,"text":"x","ref":{"by":"\u001b]0;title\u0007\u001b[2J","seq":0}}`, KindUnsupported},
		"react by no name":   {`{"v":1,"k":"react","t":1000,"emoji":"x","ref":{"by":"","seq":0}}`, KindUnsupported},
		"edit by a bad name": {`{"v":1,"k":"edit","t":1000,"text":"x","ref":{"by":"Bob\u202e","seq":0}}`, KindUnsupported},
		"group": {`{"v":1,"k":"group","t":1000,"group":{"id":"0123456789abcdef0123456789abcdef","name":"trip","creator":"alice",` +
			`"members":["alice","bob"],"epoch":1}}`, wire.KindGroup},
		// A group ID is 32 lowercase hex digits, nothing else.
		"group ID with escapes": {`{"v":1,"k":"group","t":1000,"group":{"id":"\u001b]0;title\u0007\u001b[2J0123456789abcdef01","name":"trip","creator":"alice",` +
			`"members":["alice","bob"],"epoch":1}}`, KindUnsupported},
		"group ID in capitals": {`{"v":1,"k":"group","t":1000,"group":{"id":"0123456789ABCDEF0123456789ABCDEF","name":"trip","creator":"alice",` +
			`"members":["alice","bob"],"epoch":1}}`, KindUnsupported},
	} {
		m, e := eventMessage("alice", ContactConv("alice"), 3, []byte(tc.plain))
		if m.Kind != tc.kind || m.From != "alice" || m.Seq != 3 || (tc.kind == KindUnsupported) != (e == nil) {
			t.Errorf("%s: %+v %v", name, m, e)
		}
	}
}
