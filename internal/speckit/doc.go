// Package speckit holds the tests that tie docs/protocol.md to the code:
// the spec's tables (result codes, event kinds, labels, token scopes, hub
// error classes) against the code's constants, and the test vectors of
// testdata/vectors (one file per case, valid and invalid) against the
// client formats. Its only code is the vector file parser (Vector).
//
// It must not be imported by a program; the spec, not this package, is
// normative.
package speckit
