package api

import "time"

// Prefix begins every path of this version of the API.
const Prefix = "/v1"

// MaxBody bounds a request's body (an avatar, base64, fits; files go by
// path or through the upload call, which has its own bound).
const MaxBody = 1 << 20

// Content types.
const (
	// JSON: the whole answer as one Envelope.
	JSON = "application/json"
	// NDJSON: the answer as lines, each one JSON object: Frames with
	// progress and notes as they happen, the last one with the result or
	// the error. A caller asks for it with Accept.
	NDJSON = "application/x-ndjson"
	// SSE: the event stream as server-sent events (for a browser's
	// EventSource).
	SSE = "text/event-stream"
)

// Envelope is every answer of the API but the event stream: the result of
// the call, or an error, or both (a call that did part of its work), and
// notes: what the person should know that did not stop the call.
type Envelope struct {
	Result any     `json:"result,omitempty"`
	Error  *Error  `json:"error,omitempty"`
	Notes  []*Note `json:"notes,omitempty"`
}

// Frame is one line of an NDJSON answer: a progress report, a note, or,
// last, Done with the envelope's fields.
type Frame struct {
	Progress *Progress `json:"progress,omitempty"`
	Note     *Note     `json:"note,omitempty"`
	Done     bool      `json:"done,omitempty"`
	Result   any       `json:"result,omitempty"`
	Error    *Error    `json:"error,omitempty"`
}

// Note is something a person should know that did not stop a call: a
// warning (a message still queued, a contact whose keys changed, the
// backup not updated), or, Code "offline", what did not answer.
type Note struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
	Detail  string `json:"detail,omitempty"`
	// Context says what the note is about ("backup not updated").
	Context string `json:"context,omitempty"`
	// After: shown once the call succeeded, after its output (offline,
	// restored_elsewhere); else as it happens.
	After bool `json:"after,omitempty"`
}

// Progress reports how far a long call is.
type Progress struct {
	// Stage names the step: "chain_wait", "preorder", "preorder_committed",
	// "resume", "register" (register); "send", "receive" (files, with Done
	// and Total in bytes); "copy" (name hubs, objects).
	Stage  string `json:"stage"`
	Name   string `json:"name,omitempty"`
	Height int64  `json:"height,omitempty"`
	Done   int64  `json:"done,omitempty"`
	Total  int64  `json:"total,omitempty"`
}

// Modes of an agent (AgentInfo.Mode).
const (
	// ModeCommand: in-process for one command, no socket, no duties.
	ModeCommand = "command"
	// ModeDaemon: the home's socket and the duties.
	ModeDaemon = "daemon"
)

// MaxTextBytes bounds the text of a message or an edit (the client's
// bound, client.MaxTextBytes): the agent refuses a longer one.
// A front-end bounds what it reads for one by it.
const MaxTextBytes = 64 << 10

// AgentInfo is GET /v1/agent: what serves this home.
type AgentInfo struct {
	API     string    `json:"api"`     // "v1"
	Version string    `json:"version"` // the build
	PID     int       `json:"pid"`
	Home    string    `json:"home"`
	Name    string    `json:"name,omitempty"` // the registered name, once there is one
	Mode    string    `json:"mode"`           // "daemon" (a socket; duties running) or "command" (in-process, one command)
	Locked  bool      `json:"locked"`         // the keys are not unlocked yet
	Started time.Time `json:"started"`
	// Identity: the home holds an identity (else init or restore first).
	Identity bool `json:"identity"`
	// Linking is the link code of this device's offer (POST /v1/link)
	// while no name took it in: the front-end goes on waiting for it
	// (link/wait) instead of asking for a name to register.
	Linking string `json:"linking,omitempty"`
	// Cursor is the event stream's position now: GET /v1/events?after=
	// Cursor misses nothing that happens from here on.
	Cursor string `json:"cursor"`
}

// UnlockRequest is POST /v1/unlock: the keystore's passphrase. It goes in,
// never out.
type UnlockRequest struct {
	Passphrase string `json:"passphrase"`
}

// ChainConfig says where the chain is and which header to trust: init and
// restore.
type ChainConfig struct {
	Node      string   `json:"node"`
	Witnesses []string `json:"witnesses,omitempty"`
	// TrustHeight and TrustHash pin the trust root; zero: the node's
	// latest header, returned for the person to check.
	TrustHeight int64  `json:"trust_height,omitempty"`
	TrustHash   string `json:"trust_hash,omitempty"`
}

