package api

import (
	"errors"
	"net/http"
)

// Code is an error's kind on the wire: stable, lowercase, append-only.
// Front-ends decide what to do by the code; Message and Hint are the
// agent's words for a person (the CLI prints them as they are).
type Code string

// The codes. A front-end that meets a code it does not know treats it as
// CodeInternal.
const (
	// The call itself.
	CodeUsage      Code = "usage"       // the request is not one the agent takes (a bad name, reference, duration, flag)
	CodeBadRequest Code = "bad_request" // the body is not the JSON the call takes
	CodeTooLarge   Code = "too_large"   // the body is larger than the call takes
	CodeNoRoute    Code = "no_route"    // no such call (or method) in this version of the API
	CodeForbidden  Code = "forbidden"   // the caller may not use this agent
	CodeCanceled   Code = "canceled"    // the caller went away or the agent is stopping
	CodeInternal   Code = "internal"    // anything else

	// The home and its keys.
	CodeNoIdentity        Code = "no_identity"    // the home holds no identity yet: init or restore first
	CodeNoName            Code = "no_name"        // no name registered yet: register first
	CodeExists            Code = "exists"         // the home already holds an identity
	CodeLocked            Code = "locked"         // the agent runs but its keys are not unlocked: POST /v1/unlock
	CodeBadPassphrase     Code = "bad_passphrase" // wrong passphrase, or the keystore is damaged
	CodeWeakPassphrase    Code = "weak_passphrase"
	CodeHomeBusy          Code = "home_busy"        // another process holds the home and serves no API
	CodeHomeNotPrivate    Code = "home_not_private" // other users of the machine can change the home: parley does not use it
	CodeRestoredElsewhere Code = "restored_elsewhere"
	CodeBadPhrase         Code = "bad_phrase"    // not a recovery phrase: a word unknown or wrong, a bad checksum, a wrong length
	CodeNotOwner          Code = "not_owner"     // the recovery phrase's owner key does not own the name
	CodeNoOffer           Code = "no_offer"      // no device waits with this link code (never offered, or expired)
	CodeNotADevice        Code = "not_a_device"  // this device is not (or no longer) one the name's record lists
	CodePhraseNeeded      Code = "phrase_needed" // the call needs the recovery phrase: the owner key is on no device

	// The chain.
	CodeOffline      Code = "offline"        // a chain node or hub does not answer
	CodeNameNotFound Code = "name_not_found" // the name is proved absent from the chain
	CodeUnverified   Code = "unverified"     // the node's answer did not verify
	CodeTrustExpired Code = "trust_expired"  // offline longer than the trusting period: pin a new trust root
	CodeRootPruned   Code = "root_pruned"    // the nodes no longer keep the trusted header
	CodeChainRefused Code = "chain_refused"  // the chain refused a transaction (Details: chain_code)

	// Contacts and conversations.
	CodeNotContact     Code = "not_contact"
	CodeAlreadyContact Code = "already_contact"
	CodeNoAnswer       Code = "no_answer"    // asked already; no answer yet
	CodeKeysChanged    Code = "keys_changed" // Details: key_change
	CodeRevoked        Code = "revoked"      // the name was revoked (a key change that can never be confirmed)
	CodeNameFree       Code = "name_free"    // the name expired and anyone may register it: nothing goes to it (Details: key_change)
	CodeQueued         Code = "queued"       // sealed and saved here; no hub took it yet (Details: queued)
	CodeStale          Code = "stale"        // the conversation went on after the backup: reset it
	CodeNoMessage      Code = "no_message"   // no message has that reference
	CodeNotMember      Code = "not_member"   // not a member of the group
	CodeNoGroup        Code = "no_group"     // no group has that name or ID
	CodeSafetyMismatch Code = "safety_mismatch"
	CodeNoProfile      Code = "no_profile"
	CodeNoBackup       Code = "no_backup"
	CodeNotAvatar      Code = "not_avatar"
	CodeFileExists     Code = "file_exists" // the agent never writes over a file
	CodePermission     Code = "permission"  // a path the agent may not read or write

	// Hubs.
	CodeHubUnauthorized Code = "hub_unauthorized"
	CodeHubQuota        Code = "hub_quota"
	CodeHubRateLimited  Code = "hub_rate_limited"
	CodeHubInboxFull    Code = "hub_inbox_full" // a contact's inbox holds as many requests as their hub keeps
	CodeHubTooLarge     Code = "hub_too_large"
	CodeHubBadAnswer    Code = "hub_bad_answer"
	CodeHubNoExpiry     Code = "hub_no_expiry" // a hub of the user's does not delete what it holds at its expiry (a note)
)

