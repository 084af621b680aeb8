package store

import (
	"encoding/json"
	"time"

	"github.com/parley-im/parley/client/wire"
)

// State is what the state file holds: format v1 (docs/protocol.md, "Local
// state"), JSON. These types are the format, and only the format: the
// client converts them to and from what it works with, so a change of the
// client's types never changes the file by accident, and a change of the
// format is made here, with its migration (Parse).
type State struct {
	Device                   // this device
	BackupETag     string    `json:"backup_etag,omitempty"`
	BackupDue      bool      `json:"backup_due,omitempty"` // the state changed since the last backup reached a hub
	Superseded     *Device   `json:"superseded,omitempty"` // the device the identity was restored on
	Contacts       []Contact `json:"contacts"`
	Links          []Contact `json:"links,omitempty"` // group links
	History        []Message `json:"history"`         // in a backup, or a state from before the log; else in the log
	Blocked        []string  `json:"blocked,omitempty"`
	NoReadReceipts bool      `json:"no_read_receipts,omitempty"`
	// Settings: per setting ("receipts", "block:NAME"), when and on which
	// device it took its value (docs/protocol.md, setting events).
	Settings    map[string]Stamp `json:"settings,omitempty"`
	Profile     Profile          `json:"profile"`
	Uploads     []*Upload        `json:"uploads,omitempty"`
	DoomedPaths []string         `json:"doomed_paths,omitempty"` // deleted messages and files not yet removed from every hub
	Backup      *Backup          `json:"backup,omitempty"`
	Groups      []*Group         `json:"groups,omitempty"`
	HeldKeys    []Held           `json:"held_keys,omitempty"` // group keys from senders not placed in a group yet
	Hubs        []string         `json:"hubs,omitempty"`      // the user's, as the chain last said
	HubsSeq     uint64           `json:"hubs_seq,omitempty"`  // the record's sequence number then
	HistoryGen  uint64           `json:"history_gen,omitempty"`
	// Self are the self sessions with the user's other devices.
	Self []DeviceSession `json:"self,omitempty"`
	// GroupLinks are the group device links with devices of group members
	// (the user's own included); GroupDevice names this device as a group
	// sender ("": the user's first device).
	GroupLinks     []DeviceSession `json:"group_links,omitempty"`
	GroupDevice    string          `json:"group_device,omitempty"`
	HistoryRecords uint64          `json:"history_records,omitempty"`
}

// Stamp is when (Unix milliseconds, the writing device's clock) and on
// which device (its signing key, 64 lowercase hex digits) a setting took
// its value.
type Stamp struct {
	T   int64  `json:"t"`
	Dev string `json:"dev"`
}

// Device is what the state says about the device it lives on: a random
// ID, its generation (one more than the backup's it was restored from; 0
// for a device made by init) and when it began.
type Device struct {
	ID    string    `json:"device,omitempty"`
	Gen   uint64    `json:"device_gen,omitempty"`
	Since time.Time `json:"device_since,omitzero"`
}

