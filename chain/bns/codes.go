package bns

import "fmt"

// Code is an ABCI result code of the name chain. Append only: codes are
// part of the protocol and clients switch on them.
type Code uint32

// Result codes. Every refusal carries one, with a log line that says what
// was wrong.
const (
	CodeOK                Code = 0
	CodeMalformed         Code = 1  // bytes do not decode, or a field is out of range
	CodeTooLarge          Code = 2  // transaction above max_tx_bytes
	CodeBadSignature      Code = 3  // signature does not verify for this chain
	CodeBadNonce          Code = 4  // nonce is not the account's next one (replay or gap)
	CodeInvalidName       Code = 5  // name breaks the name rules
	CodeInvalidProfile    Code = 6  // keys or hub URLs invalid
	CodePreorderExists    Code = 7  // the same commitment is already pending
	CodePreorderNotFound  Code = 8  // register without a matching preorder by this signer
	CodePreorderTooRecent Code = 9  // register less than min_preorder_age blocks after its preorder
	CodePreorderExpired   Code = 10 // register more than preorder_ttl blocks after the preorder
	CodeNameTaken         Code = 11 // the name is live or in its grace period
	CodeNameNotFound      Code = 12 // no such name
	CodeUnauthorized      Code = 13 // signer does not own the name
	CodeNameExpired       Code = 14 // the name has expired (past grace for renew)
	CodeNameRevoked       Code = 15 // the name was revoked; it never comes back
	CodeBadPow            Code = 16 // proof-of-work stamp below pow_difficulty
	CodeTooManyNames      Code = 17 // owner already holds max_names_per_owner live names
	CodeUnknownQuery      Code = 18 // no such query path
	CodeBadQuery          Code = 19 // query data or height invalid
	CodeInternal          Code = 20 // the node failed; not the sender's fault
	CodeTxExpired         Code = 21 // the block is above the transaction's expiry height
	CodeExpiryTooFar      Code = 22 // the expiry height is more than max_tx_ttl blocks ahead
	CodeTooManyPreorders  Code = 23 // the signer already holds max_preorders_per_account live preorders
	CodeDeviceExists      Code = 24 // the device's key or label is listed already
	CodeDeviceNotFound    Code = 25 // no device with this key is listed
	CodeTooManyDevices    Code = 26 // the name lists max_devices devices already
	CodeOfferNotFound     Code = 27 // no link offer with this code (never made, or expired)
	CodeOfferTaken        Code = 28 // the offer was taken by a name already, or is on the chain already
	CodeNotYet            Code = 29 // a device transaction before the chain's devices height
	CodeOfferForAnother   Code = 30 // the link offer names another name than the device-add's
)

var codeNames = map[Code]string{
	CodeOK: "ok", CodeMalformed: "malformed", CodeTooLarge: "too_large",
	CodeBadSignature: "bad_signature", CodeBadNonce: "bad_nonce",
	CodeInvalidName: "invalid_name", CodeInvalidProfile: "invalid_profile",
	CodePreorderExists: "preorder_exists", CodePreorderNotFound: "preorder_not_found",
	CodePreorderTooRecent: "preorder_too_recent", CodePreorderExpired: "preorder_expired",
	CodeNameTaken: "name_taken", CodeNameNotFound: "name_not_found",
	CodeUnauthorized: "unauthorized", CodeNameExpired: "name_expired",
	CodeNameRevoked: "name_revoked", CodeBadPow: "bad_pow",
	CodeTooManyNames: "too_many_names", CodeUnknownQuery: "unknown_query",
	CodeBadQuery: "bad_query", CodeInternal: "internal",
	CodeTxExpired: "tx_expired", CodeExpiryTooFar: "expiry_too_far", CodeTooManyPreorders: "too_many_preorders",
	CodeDeviceExists: "device_exists", CodeDeviceNotFound: "device_not_found", CodeTooManyDevices: "too_many_devices",
	CodeOfferNotFound: "offer_not_found", CodeOfferTaken: "offer_taken", CodeNotYet: "not_yet",
	CodeOfferForAnother: "offer_for_another",
}

func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("code(%d)", uint32(c))
}

// Codespace is the ABCI codespace of every non-zero code.
const Codespace = "bns"

// CodeError is a refusal with its code.
type CodeError struct {
	Code Code
	Msg  string
}

func (e *CodeError) Error() string { return e.Code.String() + ": " + e.Msg }

// Errorf makes a *CodeError.
func Errorf(c Code, format string, args ...any) error {
	return &CodeError{Code: c, Msg: fmt.Sprintf(format, args...)}
}