// InitRequest is POST /v1/init: create the identity in an empty home.
type InitRequest struct {
	ChainConfig
	Passphrase string `json:"passphrase"`
	// RecoveryPhrase is the phrase the owner key is made from (BIP-39
	// words, as a person typed them or canonical; docs/devices.md): a
	// front-end draws it, shows it once and has it confirmed before it
	// calls init. Empty: the agent draws one and returns it in the
	// result, for the front-end to show once.
	RecoveryPhrase string `json:"recovery_phrase,omitempty"`
}

// InitResult is what init made.
type InitResult struct {
	Home        string `json:"home"`
	OwnerKey    string `json:"owner_key"`
	ChainID     string `json:"chain_id"`
	TrustHeight int64  `json:"trust_height"`
	TrustHash   string `json:"trust_hash"`
	// RecoveryPhrase is the phrase the agent drew, when the request gave
	// none; never stored, never returned again.
	RecoveryPhrase string `json:"recovery_phrase,omitempty"`
}

// RecoverRequest is POST /v1/recover (progress: chain_wait): take NAME
// back into an empty home with its recovery phrase alone: new keys for
// this device, published by the owner key, every other device retired.
type RecoverRequest struct {
	ChainConfig
	Name           string   `json:"name"`
	RecoveryPhrase string   `json:"recovery_phrase"` // as typed: the agent normalizes it (code bad_phrase)
	Passphrase     string   `json:"passphrase"`      // the new one of this device
	Hubs           []string `json:"hubs,omitempty"`  // the hubs to publish (default: the record's)
	// BackupPassphrase, when given, takes contacts, groups, settings and
	// history from the name's backup (read before the new keys are
	// published; code no_backup if there is none), and keeps backup on
	// under it with the new keys.
	BackupPassphrase string `json:"backup_passphrase,omitempty"`
}

// RecoverResult says what was published.
type RecoverResult struct {
	Name     string   `json:"name"`
	Height   int64    `json:"height"` // where the new keys took effect
	Hubs     []string `json:"hubs"`
	Contacts int      `json:"contacts"` // taken from the backup
	Messages int      `json:"messages"`
	// RenewedAt is the height the name was renewed at first, when it had
	// expired (in its grace period); 0 if it had not.
	RenewedAt int64 `json:"renewed_at,omitempty"`
	// OwnerKeyDropped: as RegisterResult's.
	OwnerKeyDropped bool `json:"owner_key_dropped,omitempty"`
}

// RestoreRequest is POST /v1/restore: the identity, contacts and history
// from the backup on NAME's hubs, into an empty home.
type RestoreRequest struct {
	ChainConfig
	Name             string `json:"name"`
	BackupPassphrase string `json:"backup_passphrase"`
	Passphrase       string `json:"passphrase"` // the new one of this device
}

// RestoreResult says what came back.
type RestoreResult struct {
	Name     string `json:"name"`
	Contacts int    `json:"contacts"`
	Messages int    `json:"messages"`
}

// RegisterRequest is POST /v1/register (progress: chain_wait, preorder,
// preorder_committed, resume, register).
type RegisterRequest struct {
	Name  string   `json:"name"`
	Hubs  []string `json:"hubs"`
	Force bool     `json:"force,omitempty"` // register hubs that do not answer now
	// RecoveryPhrase gives the owner key when this device no longer holds
	// it (a second name from a home whose first was registered:
	// phrase_needed without it).
	RecoveryPhrase string `json:"recovery_phrase,omitempty"`
}

// RegisterResult is the registered name.
type RegisterResult struct {
	Name   string   `json:"name"`
	Height int64    `json:"height"`
	Hubs   []string `json:"hubs"`
	// OwnerKeyDropped: the owner key left this device's keystore (the
	// recovery phrase alone holds it now); false on a chain without
	// application protocol 3, where the device keeps it.
	OwnerKeyDropped bool `json:"owner_key_dropped,omitempty"`
}

// PassphraseRequest is POST /v1/passphrase: the keystore sealed again
// under New, once Current opens it.
type PassphraseRequest struct {
	Current string `json:"current"`
	New     string `json:"new"`
}

