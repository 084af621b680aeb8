package bns

import (
	"strings"
	"testing"
)

// TestDeviceLabelRefusesMarkup: a device's label is shown on screens
// (parley devices, whois, a contact's device notices, the web app); an
// offer whose label carries terminal escapes, markup, bidi controls,
// look-alike letters or spaces is refused before it reaches any record.
func TestDeviceLabelRefusesMarkup(t *testing.T) {
	for _, label := range []string{
		"\x1b[2J\x1b[Hlaptop", "lap\rtop", "<img src=x onerror=alert(1)>", "laptop\u202egpj", "lаptop", // Cyrillic а
		"my laptop", "LAPTOP", "laptop\x00", strings.Repeat("a", MaxDeviceLabel+1), "",
	} {
		if err := ValidateDeviceLabel(label); err == nil {
			t.Errorf("label %q accepted", label)
		}
		d := Device{SigningKey: PublicKeyOf(testKey(7)), EncKeys: sampleTxs(t)[1].Profile.EncKeys, Label: label}
		if err := d.ValidateOffer(); err == nil {
			t.Errorf("an offer labelled %q accepted", label)
		}
	}
}
