// Package app is the Parley name chain's ABCI application: it executes the
// transactions of package bns against state kept in one IAVL tree, and
// answers queries with ICS23 proofs against the app hash.
//
// # Execution
//
// Every transaction goes through one validation path, [execCtx.validate]:
// first the stateless checks ([txCache.check]: size, decoding, name and
// profile rules, signature for this chain ID), then the nonce and the state
// rules of its type; only if all pass is it applied. CheckTx runs the whole
// path against the last committed state plus the transactions already
// admitted to the mempool. PrepareProposal and ProcessProposal run its
// stateless stage: a block holding a transaction that fails it can only come
// from a faulty proposer and is rejected. FinalizeBlock runs the whole path
// for each transaction in order; one that the state refuses (a spent nonce,
// a name taken earlier in the block) gets its code and changes nothing.
// Execution
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
// # Metrics
//
// With [Config.Metrics] the application registers its Prometheus metrics
// (docs/operators.md lists them): transactions by stage, type and result
// code, names by state, state size, query and block durations. They are
// kept beside the state, never in it, so they cannot change the app hash;
// the name counts are built from the state at startup and then follow
// each block (see nameCounts).
//
// The application must not be used from several goroutines at once except
// through its methods, which take a lock.
package app
