// Package hubapi is the hub's HTTP wire, in one place for both sides: the
// JSON of its answers and its error classes. The server (hub/server)
// answers with them and the client (client/hubclient) reads them, so each
// class of error a hub answers arrives at the client as its own sentinel
// of package hub (a full inbox is not a rate limit, a bad stamp is not a
// bad path). It does no I/O.
package hubapi

import (
	"errors"
	"fmt"

	"github.com/parley-im/parley/hub"
)

// Class is one kind of error answer: its name in the JSON answer's
// "error" field ({"message", "error"}, as Gaia answers), its HTTP status,
// and the sentinel it stands for.
type Class struct {
	Name   string
	Status int
	Err    error
}

// Classes lists every error class, Gaia's first; they are
// docs/protocol.md's Errors table (internal/speckit's
// TestSpecErrorClasses). Order matters
// where one sentinel wraps another: ErrRevoked comes before
// ErrUnauthorized.
var Classes = []Class{
	{"AuthTokenTimestampValidationError", 401, hub.ErrRevoked},
	{"ValidationError", 401, hub.ErrUnauthorized},
	{"NotEnoughProofError", 402, hub.ErrNotEnoughProof},
	{"BadPathError", 403, hub.ErrInvalid},
	{"DoesNotExist", 404, hub.ErrNotFound},
	{"PreconditionFailedError", 412, hub.ErrPrecondition},
	{"PayloadTooLargeError", 413, hub.ErrTooLarge},
	{"BadRequestError", 400, hub.ErrBadRequest},
	{"BadStampError", 403, hub.ErrBadStamp},
	{"RequestTimeoutError", 408, hub.ErrTimeout},
	{"StampUsedError", 409, hub.ErrStampUsed},
	{"RateLimitError", 429, hub.ErrRateLimited},
	{"InboxFullError", 429, hub.ErrInboxFull},
	{"ServerBusyError", 503, hub.ErrBusy},
	{"QuotaExceededError", 507, hub.ErrQuota},
}

// ClassOf returns the class of err: the first whose sentinel err wraps.
func ClassOf(err error) (Class, bool) {
	for _, c := range Classes {
		if errors.Is(err, c.Err) {
			return c, true
		}
	}
	return Class{}, false
}

// ErrorOf is the error a client returns for an error answer: the class
// the answer names (if the status is that class's), else the first class
// of that status (a Gaia hub names none for some answers), wrapping its
// sentinel with the hub's message; an answer of no known status is an
// error of its own (*StatusError).
func ErrorOf(status int, name, message string) error {
	var byStatus *Class
	for i, c := range Classes {
		if c.Status != status {
			continue
		}
		if c.Name == name {
			return fmt.Errorf("%w: %s", c.Err, message)
		}
		if byStatus == nil {
			byStatus = &Classes[i]
		}
	}
	if byStatus != nil {
		return fmt.Errorf("%w: %s", byStatus.Err, message)
	}
	return &StatusError{Status: status, Message: message}
}

// StatusError is an error answer of a status no class has.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string { return fmt.Sprintf("hub answered %d: %s", e.Status, e.Message) }

// ErrorBody is the JSON of an error answer.
type ErrorBody struct {
	Message string `json:"message"`
	Error   string `json:"error,omitempty"`
}

// Info is the answer of GET /hub_info.
type Info struct {
	Challenge     string     `json:"challenge_text"`
	AuthVersion   string     `json:"latest_auth_version"`
	MaxUploadMiB  float64    `json:"max_file_upload_size_megabytes"`
	ReadURLPrefix string     `json:"read_url_prefix"`
	Parley        ParleyInfo `json:"parley"`
}

// ParleyInfo is what hub_info says beyond Gaia.
type ParleyInfo struct {
	NativeAuth      string `json:"native_auth"`
	InboxPow        int    `json:"inbox_pow_difficulty"`
	InboxStamp      string `json:"inbox_stamp"`
	InboxWindow     int    `json:"inbox_stamp_window"`
	InboxMaxBytes   int64  `json:"inbox_max_envelope_bytes"`
	InboxMaxEntries int    `json:"inbox_max_entries"`
	WatchURL        string `json:"watch_url"`
	Expiry          bool   `json:"expiry"`
}

// StoreAnswer is the answer of a write (202).
type StoreAnswer struct {
	PublicURL string `json:"publicURL"`
	ETag      string `json:"etag"`
}

// ListEntry is one entry of a list-files answer with "stat": true.
type ListEntry struct {
	Name          string `json:"name"`
	ETag          string `json:"etag"`
	ContentLength int64  `json:"contentLength"`
	ContentType   string `json:"contentType"`
	LastModified  int64  `json:"lastModifiedDate"`
	Exists        bool   `json:"exists,omitempty"`
	Expires       int64  `json:"expires,omitempty"`
}

// InboxEntry is one envelope of GET /inbox/:address.
type InboxEntry struct {
	ID       string `json:"id"`
	Size     int64  `json:"size"`
	Received int64  `json:"received"`
}

// Event is one change of a watch stream ("change" events' data).
type Event struct {
	Seq     uint64 `json:"seq"`
	Address string `json:"address"`
	Path    string `json:"path"`
	ETag    string `json:"etag,omitempty"`
	Op      string `json:"op"` // "put" or "delete"
}

// ExpiresHeader carries an object's expiry: on a write, when the object
// is to go (decimal Unix seconds); on a read, when it will.
const ExpiresHeader = "X-Parley-Expires"
