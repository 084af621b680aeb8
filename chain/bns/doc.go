// Package bns holds the wire formats of the Parley name chain: names, genesis
// parameters, name records and their history, transactions with their sign
// bytes, proof-of-work stamps, the state keys that proofs are made for, and the
// ABCI result codes.
//
// It is pure: bytes in, bytes out. It never touches the network or a disk, so
// the ABCI application (package app) and the client side (package lookup and
// the client library) can share it.
//
// # Encoding
//
// Every structure has one canonical binary form, built from big-endian
// fixed-width integers and length-prefixed byte strings (see codec.go).
// Decoders are strict: unknown versions, out-of-range lengths and trailing
// bytes are refused, so decode(encode(x)) == x and encode(decode(b)) == b.
//
// # Signatures
//
// A transaction is signed with Ed25519 over [SignBytes]: the domain label
// "parley/bns/tx/v2", the chain ID, then the transaction without its
// signature. A transaction signed for one chain is therefore invalid on any
// other, and the per-account nonce it carries makes it valid exactly once.
package bns