// Record is a name's verified record (public keys only).
type Record struct {
	Name       string   `json:"name"`
	Owner      string   `json:"owner"`
	SigningKey string   `json:"signing_key,omitempty"`
	EncKeys    []EncKey `json:"enc_keys,omitempty"`
	Hubs       []string `json:"hubs,omitempty"`
	ExpiresAt  int64    `json:"expires_at"`
	UpdatedAt  int64    `json:"updated_at"`
	Revoked    bool     `json:"revoked,omitempty"`
	Seq        uint64   `json:"seq"`
	// Devices are the name's devices, the first (the profile's keys,
	// label "first") then the others in the order they were added.
	Devices []Device `json:"devices,omitempty"`
}

// Device is one device of a name, as its verified record lists it.
type Device struct {
	Label      string `json:"label"`
	SigningKey string `json:"signing_key"`        // ed25519:…
	AddedAt    int64  `json:"added_at,omitempty"` // the height it was added at (0: the first device)
	This       bool   `json:"this,omitempty"`     // the device the agent runs on
	// AddedBy is the label of the device that added it, or "the owner
	// key" (from the verified history; GET /v1/devices and status only).
	AddedBy string `json:"added_by,omitempty"`
	// New: another device (or the owner key) added it after this device
	// joined, and this device has not shown it yet (GET /v1/devices
	// shows it, and from then on it is not new; status does not).
	New bool `json:"new,omitempty"`
}

// HubsMove is a change of the name's hubs another device made.
type HubsMove struct {
	Hubs   []string `json:"hubs"`
	Height int64    `json:"height"`
	By     string   `json:"by"` // the label of the device that signed it
}

// HubsSeenRequest is POST /v1/hubs/seen: the front-end showed the person
// the hubs move at Height (status's hubs_moved); it is shown no more.
type HubsSeenRequest struct {
	Height int64 `json:"height"`
}

// DevicesSeenRequest is POST /v1/devices/seen: the front-end showed the
// person these devices (by signing key) and their warnings; they are
// new no more.
type DevicesSeenRequest struct {
	SigningKeys []string `json:"signing_keys"`
}

// Devices is GET /v1/devices: the user's name's devices, verified.
type Devices struct {
	Name    string   `json:"name"`
	Height  int64    `json:"height"` // the verified height of the answer
	Devices []Device `json:"devices"`
}

// DeviceRemoveRequest is POST /v1/devices/remove: retire the device
// labelled Label (a device-remove on the chain, signed by this device,
// or by the owner key for the first device).
type DeviceRemoveRequest struct {
	Label string `json:"label"`
}

// DeviceChange is what a device-add or device-remove did.
type DeviceChange struct {
	Name       string `json:"name"`
	Label      string `json:"label"`
	SigningKey string `json:"signing_key"`
	Height     int64  `json:"height"` // where it took effect
}

// LinkCodeRequest is POST /v1/devices/offer (what a link code offers)
// and POST /v1/devices/add (add it: History sends the history in the
// welcome too).
type LinkCodeRequest struct {
	Code    string `json:"code"` // as typed: any case, dashes or not
	History bool   `json:"history,omitempty"`
}

// DeviceOffer is a link offer as the chain proves it.
type DeviceOffer struct {
	Code       string `json:"code"` // canonical form
	Label      string `json:"label"`
	SigningKey string `json:"signing_key"`
	Height     int64  `json:"height"`             // the block that holds the offer
	TakenBy    string `json:"taken_by,omitempty"` // the name that added it, if one did
	For        string `json:"for,omitempty"`      // the only name that may add it, if the offer is bound
}

// LinkRequest is POST /v1/link: in an empty home, make this device's
// keys (under Passphrase) and offer them to join a name (progress:
// chain_wait).
type LinkRequest struct {
	ChainConfig
	Label      string `json:"label"`
	Passphrase string `json:"passphrase"`
	// Name, if set, is the name the device is to join: the offer is bound
	// to it on the chain (no other name can take it).
	Name string `json:"name,omitempty"`
}

// LinkAcceptRequest is POST /v1/link/wait (wait until a name takes the
// offer of Code, or the call's deadline) and POST /v1/link/accept
// (become a device of Name, which took it: read and check the welcome).
type LinkAcceptRequest struct {
	Code string `json:"code"`
	Name string `json:"name,omitempty"`
}

// Linked is what POST /v1/link/accept did.
type Linked struct {
	Name     string `json:"name"`
	Label    string `json:"label"`
	Approver string `json:"approver"` // the label of the device that approved
	Contacts int    `json:"contacts"`
	Messages int    `json:"messages"`
	Groups   int    `json:"groups"`
}

