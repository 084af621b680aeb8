package client

import (
	"time"

	"github.com/parley-im/parley/client/wire"
)

// An Event is what arrived in a conversation, as Receive and SyncGroups
// return it and a Watch Notice reports it: a message, or an event about
// one or about the conversation (a reaction, an edit, a deletion, a
// timer, a group's roster or keys, a profile or receipt key). An Event is
// never in the history: the history (History, Conversation) holds
// Messages, what events made of the conversation (a message edited,
// reacted to, deleted).
type Event struct {
	From     string
	Conv     Conv // the conversation it arrived in
	Seq      uint64
	Time     time.Time // the sender's clock
	Kind     string
	Text     string
	Ref      *wire.Ref // what it replies to, reacts to, edits or deletes
	RefLabel *wire.Ref // the label of the message Ref points at, when the user holds it
	Emoji    string
	File     *wire.FileRef
	TTL      time.Duration
	Expires  time.Time
	N        uint64 // a text message's number in references (Message.N)
	Device   string // the author's device, if not its first (Message.Device)
}

// ID is the event's place in its author's stream (Message.ID).
func (e Event) ID() wire.Ref { return wire.Ref{By: e.From, Seq: e.Seq, Dev: e.Device} }

// Label is how people refer to the message e brought (Message.Label); ok
// is false for an event that brought none.
func (e Event) Label() (ref wire.Ref, ok bool) { return labelOf(e.Kind, e.From, e.Seq, e.N) }

// labelOf is Label: author/N for a text message (or one this client
// cannot read that carries a number), author/seq for a text message from
// an older client, none for anything else.
func labelOf(kind, from string, seq, n uint64) (wire.Ref, bool) {
	switch {
	case kind == wire.KindText && n == 0:
		return wire.Ref{By: from, Seq: seq}, true
	case kind == wire.KindText, kind == KindUnsupported && n != 0:
		return wire.Ref{By: from, Seq: n}, true
	}
	return wire.Ref{}, false
}

// event is the Event that brought m, as it arrived.
func (m Message) event() Event {
	return Event{From: m.From, Conv: m.Conv, Seq: m.Seq, Time: m.Time, Kind: m.Kind, Text: m.Text, Ref: m.Ref, RefLabel: m.RefLabel,
		Emoji: m.Emoji, File: m.File, TTL: m.TTL, Expires: m.Expires, N: m.N, Device: m.Device}
}

// events is ms as the events that brought them.
func events(ms []Message) []Event {
	if ms == nil {
		return nil
	}
	out := make([]Event, len(ms))
	for i, m := range ms {
		out[i] = m.event()
	}
	return out
}
