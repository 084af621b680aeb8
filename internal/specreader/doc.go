// Package specreader holds an independent reader of Parley's formats,
// written in JavaScript from docs/protocol.md alone (reader.mjs, on the
// audited @noble libraries pinned in package.json and package-lock.json,
// installed with npm ci on first run), and the test that runs it on the
// test vectors of testdata/vectors. It holds no Go code but that test.
//
// It must not share code with the Go client: the reader is the spec's
// second implementation, and proves the spec suffices only while it is
// written from the spec alone.
package specreader