// EncKey is a public encryption key of a record.
type EncKey struct {
	KEM string `json:"kem"` // "X25519", "MLKEM768-X25519"
	Key string `json:"key"` // hex
}

// HistoryEntry is one change of a name's record.
type HistoryEntry struct {
	Seq    uint64 `json:"seq"`
	Height int64  `json:"height"`
	Op     string `json:"op"`
	// Note says what the entry changed from the one before: "new owner
	// ed25519:…", "new keys: signing key ed25519:…" (a recovery, or an
	// owner key in other hands), "new encryption keys", "hubs: URL…".
	Note string `json:"note,omitempty"`
}

// Whois is GET /v1/names/{name}: the record, verified by proof, its key
// history, and the safety number of the user and it (when the agent holds
// the user's keys).
type Whois struct {
	Record  Record         `json:"record"`
	History []HistoryEntry `json:"history"`
	Safety  string         `json:"safety,omitempty"`
	// Cached: the chain did not answer; this is the record as verified at
	// VerifiedAt and Height (the records the agent verified, kept sealed
	// in the home), or, VerifiedAt zero, a contact's record as the device
	// holds it (as last checked).
	Cached     bool      `json:"cached,omitempty"`
	VerifiedAt time.Time `json:"verified_at,omitzero"`
	// Height is that of the chain's state the record and history were
	// proved against.
	Height int64 `json:"height,omitempty"`
}

// KeyChange says that a contact's record no longer holds the keys the
// user confirmed: the conversation is closed until confirmed.
type KeyChange struct {
	Name    string `json:"name"`
	Reason  string `json:"reason"` // the chain's op: update, transfer, revoke, displace, register
	Height  int64  `json:"height"`
	Safety  string `json:"safety,omitempty"` // of the user and the new keys ("" if revoked)
	Revoked bool   `json:"revoked,omitempty"`
	// Free: the name expired and its grace period is over; anyone may
	// register it. Nothing to confirm: the conversation goes on if its
	// holder registers it again with the same keys.
	Free      bool  `json:"free,omitempty"`
	ExpiredAt int64 `json:"expired_at,omitempty"` // the height the name expired at (Free)
	// Message says it in a sentence; Hint what to do.
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// Queued says why something waits on this device, and what sends it.
type Queued struct {
	To      string   `json:"to,omitempty"`
	Request bool     `json:"request,omitempty"` // the contact request has reached none of To's hubs
	Intro   bool     `json:"intro,omitempty"`   // the introduction is on none of the user's hubs
	Hubs    []string `json:"hubs,omitempty"`
	// Why says it in a sentence, with what happens next.
	Why string `json:"why"`
	// Detail is what the hubs answered, as the agent's Go code saw it
	// (for --verbose).
	Detail string `json:"detail,omitempty"`
}

// Contact is one line of GET /v1/contacts.
type Contact struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name,omitempty"`
	// Keys: "confirmed" (as confirmed, checked now), "changed", "revoked",
	// "free" (the name expired and anyone may register it), "unchecked"
	// (the chain does not answer), "error" (CheckError says).
	Keys string `json:"keys"`
	// GraceUntil: the name expired and only its holder may renew it,
	// until this height; messages still go to it until then.
	GraceUntil int64      `json:"grace_until,omitempty"`
	KeyChange  *KeyChange `json:"key_change,omitempty"`
	CheckError *Error     `json:"check_error,omitempty"`
	// Asking: the user asked them and they have not answered: "queued"
	// (no hub of theirs took the request yet), "sent", "introduced".
	Asking   string `json:"asking,omitempty"`
	Verified bool   `json:"verified,omitempty"`
	Unread   int    `json:"unread,omitempty"`
	Blocked  bool   `json:"blocked,omitempty"`
}

// Contacts is GET /v1/contacts.
type Contacts struct {
	Contacts []Contact `json:"contacts"`
}

// AddContactRequest is POST /v1/contacts.
type AddContactRequest struct {
	Name     string `json:"name"`
	Greeting string `json:"greeting"`
	Known    bool   `json:"known,omitempty"` // introduce directly, without the inbox
}

