package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/internal/api"
	"github.com/parley-im/parley/internal/cli"
)

// The agent's one presentation of errors: every error a call returns,
// and every note, becomes an *api.Error here: a stable code, what
// happened in a sentence without the Go packages the error passed
// through, and a hint that is true of that error. The whole chain goes in
// Detail (shown with --verbose).

// codedError is an error the agent makes with its code (and a hint).
type codedError struct {
	code api.Code
	err  error
	hint string
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// coded gives err a code and a hint.
func coded(code api.Code, err error, hint string) error { return &codedError{code, err, hint} }

// usage marks err as a bad request (the CLI's exit code 2).
func usage(err error) error { return &codedError{code: api.CodeUsage, err: err} }

// usagef is usage(fmt.Errorf(...)).
func usagef(format string, args ...any) error { return usage(fmt.Errorf(format, args...)) }

// hinted gives err a hint line, keeping its code.
func hinted(err error, hint string) error { return &codedError{err: err, hint: hint} }

// apiError is err as the API carries it (nil: nil).
func (a *Agent) apiError(err error) *api.Error {
	if err == nil {
		return nil
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae
	}
	code, what, hint := a.explain(err)
	if what == "" {
		what = cli.Plain(err)
	}
	e := &api.Error{Code: code, Message: what, Hint: hint}
	if d := err.Error(); d != what {
		e.Detail = d
	}
	var (
		kc *client.KeyChange
		q  *client.QueuedError
		ce *bns.CodeError
	)
	if errors.As(err, &kc) {
		e.KeyChange = apiKeyChange(kc)
	}
	if errors.As(err, &q) {
		e.Queued = apiQueued(q)
	}
	if errors.As(err, &ce) {
		e.ChainCode = uint32(ce.Code)
	}
	return e
}

// apiKeyChange is kc as the API carries it.
func apiKeyChange(kc *client.KeyChange) *api.KeyChange {
	return &api.KeyChange{Name: kc.Name, Reason: kc.Reason.String(), Height: kc.Height, Safety: kc.Safety, Revoked: kc.Revoked(), Free: kc.Free(), ExpiredAt: expiredAt(kc),
		Message: cli.Plain(kc), Hint: keyChangeHint(kc)}
}

// expiredAt is the height a free name expired at (0 for another change).
func expiredAt(kc *client.KeyChange) int64 {
	if !kc.Free() {
		return 0
	}
	return kc.Current.ExpiresAt
}

// apiQueued is q as the API carries it.
func apiQueued(q *client.QueuedError) *api.Queued {
	return &api.Queued{To: q.To, Request: q.Request, Intro: q.Intro, Hubs: q.Hubs, Why: queuedWhy(q), Detail: q.Error()}
}

// explain says what an error means for a person: its code, what
// happened, and a hint ("" for what: cli.Plain's).
func (a *Agent) explain(err error) (code api.Code, what, hint string) {
	var (
		ce *codedError
		kc *client.KeyChange
		ue *url.Error
		ae *hubclient.AnswerError
		be *bns.CodeError
		bz *BusyError
		np *NotPrivateError
		nx *client.NoHubExpiryError
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded) && !unreachable(err):
		return api.CodeCanceled, "interrupted", ""
	case errors.As(err, &ce) && (ce.code != "" || ce.hint != ""):
		code := ce.code
		if code == "" {
			code, _, _ = a.explain(ce.err)
		}
		return code, cli.Plain(ce.err), ce.hint
	case errors.As(err, &nx):
		return api.CodeHubNoExpiry, cli.Plain(err), "move to a hub that does ('parley name hubs URL'), or keep a watch or 'parley daemon' running so that this device deletes them on time"
	case errors.As(err, &np):
		return api.CodeHomeNotPrivate, np.Error(), np.Hint()
	case errors.As(err, &bz):
		return api.CodeHomeBusy, bz.Error(), "stop it first, or run 'parley daemon' so that every command is served by one process"
	case errors.Is(err, client.ErrQueued):
		what, hint := a.explainQueued(err)
		return api.CodeQueued, what, hint
	case client.IsOffline(err):
		var oe *client.OfflineError
		what := cli.Plain(err)
		if errors.As(err, &oe) {
			what = oe.Error()
		}
		hint := "what this device holds still works (contacts, read, search, group list, settings, profile), and what you send waits; try again once it answers"
		if errors.Is(err, lookup.ErrUnreachable) {
			hint = nodeHint + "; meanwhile " + hint
		}
		return api.CodeOffline, what, hint
	case errors.As(err, &kc):
		code := api.CodeKeysChanged
		switch {
		case kc.Revoked():
			code = api.CodeRevoked
		case kc.Free():
			code = api.CodeNameFree
		}
		return code, cli.Plain(err), keyChangeHint(kc)
	case errors.Is(err, client.ErrRevoked):
		return api.CodeRevoked, cli.Plain(err), ""
	case errors.Is(err, client.ErrRestoredElsewhere):
		return api.CodeRestoredElsewhere, cli.Plain(err), a.restoredHint()
	case errors.Is(err, client.ErrStale):
		return api.CodeStale, cli.Plain(err), "'parley contacts reset NAME' starts the conversation over (NAME is the contact)"
	case errors.Is(err, keystore.ErrWeakPassphrase):
		return api.CodeWeakPassphrase, cli.Plain(err), "choose one of at least 12 characters, a few unrelated words say; nothing was changed"
	case errors.Is(err, keystore.ErrBadPassphrase):
		return api.CodeBadPassphrase, "wrong passphrase, or the keystore is damaged", "the passphrase comes from PARLEY_PASSPHRASE or the terminal prompt"
	case errors.Is(err, lookup.ErrTrustExpired):
		return api.CodeTrustExpired, cli.Plain(err), "this device was offline longer than the trusting period; " + repinHint
	case errors.Is(err, lookup.ErrRootPruned):
		return api.CodeRootPruned, cli.Plain(err), "the chain's nodes no longer keep the header this device trusts; " + repinHint
	case errors.Is(err, lookup.ErrUnverified):
		return api.CodeUnverified, "the chain node's answer did not verify against the headers this device trusts",
			"the node is faulty or lying: ask another node of the chain with 'parley settings node URL --witness URL'"
	case errors.Is(err, lookup.ErrNotFound):
		return api.CodeNameNotFound, cli.Plain(err), "check the spelling: names are lowercase letters, digits and dashes"
	case errors.Is(err, lookup.ErrUnreachable):
		what := "no chain node answers"
		if errors.As(err, &ue) {
			what = "the chain node " + origin(ue.URL) + " " + why(ue.Err)
		}
		return api.CodeOffline, what, nodeHint
	case errors.As(err, &ue) && unreachable(ue.Err):
		what, hint := a.explainUnreachable(ue)
		return api.CodeOffline, what, hint
	case errors.As(err, &ae):
		what := "the hub " + ae.Hub + " sent more than this device reads from a hub"
		code := api.CodeHubTooLarge
		if errors.Is(err, hubclient.ErrBadAnswer) {
			what, code = "the hub "+ae.Hub+" answered against the hub protocol", api.CodeHubBadAnswer
		}
		return code, what, "nothing of that answer was kept; the hub is broken or hostile: if it is a contact's, tell them (their messages wait there); 'parley status' checks your own hubs"
	case errors.Is(err, hub.ErrUnauthorized):
		return api.CodeHubUnauthorized, "a hub refused this device's signed token", unauthorizedHint
	case errors.Is(err, hub.ErrQuota):
		return api.CodeHubQuota, "your hub is full: it holds all it allows you (its quota)", quotaHint
	case errors.Is(err, hub.ErrInboxFull):
		return api.CodeHubInboxFull, "their hub holds as many contact requests for them as it keeps (their inbox is full)", "they must open their requests ('parley requests') before another fits; try again later"
	case errors.Is(err, hub.ErrRateLimited):
		return api.CodeHubRateLimited, "a hub turned the request away: too many requests from this address", "wait a minute, then run the command again"
	case errors.Is(err, hub.ErrTooLarge):
		return api.CodeHubTooLarge, cli.Plain(err), "the hub takes nothing that large; send a smaller file"
	case errors.Is(err, client.ErrNoMessage):
		return api.CodeNoMessage, cli.Plain(err), "'parley read NAME' shows each message's reference (NAME/N)"
	case errors.Is(err, client.ErrNotContact):
		return api.CodeNotContact, cli.Plain(err), "'parley contacts add NAME' asks them; 'parley requests' lists who asked you"
	case errors.Is(err, client.ErrAlreadyContact):
		return api.CodeAlreadyContact, cli.Plain(err), ""
	case errors.Is(err, client.ErrNoAnswer):
		return api.CodeNoAnswer, cli.Plain(err), ""
	case errors.Is(err, client.ErrNotMember):
		return api.CodeNotMember, cli.Plain(err), ""
	case errors.Is(err, client.ErrSafetyMismatch):
		return api.CodeSafetyMismatch, cli.Plain(err), "compare it again with the number their own 'parley whois NAME' shows; if it still differs, do not mark them verified"
	case errors.Is(err, client.ErrNoProfile):
		return api.CodeNoProfile, cli.Plain(err), ""
	case errors.Is(err, errNotAvatar):
		return api.CodeNotAvatar, cli.Plain(err), fmt.Sprintf("choose a PNG, JPEG or GIF image of at most %d KiB and %d×%d pixels", wire.MaxAvatar>>10, wire.MaxAvatarSide, wire.MaxAvatarSide)
	case errors.Is(err, client.ErrPartNotOurs):
		return api.CodeFileExists, cli.Plain(err), "save it in a directory only you can write to (--out PATH)"
	case errors.Is(err, fs.ErrExist):
		return api.CodeFileExists, cli.Plain(err), "parley never writes over a file: give another path"
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EROFS):
		return api.CodePermission, cli.Plain(err), "choose a place you can write to (--out PATH)"
	case errors.Is(err, client.ErrNoBackup):
		return api.CodeNoBackup, cli.Plain(err), "check the name and the backup passphrase (PARLEY_BACKUP_PASSPHRASE or the prompt)"
	case errors.As(err, &be):
		return api.CodeChainRefused, cli.Plain(err), ""
	case errors.As(err, &ce) && ce.code != "":
		return ce.code, "", ""
	}
	return api.CodeInternal, "", ""
}

