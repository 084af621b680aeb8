// Package speckit holds the tests that tie docs/protocol.md to the code:
// the spec's tables (result codes, event kinds, labels, token scopes, hub
// error classes) against the code's constants, and the test vectors of
// testdata/vectors (one file per case, valid and invalid) against the
// client and hub formats. It has no code of its own.
package speckit
