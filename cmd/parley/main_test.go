package main

import (
	"os"
	"testing"
)

// testPassphrase is PARLEY_PASSPHRASE for every test that sets none. The
// tests that wait on the chain's clock (lapsingNames) run in parallel,
// and t.Setenv is refused there: they use this one.
const testPassphrase = "a test passphrase"

func TestMain(m *testing.M) {
	os.Setenv("PARLEY_PASSPHRASE", testPassphrase)
	os.Exit(m.Run())
}