// errNotAvatar: an avatar is not an image parley takes.
var errNotAvatar = errors.New("not an avatar parley takes")

// ErrNotAvatar is what the agent says of an avatar that is not one; the
// CLI checks a file with it before sending it.
var ErrNotAvatar = errNotAvatar

// Hints that several errors share.
const (
	unauthorizedHint = "check that this device's clock is right and that your name's hubs on the chain ('parley name') " +
		"are the addresses the hubs serve; 'parley status' checks both"
	quotaHint = "delete what you no longer need (files: 'parley delete NAME REF'), or add a hub: 'parley name hubs URL URL'"
	nodeHint  = "check that this device is online and the node runs; 'parley settings node URL' picks another node of the chain"
	// repinHint is what to do when the light client has no header it can
	// verify from.
	repinHint = "ask someone you trust for the height and hash of a recent header (their 'parley status' shows one), " +
		"then run 'parley settings trust --trust-height H --trust-hash HEX'"
)

// restoredHint says what to do on a device whose identity was restored
// elsewhere.
func (a *Agent) restoredHint() string {
	cfg := a.home.config()
	name, node := or(cfg.Name, "NAME"), or(cfg.Node, "URL")
	return fmt.Sprintf("go on from the other device; to use this one instead, restore your backup here into a new home "+
		"('parley --home NEWDIR restore %s --node %s') and stop using the other; this home's history stays readable", name, node)
}

