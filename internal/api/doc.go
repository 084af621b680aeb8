// Package api is the local API of a Parley home's agent (package agent),
// version 1: its paths (under [Prefix]), the types of its requests and
// answers, its errors with stable codes, the event stream, and [Client],
// what a front-end (cmd/parley, the chat, a script) calls it with, over
// the agent's Unix socket or in memory.
//
// It owns the API's wire: every answer is an [Envelope] (or NDJSON frames
// of one), every error an [Error] with a code. It must not import the
// client library (its types are its own, so an answer cannot carry a key
// by accident), hold a home's state, or present anything to a person:
// front-ends render what it gives them.
package api