// AddContactResult says what became of the request: Outcome "sent"
// (sealed to their verified key, in their inbox), "introduced" (--known:
// a contact now), "intro_pending" (waiting for their introduction),
// "intro_queued", "request_queued", "greeting_queued" (Queued says why).
// On a device linked to the name, a request is signed by that device.
type AddContactResult struct {
	Outcome string  `json:"outcome"`
	Queued  *Queued `json:"queued,omitempty"`
}

// GreetingRequest is the first message of a new request (reset).
type GreetingRequest struct {
	Greeting string `json:"greeting"`
}

// ConfirmResult is POST /v1/contacts/{name}/confirm: Unchanged (the keys
// are the confirmed ones: nothing done), or the new keys' safety number
// and a new request sent.
type ConfirmResult struct {
	Unchanged bool   `json:"unchanged,omitempty"`
	Safety    string `json:"safety,omitempty"`
}

// Safety is GET /v1/contacts/{name}/safety: the safety number of the user
// and the contact's confirmed keys.
type Safety struct {
	Name   string `json:"name"`
	Me     string `json:"me"`
	Safety string `json:"safety"`
}

// VerifyRequest is POST /v1/contacts/{name}/verify.
type VerifyRequest struct {
	Number string `json:"number"`
}

// Profile is a display name, status and avatar.
type Profile struct {
	DisplayName string `json:"display_name,omitempty"`
	Status      string `json:"status,omitempty"`
	Avatar      []byte `json:"avatar,omitempty"` // a PNG, JPEG or GIF image (base64 in JSON)
}

// ProfileUpdate is PUT /v1/profile: the fields given change.
type ProfileUpdate struct {
	DisplayName *string `json:"display_name,omitempty"`
	Status      *string `json:"status,omitempty"`
	Avatar      []byte  `json:"avatar,omitempty"`
}

// Request is a contact request waiting in the user's inbox, its sender
// verified against the chain.
type Request struct {
	ID       string    `json:"id"`
	From     string    `json:"from"`
	Device   string    `json:"device,omitempty"` // the label of the sender's device that wrote it, if not their first
	Greeting string    `json:"greeting,omitempty"`
	Time     time.Time `json:"time,omitzero"`
}

// Requests is GET /v1/requests: the requests, and envelopes that did not
// open: Waiting (the sender's name is not on the chain yet: kept and
// checked again) and Refused (why; Junk if it can never open: clear
// removes them).
type Requests struct {
	Requests []Request      `json:"requests"`
	Waiting  []string       `json:"waiting,omitempty"`
	Refused  []RefusedEntry `json:"refused,omitempty"`
}

// RefusedEntry is an inbox envelope that does not open.
type RefusedEntry struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
	Junk   bool   `json:"junk,omitempty"`
}

// Cleared is POST /v1/requests/clear: what was removed.
type Cleared struct {
	Removed []Junk `json:"removed"`
}

// Junk is an envelope removed from an inbox.
type Junk struct {
	ID     string `json:"id"`
	Hub    string `json:"hub"`
	Reason string `json:"reason"`
}

// Ref is a message's ID: its author and sequence number.
type Ref struct {
	By  string `json:"by"`
	Seq uint64 `json:"seq"`
}

// File is a file a message shares (never its key).
type File struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// Message is an entry of a conversation, or an event as it arrived.
type Message struct {
	Conversation string    `json:"conversation"` // the contact's name, or "#" and the group's ID
	ID           Ref       `json:"id"`
	Label        string    `json:"label,omitempty"` // how people refer to it ("alice/3"); "" for what nothing refers to
	From         string    `json:"from"`
	To           string    `json:"to"`
	Time         time.Time `json:"time,omitzero"` // the sender's clock
	// Kind: text, react, edit, delete, timer, profile, group, notice (a
	// group's notice: nobody's words), unsupported (from a newer
	// version), or a live kind (request, receipt, expired).
	Kind      string            `json:"kind"`
	Text      string            `json:"text,omitempty"`
	Ref       *Ref              `json:"ref,omitempty"`       // what it replies, reacts to, edits or deletes
	RefLabel  string            `json:"ref_label,omitempty"` // that message's label, if this device holds it
	Emoji     string            `json:"emoji,omitempty"`
	File      *File             `json:"file,omitempty"`
	TTL       int64             `json:"ttl,omitempty"` // timer: seconds (0 off)
	Expires   time.Time         `json:"expires,omitzero"`
	Edited    bool              `json:"edited,omitempty"`
	Deleted   bool              `json:"deleted,omitempty"`
	Reactions map[string]string `json:"reactions,omitempty"` // by name
	Earlier   bool              `json:"earlier,omitempty"`   // from before the conversation started over
	// State of the user's own messages: queued, sent, delivered, read, or
	// in a group "delivered to 2, read by 1 of 3".
	State string `json:"state,omitempty"`
}

