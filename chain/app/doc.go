// Package app is the Parley name chain's ABCI application: it executes the
// transactions of package bns against state kept in one IAVL tree, and
// answers queries with ICS23 proofs against the app hash.
//
// # Execution
//
// Every transaction goes through one path, [execCtx.deliver]: size check,
// decode, stateless rules, signature (for this chain ID), nonce, then the
// state rules of its type; only if all pass is it applied. CheckTx runs it
// against the last committed state plus the transactions already admitted to
// the mempool; PrepareProposal drops what fails; ProcessProposal rejects a
// block in which anything fails; FinalizeBlock applies the block. Execution
// uses the block height only (never the wall clock), iterates nothing but
// sorted keys and starts no goroutines, so every node computes the same app
// hash.
//
// # State
//
// FinalizeBlock stages writes in an overlay, then writes them into the IAVL
// working tree in sorted key order; the app hash is the tree's working
// root. Commit saves the version, whose number is the block height, in one
// atomic batch. Info reports the last saved version, so after a restart
// CometBFT replays only the blocks the application has not saved.
//
// The application must not be used from several goroutines at once except
// through its methods, which take a lock.
package app
