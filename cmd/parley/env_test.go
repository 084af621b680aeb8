package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestConventions: parley follows the rules of bnsd and hubd: a global
// flag may come from the environment (PARLEY_HOME for --home), the
// command line winning; the daemon's log flags are theirs (--log-level,
// --log-format), a value they do not take a usage error.
func TestConventions(t *testing.T) {
	fromEnv, fromFlag := filepath.Join(t.TempDir(), "env"), filepath.Join(t.TempDir(), "flag")
	t.Setenv("PARLEY_HOME", fromEnv)
	for _, tc := range []struct {
		args []string
		home string
	}{
		{[]string{"whois", "bob"}, fromEnv},
		{[]string{"--home", fromFlag, "whois", "bob"}, fromFlag},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), tc.args, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no identity in "+tc.home+":") {
			t.Errorf("PARLEY_HOME=%s parley %v: exit %d, %s; want no identity in %s", fromEnv, tc.args, code, errb.String(), tc.home)
		}
	}
	for _, args := range [][]string{{"daemon", "--log-level", "loud"}, {"daemon", "--log-format", "xml"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "parley: "+args[1]+` "`+args[2]+`": want `) {
			t.Errorf("parley %v: exit %d, %s; want a usage error", args, code, errb.String())
		}
	}
}