// keyChangeHint says what the user can do about a contact's key change.
func keyChangeHint(kc *client.KeyChange) string {
	if kc.Revoked() {
		return fmt.Sprintf("nobody holds the name any more; 'parley contacts remove %s' ends the conversation here", kc.Name)
	}
	if kc.Free() {
		return fmt.Sprintf("there is nothing to confirm: if %s registers the name again with the same keys, the conversation goes on by itself, and if someone else does, you are warned as for any key change ('parley whois %s' shows the name)",
			kc.Name, kc.Name)
	}
	return fmt.Sprintf("new safety number %s; after checking it with them, run 'parley contacts confirm %s' (the conversation starts over)",
		kc.Safety, kc.Name)
}

// explainQueued says why a message is still on this device, and what
// will send it: the hint depends on why no hub took it.
func (a *Agent) explainQueued(err error) (what, hint string) {
	var (
		ue *url.Error
		q  *client.QueuedError
	)
	switch {
	case errors.As(err, &q):
		return "queued on this device: " + queuedWhy(q), ""
	case errors.As(err, &ue) && unreachable(ue.Err):
		return "queued on this device: your hub " + origin(ue.URL) + " does not answer",
			"it goes out with your next parley command once the hub answers (a running 'parley watch' retries every few seconds)"
	case errors.Is(err, hub.ErrUnauthorized):
		return "queued on this device: your hub refused this device's signed token",
			"it stays queued until the hub accepts it; " + unauthorizedHint
	case errors.Is(err, hub.ErrQuota):
		return "queued on this device: your hub is full (its quota)", "it stays queued until there is room; " + quotaHint
	case errors.Is(err, hub.ErrRateLimited):
		return "queued on this device: your hub turned it away (too many requests)",
			"it goes out with your next parley command; wait a minute first"
	}
	return "queued on this device: no hub took it yet", "it goes out with a later parley command; run 'parley status' to see your hubs"
}

// explainUnreachable names the server that does not answer: the chain
// node, or a hub.
func (a *Agent) explainUnreachable(ue *url.Error) (what, hint string) {
	server := origin(ue.URL)
	cfg := a.home.config()
	for _, n := range append([]string{cfg.Node}, cfg.Witnesses...) {
		if n != "" && origin(n) == server {
			return "the chain node " + server + " " + why(ue.Err), nodeHint
		}
	}
	return "the hub " + server + " " + why(ue.Err), "check that this device is online; if the hub is down, try again later ('parley status' checks your own hubs)"
}