// Contact is a pairwise conversation: a contact's, or a group link.
type Contact struct {
	Name       string          `json:"name"`
	Record     []byte          `json:"record"` // bns.Record.Marshal of the record the user confirmed
	MutualKey  []byte          `json:"mutual_key"`
	Ratchet    []byte          `json:"ratchet"` // ratchet.State.Marshal
	NextSend   uint64          `json:"next_send"`
	NextRecv   uint64          `json:"next_recv"`
	ReadUpTo   uint64          `json:"read_up_to"`
	Outbox     []Entry         `json:"outbox,omitempty"`
	Deleted    []uint64        `json:"deleted,omitempty"`
	Indexed    map[string]Mark `json:"indexed,omitempty"`
	TimerSecs  int64           `json:"timer,omitempty"`
	ProfileKey []byte          `json:"profile_key,omitempty"`
	SentKey    []byte          `json:"sent_profile_key,omitempty"`
	DropBelow  uint64          `json:"drop_below,omitempty"`
	Quiet      []int64         `json:"quiet,omitempty"` // [from, to) Unix ms: sent while blocked on another device
	Skipped    []wire.Span     `json:"skipped,omitempty"`
	Verified   string          `json:"verified,omitempty"`
	ReceiptKey []byte          `json:"receipt_key,omitempty"`
	SentRcpt   []byte          `json:"sent_receipt_key,omitempty"`
	TheirRcpt  []byte          `json:"their_receipt_key,omitempty"`
	Started    time.Time       `json:"started"`
	Stale      bool            `json:"stale,omitempty"`
	Changed    []byte          `json:"changed,omitempty"`      // the record that closed the conversation
	Profile    *wire.Profile   `json:"profile,omitempty"`      // theirs, as last read (shown while their hubs are down)
	Receipt    *wire.Receipt   `json:"receipt,omitempty"`      // theirs, as last read
	Owed       bool            `json:"receipt_owed,omitempty"` // the user's receipt reached no hub yet
	NextNumber uint64          `json:"next_number,omitempty"`  // of the user's next text message (absent: the state is older than numbers)
	Asked      string          `json:"asked,omitempty"`        // "request" or "intro": the user asked them; no answer yet
	Request    []byte          `json:"request,omitempty"`      // the introduction, while no hub took it
	IntroPath  string          `json:"intro_path,omitempty"`   // where it goes on the user's hubs; "": their inbox
	Expiring   []wire.Expiry   `json:"expiring,omitempty"`     // the stream's messages written with a hub expiry
	Awaiting   []uint64        `json:"awaiting,omitempty"`     // expiring messages no longer shown, deleted once fetched
	// Devices are the device-pair sessions with the contact's devices
	// other than the name session's (docs/protocol.md, Device-pair
	// sessions); NextSeq numbers this device's events in the conversation
	// when it runs no name session (a device that is not the user's first).
	Devices     []DeviceSession   `json:"devices,omitempty"`
	NextSeq     uint64            `json:"next_seq,omitempty"`
	ReadDevices map[string]uint64 `json:"read_devices,omitempty"` // what the user read of the contact's devices other than the first
	// GotDevices is, by the contact's device (as Message.Device names
	// it), one past the greatest sequence number this device fetched of
	// it in device-pair sessions: what its receipts there say delivered.
	GotDevices map[string]uint64 `json:"got_devices,omitempty"`
	// RequestCopies are the contact request sealed to each of the
	// contact's other devices, for their inboxes, while no hub took them.
	RequestCopies []RequestCopy `json:"request_copies,omitempty"`
}

// DeviceSession is a device-pair session: the other device (its name and
// signing key), the mutual key, the ratchet, what was read and the stream
// written, and the introduction while no hub took it.
type DeviceSession struct {
	Name      string `json:"name"`
	Device    []byte `json:"device"`
	MutualKey []byte `json:"mutual_key"`
	Ratchet   []byte `json:"ratchet"`
	NextRecv  uint64 `json:"next_recv,omitempty"`
	Out       Stream `json:"out"`
	Mine      bool   `json:"mine,omitempty"`
	Intro     []byte `json:"intro,omitempty"`
	IntroPath string `json:"intro_path,omitempty"`
}

// Entry is a message in an outbox: sealed, not yet on every hub.
type Entry struct {
	Seq     uint64    `json:"seq"`
	Path    string    `json:"path"`
	Blob    []byte    `json:"blob"`
	Done    []string  `json:"done,omitempty"`   // hubs that acknowledged it
	Expires time.Time `json:"expires,omitzero"` // when its hubs delete it (disappearing messages)
}

// Mark is what an index written to a hub said.
type Mark struct {
	Count   uint64 `json:"count"`
	Deleted int    `json:"deleted"`
}

// Stream is the user's stream in a group (a contact's is in Contact).
type Stream struct {
	Next     uint64          `json:"next"`
	Outbox   []Entry         `json:"outbox,omitempty"`
	Deleted  []uint64        `json:"deleted,omitempty"`
	Indexed  map[string]Mark `json:"indexed,omitempty"`
	Expiring []wire.Expiry   `json:"expiring,omitempty"`
	Withheld []uint64        `json:"withheld,omitempty"` // sealed, then held back for good: a member's keys changed before they left
}

// Group is a group as the user knows it, and the user's stream in it.
type Group struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Creator  string            `json:"creator"`
	Members  []string          `json:"members"`
	Epoch    uint64            `json:"epoch"`
	Gone     bool              `json:"gone,omitempty"`
	Left     bool              `json:"left,omitempty"`
	Self     string            `json:"self"`
	Dev      string            `json:"dev,omitempty"` // this device, if not the user's first: its own key is Self "/" Dev's
	Keys     map[string][]*Key `json:"keys"`
	Next     map[string]uint64 `json:"next"`
	Read     map[string]uint64 `json:"read"`
	SentKey  map[string]uint64 `json:"sent_key"`
	Leaving  []string          `json:"leaving,omitempty"`
	LeftSent map[string]uint64 `json:"left_sent,omitempty"`
	Departed map[string]uint64 `json:"departed,omitempty"`
	Final    map[string]uint64 `json:"final,omitempty"`
	Held     []Held            `json:"held,omitempty"`
	TimerS   int64             `json:"timer,omitempty"`
	Out      Stream            `json:"out"`
	NextN    uint64            `json:"next_n,omitempty"` // absent: the state is older than numbers
}

