package ratchet

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestSpecMatchesCode: docs/protocol.md's Double Ratchet section states
// the labels, sizes, flags and state bits this package uses.
func TestSpecMatchesCode(t *testing.T) {
	b, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "## Double Ratchet (`client/ratchet`)")
	end := strings.Index(doc, "## Message blob")
	if start < 0 || end < start {
		t.Fatal("no Double Ratchet section before Message blob")
	}
	sec := doc[start:end]
	for _, want := range []string{
		fmt.Sprintf("info = %q", infoRatchet),
		fmt.Sprintf("info = %q", infoPQ),
		fmt.Sprintf("info = %q", infoMsg),
		fmt.Sprintf("(%d bytes)", HeaderLen),
		fmt.Sprintf("(%d bytes:", HeaderLenV1),
		fmt.Sprintf("%#02x PQ", FlagPQ), fmt.Sprintf("%#02x EK", FlagEK), fmt.Sprintf("%#02x CT", FlagCT),
		fmt.Sprintf("encapsulation key (%d bytes)", EKLen), fmt.Sprintf("KEM ciphertext (%d bytes)", CTLen),
		fmt.Sprintf("%#02x step due, %#02x PQ, %#02x V2", bitStep, bitPQ, bitV2),
		fmt.Sprintf("u8 %d ‖ opt32 DHs", stateV2), fmt.Sprintf("u8 %d ‖ DHs private[32]", stateV1),
		fmt.Sprintf("at most %d", MaxSkip), fmt.Sprintf("u32 count (≤ %d)", MaxSkip),
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("the spec's Double Ratchet section does not say %q", want)
		}
	}
}