// Conversation is GET /v1/conversations/{conv}/messages.
type Conversation struct {
	Conversation string    `json:"conversation"`
	Label        string    `json:"label"` // the contact's name, or "the group NAME"
	Messages     []Message `json:"messages"`
}

// History is GET /v1/history: every conversation's messages, in the order
// this device took them.
type History struct {
	Messages []Message `json:"messages"`
}

// SendRequest is POST /v1/conversations/{conv}/messages.
type SendRequest struct {
	Text  string `json:"text"`
	Reply string `json:"reply,omitempty"` // the label of the message it answers (NAME/N)
}

// Sent is what became of a message: on the user's hubs, or Queued.
type Sent struct {
	Message Message `json:"message"`
	Queued  *Queued `json:"queued,omitempty"`
}

// ReactRequest is POST /v1/conversations/{conv}/react ("" takes the
// reaction back).
type ReactRequest struct {
	Ref   string `json:"ref"`
	Emoji string `json:"emoji"`
}

// EditRequest is POST /v1/conversations/{conv}/edit.
type EditRequest struct {
	Ref  string `json:"ref"`
	Text string `json:"text"`
}

// DeleteRequest is POST /v1/conversations/{conv}/delete.
type DeleteRequest struct {
	Ref string `json:"ref"`
}

// TimerRequest is PUT /v1/conversations/{conv}/timer: seconds, 0 off.
type TimerRequest struct {
	Seconds int64 `json:"seconds"`
}

// TimerResult names the conversation as a person knows it.
type TimerResult struct {
	Label   string `json:"label"`
	Seconds int64  `json:"seconds"`
}

// SendFileRequest is POST /v1/conversations/{conv}/files: the file at
// Path (absolute; the agent reads it) with a caption. Progress: "send".
type SendFileRequest struct {
	Path    string `json:"path"`
	Caption string `json:"caption,omitempty"`
}

// GetFileRequest is POST /v1/conversations/{conv}/files/get: the file of
// message Ref saved at Dest (an absolute path where no file is yet), or,
// without Dest, under its own name in the directory Dir (absolute).
// Neither may be in the home. Progress: "receive".
type GetFileRequest struct {
	Ref  string `json:"ref"`
	Dest string `json:"dest,omitempty"`
	Dir  string `json:"dir,omitempty"`
}

// Saved is where a file was saved.
type Saved struct {
	Path string `json:"path"`
}

// Group is a group as the user knows it (never its keys).
type Group struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Creator string   `json:"creator"`
	Members []string `json:"members"`
	Gone    bool     `json:"gone,omitempty"`   // the user left or was removed
	Unread  int      `json:"unread,omitempty"` // messages not read on any of the user's devices
}

// Groups is GET /v1/groups.
type Groups struct {
	Groups []Group `json:"groups"`
}

// GroupDetail is GET /v1/groups/{group}: the group brought up to date,
// and the members whose keys changed (they get nothing until confirmed).
type GroupDetail struct {
	Group      Group       `json:"group"`
	KeyChanges []KeyChange `json:"key_changes,omitempty"`
}

// CreateGroupRequest is POST /v1/groups.
type CreateGroupRequest struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// NameRequest names a member or a new group name (invite, remove,
// hand-over, rename); also block.
type NameRequest struct {
	Name string `json:"name"`
}

// Created is a new group's ID.
type Created struct {
	ID string `json:"id"`
}

// SearchResult is GET /v1/search?q=WORDS[&in=CONV].
type SearchResult struct {
	Messages []Message `json:"messages"`
}

// Settings is GET /v1/settings.
type Settings struct {
	ReadReceipts  bool     `json:"read_receipts"`
	Notifications bool     `json:"notifications"`
	Blocked       []string `json:"blocked"`
	Node          string   `json:"node"`
	Witnesses     []string `json:"witnesses"`
}

// OnOff is a setting's new value.
type OnOff struct {
	On bool `json:"on"`
}

// NodeRequest is PUT /v1/settings/node.
type NodeRequest struct {
	Node      string   `json:"node"`
	Witnesses []string `json:"witnesses,omitempty"`
}

