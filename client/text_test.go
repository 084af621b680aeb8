package client_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/wire"
)

// TestCheckTextFits: every text CheckText accepts, however it escapes,
// fits in a message with everything else an event can carry (a reply to a
// long name, an expiry, a shared file of the longest name); what it refuses
// says why, counted in what the user typed.
func TestCheckTextFits(t *testing.T) {
	max := client.MaxTextBytes
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune{'a', 'é', '"', '\\', '\n', '\t', '\r', '\x01', '\x1b', '\u2028', '<', '😀', 0x7f}
	random := func(n int) string {
		var b strings.Builder
		for b.Len() < n {
			b.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	texts := map[string]string{
		"quotes":                strings.Repeat(`"`, max),
		"backslashes":           strings.Repeat(`\`, max),
		"line breaks":           "x" + strings.Repeat("\r\n", max/2-1),
		"line separators":       "x" + strings.Repeat("\u2028", max/3-1),
		"html":                  strings.Repeat("<&>", max/3),
		"controls, then quotes": strings.Repeat("\x01", 20000) + strings.Repeat(`"`, max-20000),
	}
	for i := range 20 {
		texts["random "+string(rune('a'+i))] = random(max - 3)
	}
	accepted := 0
	for name, text := range texts {
		if err := client.CheckText(text); err != nil {
			var te *client.TextError
			if !errors.As(err, &te) || !errors.Is(err, client.ErrTextTooLong) || te.Bytes != len(text) {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		accepted++
		e := &wire.Event{Kind: wire.KindText, Text: text, Time: time.Now().UnixMilli(), Expires: time.Now().UnixMilli(),
			Ref:  &wire.Ref{By: strings.Repeat("n", 40), Seq: 1 << 62},
			File: &wire.FileRef{Name: strings.Repeat("é", wire.MaxFileName/2), Size: 1 << 40, SHA256: make([]byte, 32), Key: make([]byte, 32), Chunks: wire.ChunkCount(1 << 40)}}
		b, err := wire.MarshalEvent(e)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(b) > wire.MaxText() {
			t.Errorf("%s: %d bytes of text make an event of %d bytes, more than the %d a message holds", name, len(text), len(b), wire.MaxText())
		}
	}
	if accepted < len(texts)-1 { // "controls, then quotes" is too much
		t.Fatalf("only %d of %d texts accepted", accepted, len(texts))
	}

	for name, tc := range map[string]struct {
		text, want string
	}{
		"empty":            {"", "client: the message is empty"},
		"blank":            {" \n\t\u3000", "client: the message is empty"},
		"one byte over":    {strings.Repeat("a", max+1), "client: the message is too long: 65537 bytes (65537 characters); a message holds at most 65536 bytes"},
		"counted as typed": {strings.Repeat("é", 35000), "client: the message is too long: 70000 bytes (35000 characters); a message holds at most 65536 bytes"},
		"controls":         {strings.Repeat("\x01", 30000), "client: the message is too long: 30000 bytes (30000 characters), 30000 of them control characters, which take 6 bytes each in a message"},
		"not UTF-8":        {"a\xffb", "client: the message is not UTF-8 text"},
	} {
		if err := client.CheckText(tc.text); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
