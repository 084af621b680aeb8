// Package client is the Parley messenger library: it composes verified
// name lookups (a [Directory]), storage hubs (package hubclient) and the
// formats of package wire into contacts, conversations and groups.
//
// A user's bucket on every hub is the one of their signing key
// (auth.NativeAddress of the key their chain record publishes), so anyone
// can compute where a name writes from its verified record alone. A
// conversation is two directions, each written by its sender to the
// sender's own hubs; the state of all of them lives on the device, sealed.
//
// # The facade and its parts
//
// [Client] is the facade a front-end calls (internal/agent, tests). It
// owns the user's contacts, their Double Ratchet sessions, the history and
// the settings, and composes the parts that own the rest:
//
//   - package group: the group state machine (rosters, epochs, sender
//     keys), pure; the client sends, reads and saves around it.
//   - package store: the state file and the history log on the device,
//     with persisted types of their own; the client converts.
//   - package outbox: the streams the user writes (numbers, queued sealed
//     messages, deletions, indexes) and flushing them to the user's hubs
//     over outbox.Hub.
//   - package files: a file's chunks, uploaded to each hub from where it
//     stopped (each upload's progress under its own lock) and downloaded
//     verified; the client says where to put and where to fetch.
//   - a [Directory] for names (chain/lookup in a program), hubclient for
//     reading others' hubs.
//
// It must not trust an unverified record or an unauthenticated blob, hold
// its lock across network or disk I/O, or keep package-level mutable
// state: knobs are options, each an [Option] ([WithHTTPClient],
// [WithClock], [WithWatchTimings], [WithBackupKDF], [WithDeliveryWindow]).
//
// # Conversations
//
// A [Conv] names a conversation: [ContactConv] a contact's, [GroupConv] a
// group's. Methods that work on either take a Conv ([Client.SendEvent],
// [Client.Receive], [Client.Conversation], [Client.MarkRead], ...); those
// for a contact only take a name ([Client.Send], [Client.Request]), those
// for a group only its ID ([Client.Invite], [Client.LeaveGroup]). The
// history holds [Message] values, what the events made of each
// conversation; what arrives is an [Event] ([Client.Receive],
// [Client.SyncGroups]), and [Client.Watch] reports a [Notice] as each
// thing arrives (an Event, a receipt, an expiry, a request).
//
// # Devices
//
// A name may have several devices (its verified record lists them). The
// conversation a request or introduction makes, the name session, runs
// between the two names' first devices; every other pair of devices runs
// a device-pair session of its own, and each device keeps self sessions
// with the user's other devices, which carry copies of what it sends and
// what the user read (devices.go; docs/protocol.md, Device-pair
// sessions). No two devices share ratchet state.
//
// # Locks
//
// Client.mu guards the facade's state. It is held to change it and to
// prepare a save (the state's JSON and what changed in the history, in
// memory), never while a hub answers or a file is synced: the store
// writes prepared saves after it is let go, in order, and a stream
// flushes under its own lock. Before anything of a stream leaves, every
// save prepared so far is on disk (a message on a hub is never lost from
// the device). Two locks are held across hub calls on purpose: one Flush
// at a time, and one Receive at a time per contact. docs/architecture.md
// draws the parts and their locks.
//
// # Errors
//
// Errors wrap a few sentinels ([ErrNotContact], [ErrQueued],
// [ErrKeysChanged], [ErrOffline], [ErrNoMessage], ...) and typed errors
// that carry data ([*QueuedError], [*KeyChange], [*HubError],
// [*WithheldError], [*OfflineError]); match them with errors.Is and
// errors.As, never by text.
package client