// Key is a member's sender key for one epoch of a group.
type Key struct {
	Epoch    uint64   `json:"epoch"`
	Seed     []byte   `json:"seed"`
	From     uint64   `json:"from"`
	CK       [32]byte `json:"ck"`
	At       uint64   `json:"at"`
	SignPub  []byte   `json:"sign_pub,omitempty"`
	SignSeed []byte   `json:"sign_seed,omitempty"`
}

// Held is a group event held back.
type Held struct {
	From string          `json:"from"`
	Info *wire.GroupInfo `json:"info"`
}

// Message is an entry of the history.
type Message struct {
	From      string            `json:"from"`
	To        string            `json:"to"` // a name, or "#" and a group's ID
	Seq       uint64            `json:"seq"`
	Time      time.Time         `json:"time"`
	Kind      string            `json:"kind"`
	Text      string            `json:"text,omitempty"`
	Ref       *wire.Ref         `json:"ref,omitempty"`
	Emoji     string            `json:"emoji,omitempty"`
	File      *wire.FileRef     `json:"file,omitempty"`
	TTL       time.Duration     `json:"ttl,omitempty"`
	Expires   time.Time         `json:"expires,omitzero"`
	Edited    bool              `json:"edited,omitempty"`
	Deleted   bool              `json:"deleted,omitempty"`
	Reactions map[string]string `json:"reactions,omitempty"`
	Earlier   bool              `json:"earlier,omitempty"`
	N         uint64            `json:"n,omitempty"`
	Device    string            `json:"device,omitempty"` // the author's device, if not its first (hex)
}

// Profile is the user's own profile and the key it is sealed under.
type Profile struct {
	wire.Profile
	Key []byte `json:"key,omitempty"`
}

// Upload is a file being sent.
type Upload struct {
	To      string         `json:"to"`
	Path    string         `json:"path"`
	Size    int64          `json:"size"`
	SHA256  []byte         `json:"sha256"`
	Key     []byte         `json:"key"`
	Caption string         `json:"caption,omitempty"`
	Acked   map[string]int `json:"acked"` // per hub: chunks 0..n-1 stored
	// Expires: with the conversation's timer on, when the hubs delete the
	// chunks.
	Expires time.Time `json:"expires,omitzero"`
}

// Backup is where the backup lives and the identity sealed for it.
type Backup struct {
	Version  int    `json:"version,omitempty"` // 2; absent in a v1 backup's
	Path     string `json:"path"`
	Keystore []byte `json:"keystore"` // v2: the sealed seeds; v1: a keystore file under the backup passphrase
}

// Parse reads a state's JSON (a state file's, or a backup's) and brings
// it up to the current format:
//
//   - numbers (next_number, next_n) absent, from before message numbers:
//     the user's numbers go on from the sequence numbers shown so far
//     (max(next_send, 1); a group's, max(out.next, 1)).
//
// A state with History (an older state file, or a backup) has no log
// (HistoryGen 0): the caller takes the history from it.
func Parse(plain []byte) (*State, error) {
	var s State
	if err := json.Unmarshal(plain, &s); err != nil {
		return nil, err
	}
	for _, list := range [][]Contact{s.Contacts, s.Links} {
		for i := range list {
			if ct := &list[i]; ct.NextNumber == 0 {
				ct.NextNumber = max(ct.NextSend, 1)
			}
		}
	}
	for _, g := range s.Groups {
		if g.NextN == 0 {
			g.NextN = max(g.Out.Next, 1)
		}
	}
	return &s, nil
}

// Marshal is the state's JSON.
func (s *State) Marshal() ([]byte, error) { return json.Marshal(s) }

// RequestCopy is a contact request sealed to one device of the contact's
// (not the first), for the inbox of that device's bucket (Addr).
type RequestCopy struct {
	Addr string `json:"addr"`
	Env  []byte `json:"env"`
}