// why says how a server failed to answer.
func why(err error) string {
	var (
		dns *net.DNSError
		ne  net.Error
	)
	switch {
	case errors.As(err, &dns):
		return "is not a known host name"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "does not answer (connection refused)"
	case errors.As(err, &ne) && ne.Timeout():
		return "did not answer in time"
	}
	return "does not answer"
}

// unreachable reports whether err is a failure to reach a server (no
// connection, no answer), rather than an answer.
func unreachable(err error) bool {
	var (
		ne  net.Error
		dns *net.DNSError
		op  *net.OpError
	)
	return errors.As(err, &ne) || errors.As(err, &dns) || errors.As(err, &op) || errors.Is(err, syscall.ECONNREFUSED)
}

// What the user is told when something waits to go out.

// goesOut is what happens next to what is queued.
const goesOut = "it goes out with your next parley command (or a running watch)"

// queuedWhy says why q's message or request waits, and what happens next.
func queuedWhy(q *client.QueuedError) string {
	var failed []*client.HubError
	collectHubErrors(q.Err, &failed)
	if len(failed) == 0 && client.IsOffline(q.Err) { // the chain: keys are checked before anything goes out
		return fmt.Sprintf("the chain does not answer, and %s's keys are checked on it first; %s once it does", or(q.To, "the contact"), goesOut)
	}
	trouble, next := hubTrouble(failed, q.Hubs)
	switch {
	case q.Intro:
		return "none of your hubs took the introduction yet (" + trouble + "); " + next
	case q.Request:
		return "their " + trouble + "; " + next
	}
	return "your " + trouble + "; " + next
}

// hubTrouble says what each hub that failed did ("hub URL does not
// answer", "hub URL refused it (...)"; with no failure known, every hub
// in hubs as not answering), and what happens next.
func hubTrouble(failed []*client.HubError, hubs []string) (trouble, next string) {
	var silent, other []string
	if len(failed) == 0 { // nothing says more
		silent = hubs
	}
	next = goesOut + " once it does"
	for _, f := range failed {
		why, then := hubRefusal(f.Err)
		if why == "" {
			silent = append(silent, f.URL)
			continue
		}
		other = append(other, "hub "+f.URL+" refused it ("+why+")")
		next = then
	}
	switch len(silent) {
	case 0:
	case 1:
		other = append([]string{"hub " + silent[0] + " does not answer"}, other...)
	default:
		other = append([]string{"hubs " + strings.Join(silent, ", ") + " do not answer"}, other...)
		next = goesOut + " once one does"
	}
	return strings.Join(other, "; "), next
}

// collectHubErrors finds the *client.HubError in err's tree.
func collectHubErrors(err error, out *[]*client.HubError) {
	if err == nil {
		return
	}
	if he, ok := err.(*client.HubError); ok {
		*out = append(*out, he)
		return
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			collectHubErrors(e, out)
		}
	case interface{ Unwrap() error }:
		collectHubErrors(u.Unwrap(), out)
	}
}

// hubRefusal says what a hub that answered refused, and what happens
// next; "" if it did not answer.
func hubRefusal(err error) (why, next string) {
	var ne net.Error
	switch {
	case client.IsOffline(err), errors.As(err, &ne):
		return "", ""
	case errors.Is(err, hub.ErrUnauthorized):
		return "it did not accept this device's signed token", "it stays queued until the hub accepts it; " + unauthorizedHint
	case errors.Is(err, hub.ErrQuota):
		return "your space there is full", "it stays queued until there is room; " + quotaHint
	case errors.Is(err, hub.ErrInboxFull):
		return "the inbox there is full", goesOut + " once they have opened their requests"
	case errors.Is(err, hub.ErrRateLimited):
		return "too many requests for now", goesOut + "; wait a minute first"
	case errors.Is(err, hub.ErrTooLarge):
		return "too large", "it stays queued: the hub takes nothing that large"
	}
	return cli.Plain(err), goesOut + " once the hub takes it"
}

// quiet drops an error that only says a node or hub did not answer, or
// that this device no longer writes to the user's hubs (the call goes on
// with what the device holds; the notes after it tell).
func quiet(err error) error {
	if client.IsOffline(err) || errors.Is(err, client.ErrRestoredElsewhere) {
		return nil
	}
	return err
}

// plainOffline shows an error that comes down to a node or hub that did
// not answer as just that ("hub URL does not answer (connection
// refused)"), without the layers it came through.
func (a *Agent) plainOffline(err error) error {
	var oe *client.OfflineError
	if errors.As(a.home.offline(err), &oe) {
		return oe
	}
	return err
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
