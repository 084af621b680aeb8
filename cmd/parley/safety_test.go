package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// safetyRe finds a safety number in what parley prints.
var safetyRe = regexp.MustCompile(`safety[^:\n]*:\s+([0-9]{5}(?: [0-9]{5}){11})`)

func safetyIn(t *testing.T, out string) string {
	t.Helper()
	m := safetyRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no safety number in:\n%s", out)
	}
	return m[1]
}

// TestSafetyNumberBothSides: alice and bob compare their safety number
// face to face: alice reads hers for bob ('contacts verify bob'), bob his
// for alice ('contacts verify alice', 'whois alice'): it is one number.
// alice's number with carol shares no half with it (each half is drawn
// from the keys, none is a constant). bob's number, read out to alice,
// verifies him.
func TestSafetyNumberBothSides(t *testing.T) {
	rpc, hubs := startWorld(t)
	t.Setenv("PARLEY_PASSPHRASE", "correct horse battery staple")
	dir := t.TempDir()
	alice, bob, carol := filepath.Join(dir, "alice"), filepath.Join(dir, "bob"), filepath.Join(dir, "carol")
	for _, u := range []struct{ home, name, hub string }{{alice, "alice", hubs[0]}, {bob, "bob", hubs[1]}, {carol, "carol", hubs[1]}} {
		initHome(t, rpc, u.home)
		parley(t, "--home", u.home, "register", u.name, "--hub", u.hub)
	}
	awaitName(t, alice, "bob")
	awaitName(t, alice, "carol")
	for _, other := range []string{"bob", "carol"} {
		parley(t, "--home", alice, "contacts", "add", other)
		home := map[string]string{"bob": bob, "carol": carol}[other]
		parley(t, "--home", home, "contacts", "accept", "alice")
	}
	aliceBob := safetyIn(t, parley(t, "--home", alice, "contacts", "verify", "bob"))
	for what, got := range map[string]string{
		"bob's 'contacts verify alice'": safetyIn(t, parley(t, "--home", bob, "contacts", "verify", "alice")),
		"bob's 'whois alice'":           safetyIn(t, parley(t, "--home", bob, "whois", "alice")),
		"alice's 'whois bob'":           safetyIn(t, parley(t, "--home", alice, "whois", "bob")),
	} {
		if got != aliceBob {
			t.Errorf("%s shows %s; alice's 'contacts verify bob' shows %s", what, got, aliceBob)
		}
	}
	aliceCarol := safetyIn(t, parley(t, "--home", alice, "contacts", "verify", "carol"))
	// Two pairs with alice in common share exactly alice's half; the
	// other halves, bob's and carol's, share no more groups than chance.
	ab, ac := []string{aliceBob[:35], aliceBob[36:]}, []string{aliceCarol[:35], aliceCarol[36:]}
	var common, bobs, carols []string
	for _, x := range ab {
		if x == ac[0] || x == ac[1] {
			common = append(common, x)
		} else {
			bobs = append(bobs, x)
		}
	}
	for _, x := range ac {
		if x != ab[0] && x != ab[1] {
			carols = append(carols, x)
		}
	}
	same := 0
	for i, g := range strings.Fields(aliceBob) {
		if strings.Fields(aliceCarol)[i] == g {
			same++
		}
	}
	if len(common) != 1 || len(bobs) != 1 || len(carols) != 1 {
		t.Fatalf("alice-bob %s and alice-carol %s are not alice's half and another each (%d of 12 groups in the same place)", aliceBob, aliceCarol, same)
	}
	sameOther := 0
	for i, g := range strings.Fields(bobs[0]) {
		if strings.Fields(carols[0])[i] == g {
			sameOther++
		}
	}
	if sameOther > 1 {
		t.Errorf("bob's half %s and carol's %s share %d of 6 groups", bobs[0], carols[0], sameOther)
	}
	if out := parley(t, "--home", alice, "contacts", "verify", "bob", aliceBob); !strings.Contains(out, "bob is verified") {
		t.Fatalf("verify with the number bob read out: %s", out)
	}
}