// Codes are every code of this version of the API (docs/api.md lists
// each).
func Codes() []Code {
	return []Code{CodeUsage, CodeBadRequest, CodeTooLarge, CodeNoRoute, CodeForbidden, CodeCanceled, CodeInternal,
		CodeNoIdentity, CodeNoName, CodeExists, CodeLocked, CodeBadPassphrase, CodeWeakPassphrase, CodeHomeBusy, CodeHomeNotPrivate,
		CodeRestoredElsewhere, CodeBadPhrase, CodeNotOwner, CodeNoOffer, CodeNotADevice, CodePhraseNeeded,
		CodeOffline, CodeNameNotFound, CodeUnverified, CodeTrustExpired, CodeRootPruned, CodeChainRefused,
		CodeNotContact, CodeAlreadyContact, CodeNoAnswer, CodeKeysChanged, CodeRevoked, CodeNameFree, CodeQueued, CodeStale, CodeNoMessage,
		CodeNotMember, CodeNoGroup, CodeSafetyMismatch, CodeNoProfile, CodeNoBackup, CodeNotAvatar, CodeFileExists, CodePermission,
		CodeHubUnauthorized, CodeHubQuota, CodeHubRateLimited, CodeHubInboxFull, CodeHubTooLarge, CodeHubBadAnswer, CodeHubNoExpiry}
}

// Error is an error as the API carries it.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`        // what happened, for a person, without Go package names
	Hint    string `json:"hint,omitempty"` // what to do about it
	// Detail is the error as the agent's Go code saw it (the whole
	// chain), for --verbose; never a secret.
	Detail string `json:"detail,omitempty"`
	// Details carries the data of a few codes.
	KeyChange *KeyChange `json:"key_change,omitempty"` // keys_changed, revoked
	Queued    *Queued    `json:"queued,omitempty"`     // queued
	ChainCode uint32     `json:"chain_code,omitempty"` // chain_refused
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return e.Detail
	}
	return e.Message
}

// IsCode reports whether err is (or wraps) an *Error of code.
func IsCode(err error, code Code) bool { return CodeOf(err) == code }

// Errorf is an *Error of code with message.
func Errorf(code Code, message string) *Error { return &Error{Code: code, Message: message} }

// CodeOf is the code of err: its *Error's, else CodeInternal (nil: "").
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// HTTPStatus is the HTTP status an error of code is answered with.
func HTTPStatus(code Code) int {
	switch code {
	case CodeUsage, CodeBadRequest, CodeNotAvatar:
		return http.StatusBadRequest
	case CodeTooLarge, CodeHubTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeNoRoute, CodeNameNotFound, CodeNotContact, CodeNoMessage, CodeNoGroup, CodeNoProfile, CodeNoBackup, CodeNoOffer:
		return http.StatusNotFound
	case CodeForbidden, CodePermission:
		return http.StatusForbidden
	case CodeLocked:
		return http.StatusLocked
	case CodeNoIdentity, CodeNoName, CodeExists, CodeAlreadyContact, CodeNoAnswer, CodeKeysChanged, CodeRevoked, CodeNameFree,
		CodeStale, CodeNotMember, CodeSafetyMismatch, CodeFileExists, CodeRestoredElsewhere, CodeHomeBusy, CodeHomeNotPrivate, CodeChainRefused, CodeNotOwner, CodeNotADevice:
		return http.StatusConflict
	case CodeBadPassphrase, CodeWeakPassphrase, CodeBadPhrase, CodePhraseNeeded:
		return http.StatusUnprocessableEntity
	case CodeQueued:
		return http.StatusAccepted
	case CodeOffline, CodeTrustExpired, CodeRootPruned, CodeUnverified, CodeHubUnauthorized, CodeHubQuota, CodeHubRateLimited, CodeHubBadAnswer, CodeHubInboxFull, CodeHubNoExpiry:
		return http.StatusBadGateway
	case CodeCanceled:
		return 499 // as nginx: the client closed the request
	}
	return http.StatusInternalServerError
}