// NodeResult is the node now asked.
type NodeResult struct {
	Node      string `json:"node"`
	Witnesses int    `json:"witnesses"`
	ChainID   string `json:"chain_id"`
}

// TrustRequest is PUT /v1/settings/trust.
type TrustRequest struct {
	Height int64  `json:"height"`
	Hash   string `json:"hash"`
}

// TrustResult is the new trust root.
type TrustResult struct {
	Height         int64  `json:"height"`
	Hash           string `json:"hash"`
	VerifiedHeight int64  `json:"verified_height"`
}

// BackupRequest is PUT /v1/backup: on (with a passphrase) or off.
type BackupRequest struct {
	On         bool   `json:"on"`
	Passphrase string `json:"passphrase,omitempty"`
}

// NameInfo is GET /v1/name: the user's own record.
type NameInfo struct {
	Name      string   `json:"name"`
	Hubs      []string `json:"hubs"`
	ExpiresAt int64    `json:"expires_at"`
	Height    int64    `json:"height"` // the verified height now
	Live      bool     `json:"live"`
	// Expiry says where the name stands, in words (EXPIRED, grace...).
	Expiry string `json:"expiry"`
}

// Renewed is POST /v1/name/renew.
type Renewed struct {
	Name      string `json:"name"`
	Height    int64  `json:"height"`
	ExpiresAt int64  `json:"expires_at"`
}

// HubsRequest is PUT /v1/name/hubs.
type HubsRequest struct {
	Hubs     []string `json:"hubs"`
	EmptyOld bool     `json:"empty_old,omitempty"`
}

// HubsResult is what moving to new hubs did.
type HubsResult struct {
	Copies  []HubCopy   `json:"copies,omitempty"`
	Height  int64       `json:"height,omitempty"` // of the record's update; 0: not published
	Hubs    []string    `json:"hubs"`
	Moved   []InboxMove `json:"moved,omitempty"`
	Emptied []Emptied   `json:"emptied,omitempty"`
}

// HubCopy is one new hub's copy.
type HubCopy struct {
	Hub         string   `json:"hub"`
	Copied      int      `json:"copied"`
	Had         int      `json:"had"`
	Republished int      `json:"republished"`
	Down        []*Error `json:"down,omitempty"`
	Lost        []string `json:"lost,omitempty"`
}

// InboxMove is the requests moved from a hub the user left.
type InboxMove struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Moved int    `json:"moved"`
	Junk  int    `json:"junk"`
	Error *Error `json:"error,omitempty"`
}

// Emptied is a hub the user left, emptied.
type Emptied struct {
	Hub     string `json:"hub"`
	Deleted int    `json:"deleted"`
	Error   *Error `json:"error,omitempty"`
}

// RevokeRequest is POST /v1/name/revoke: Confirm repeats the name;
// RecoveryPhrase gives the owner key when this device does not hold it
// (none does once the name is registered: phrase_needed without it).
type RevokeRequest struct {
	Confirm        string `json:"confirm"`
	RecoveryPhrase string `json:"recovery_phrase,omitempty"`
}

// ForgetOwnerRequest is POST /v1/name/forget-owner: the owner key leaves
// this device's keystore once RecoveryPhrase proves the person holds it
// elsewhere (a home made before keystore v2). The answer is
// ForgetOwnerResult.
type ForgetOwnerRequest struct {
	RecoveryPhrase string `json:"recovery_phrase"`
}

// ForgetOwnerResult says whether the keystore held the owner key.
type ForgetOwnerResult struct {
	Forgotten bool `json:"forgotten"` // false: it held none already
}

// TransferRequest is POST /v1/name/transfer: the name goes to NewOwner
// (an owner key, "ed25519:" and 64 hex digits; the new holder takes it
// with 'parley recover' and their own phrase). Confirm repeats the name;
// RecoveryPhrase as in RevokeRequest.
type TransferRequest struct {
	Confirm        string `json:"confirm"`
	NewOwner       string `json:"new_owner"`
	RecoveryPhrase string `json:"recovery_phrase,omitempty"`
}

// Height is a transaction's height.
type Height struct {
	Height int64 `json:"height"`
}

// Status is GET /v1/status.
type Status struct {
	Chain     ChainStatus `json:"chain"`
	Name      string      `json:"name"`
	NameState string      `json:"name_state,omitempty"` // expiry, in words
	NameError *Error      `json:"name_error,omitempty"`
	Keys      string      `json:"keys"` // "ok", "not_mine", "unchecked"
	KeysError *Error      `json:"keys_error,omitempty"`
	// NewDevices are the devices another device (or the owner key)
	// added to the name since this device joined, not yet shown by GET
	// /v1/devices: a stolen device adding the thief's shows here.
	NewDevices []Device `json:"new_devices,omitempty"`
	// HubsMoved is the latest change of the name's hubs when another of
	// the user's devices made it after this device joined and no
	// front-end has shown it yet (POST /v1/hubs/seen): a stolen device
	// moving the name to its own hub shows here.
	HubsMoved *HubsMove `json:"hubs_moved,omitempty"`
	// OwnerKeyHere: this device's keystore holds the owner key (a home
	// made before keystore v2, or on a chain without application
	// protocol 3).
	OwnerKeyHere bool        `json:"owner_key_here,omitempty"`
	Hubs         []HubStatus `json:"hubs"`
	Deletions    int         `json:"deletions,omitempty"`
	// Requests counts contact requests queued on this device: none of
	// the contact's hubs took them yet (they go out with the next flush).
	Requests     int  `json:"requests_queued,omitempty"`
	Contacts     int  `json:"contacts"`
	Blocked      int  `json:"blocked"`
	Groups       int  `json:"groups"`
	Backup       bool `json:"backup"`
	ReadReceipts bool `json:"read_receipts"`
}

// ChainStatus is the chain as the light client sees it.
type ChainStatus struct {
	ID        string    `json:"id"`
	Node      string    `json:"node"`
	Witnesses int       `json:"witnesses"`
	Height    int64     `json:"height,omitempty"`
	Time      time.Time `json:"time,omitzero"`
	Hash      string    `json:"hash,omitempty"`
	Error     *Error    `json:"error,omitempty"` // unreachable, or another failure
}

// HubStatus is one of the user's hubs.
type HubStatus struct {
	URL       string  `json:"url"`
	LatencyMS float64 `json:"latency_ms,omitempty"`
	Error     *Error  `json:"error,omitempty"`
	Waiting   int     `json:"waiting,omitempty"` // messages it does not have yet
}

// Event is one entry of the event stream, GET /v1/events[?after=CURSOR].
type Event struct {
	// Cursor resumes the stream after this event.
	Cursor string    `json:"cursor"`
	Type   string    `json:"type"`
	Time   time.Time `json:"time"` // when the agent saw it
	// message: Message; request: Request; receipt: Conversation (their
	// receipt changed); key_change: KeyChange; expired: disappearing
	// messages were removed; hub: Hub and Up (Error says why down);
	// chain: Up; warning: Error; locked/unlocked; reset: events were
	// missed (the cursor is older than the agent keeps, or of another
	// run): read the state again.
	Message      *Message   `json:"message,omitempty"`
	Request      *Request   `json:"request,omitempty"`
	Conversation string     `json:"conversation,omitempty"`
	KeyChange    *KeyChange `json:"key_change,omitempty"`
	Hub          string     `json:"hub,omitempty"`
	Up           *bool      `json:"up,omitempty"`
	Error        *Error     `json:"error,omitempty"`
}

// Event types.
const (
	EventMessage   = "message"
	EventRequest   = "request"
	EventReceipt   = "receipt"
	EventKeyChange = "key_change"
	EventExpired   = "expired"
	EventHub       = "hub"
	EventChain     = "chain"
	EventWarning   = "warning"
	EventLocked    = "locked"
	EventUnlocked  = "unlocked"
	EventReset     = "reset"
	EventStarted   = "started" // the agent started (the first event of a run)
	EventPing      = "ping"
)

// EventTypes are every event type of this version of the API.
func EventTypes() []string {
	return []string{EventMessage, EventRequest, EventReceipt, EventKeyChange, EventExpired, EventHub, EventChain,
		EventWarning, EventLocked, EventUnlocked, EventReset, EventStarted, EventPing}
}

// Kinds of Message (the same strings as package client's and wire's).
const (
	KindText        = "text"
	KindReact       = "react"
	KindEdit        = "edit"
	KindDelete      = "delete"
	KindTimer       = "timer"
	KindProfile     = "profile"
	KindGroup       = "group"
	KindNotice      = "notice"      // a group's notice: nobody's words
	KindUnsupported = "unsupported" // an authentic message of a newer version
)
