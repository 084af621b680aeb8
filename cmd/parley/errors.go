package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/parley-im/parley/chain/lookup"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/keystore"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/internal/cli"
	"github.com/parley-im/parley/internal/screen"
)

// explain is parley's one presentation of errors: what happened, in a
// sentence without the Go packages the error passed through, and a hint
// that is true of that error. Everything a command returns, and every
// warning it prints (h.warn), goes through it; the whole chain shows only
// with --verbose or PARLEY_DEBUG=1.
func (h *home) explain(err error) (what, hint string) {
	var (
		kc *client.KeyChange
		ue *url.Error
		ae *hubclient.AnswerError
	)
	var he *hintedError
	switch {
	case errors.Is(err, context.Canceled):
		return "interrupted", ""
	case errors.As(err, &he):
		return cli.Plain(he.err), he.hint
	case errors.Is(err, client.ErrQueued):
		return h.explainQueued(err)
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
		return what, hint
	case errors.As(err, &kc):
		return cli.Plain(err), keyChangeHint(kc)
	case errors.Is(err, client.ErrRestoredElsewhere):
		return cli.Plain(err), h.restoredHint()
	case errors.Is(err, client.ErrStale):
		return cli.Plain(err), "'parley contacts reset NAME' starts the conversation over (NAME is the contact)"
	case errors.Is(err, keystore.ErrWeakPassphrase):
		return cli.Plain(err), "choose one of at least 12 characters, a few unrelated words say; nothing was changed"
	case errors.Is(err, errPassphrasesDiffer):
		return err.Error(), "type the same passphrase twice"
	case errors.Is(err, keystore.ErrBadPassphrase):
		return "wrong passphrase, or the keystore is damaged", "the passphrase comes from PARLEY_PASSPHRASE or the terminal prompt"
	case errors.Is(err, lookup.ErrTrustExpired):
		return cli.Plain(err), "this device was offline longer than the trusting period; " + repinHint
	case errors.Is(err, lookup.ErrRootPruned):
		return cli.Plain(err), "the chain's nodes no longer keep the header this device trusts; " + repinHint
	case errors.Is(err, lookup.ErrUnverified):
		return "the chain node's answer did not verify against the headers this device trusts",
			"the node is faulty or lying: ask another node of the chain with 'parley settings node URL --witness URL'"
	case errors.Is(err, lookup.ErrNotFound):
		return cli.Plain(err), "check the spelling: names are lowercase letters, digits and dashes"
	case errors.Is(err, lookup.ErrUnreachable):
		what := "no chain node answers"
		if errors.As(err, &ue) {
			what = "the chain node " + origin(ue.URL) + " " + why(ue.Err)
		}
		return what, nodeHint
	case errors.As(err, &ue) && unreachable(ue.Err):
		return h.explainUnreachable(ue)
	case errors.As(err, &ae):
		what := "the hub " + ae.Hub + " sent more than this device reads from a hub"
		if errors.Is(err, hubclient.ErrBadAnswer) {
			what = "the hub " + ae.Hub + " answered against the hub protocol"
		}
		return what, "nothing of that answer was kept; the hub is broken or hostile: if it is a contact's, tell them (their messages wait there); 'parley status' checks your own hubs"
	case errors.Is(err, hub.ErrUnauthorized):
		return "a hub refused this device's signed token", unauthorizedHint
	case errors.Is(err, hub.ErrQuota):
		return "your hub is full: it holds all it allows you (its quota)", quotaHint
	case errors.Is(err, hub.ErrInboxFull):
		return "their hub holds as many contact requests for them as it keeps (their inbox is full)", "they must open their requests ('parley requests') before another fits; try again later"
	case errors.Is(err, hub.ErrRateLimited):
		return "a hub turned the request away: too many requests from this address", "wait a minute, then run the command again"
	case errors.Is(err, hub.ErrTooLarge):
		return cli.Plain(err), "the hub takes nothing that large; send a smaller file"
	case errors.Is(err, client.ErrNoMessage):
		return cli.Plain(err), "'parley read NAME' shows each message's reference (NAME/N)"
	case errors.Is(err, client.ErrNotContact):
		return cli.Plain(err), "'parley contacts add NAME' asks them; 'parley requests' lists who asked you"
	case errors.Is(err, client.ErrSafetyMismatch):
		return cli.Plain(err), "compare it again with the number their own 'parley whois NAME' shows; if it still differs, do not mark them verified"
	case errors.Is(err, errNotAvatar):
		return cli.Plain(err), fmt.Sprintf("choose a PNG, JPEG or GIF image of at most %d KiB and %d×%d pixels", wire.MaxAvatar>>10, wire.MaxAvatarSide, wire.MaxAvatarSide)
	case errors.Is(err, fs.ErrExist):
		return cli.Plain(err), "parley never writes over a file: give another path"
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EROFS):
		return cli.Plain(err), "choose a place you can write to (--out PATH)"
	case errors.Is(err, client.ErrNoBackup):
		return cli.Plain(err), "check the name and the backup passphrase (PARLEY_BACKUP_PASSPHRASE or the prompt)"
	}
	return "", ""
}

// hintedError is an error with the hint that is true of it.
type hintedError struct {
	err  error
	hint string
}

func (e *hintedError) Error() string { return e.err.Error() }
func (e *hintedError) Unwrap() error { return e.err }

// hinted gives err a hint line.
func hinted(err error, hint string) error { return &hintedError{err, hint} }

// Hints that several errors share.
const (
	unauthorizedHint = "check that this device's clock is right and that your name's hubs on the chain ('parley name') " +
		"are the addresses the hubs serve; 'parley status' checks both"
	quotaHint = "delete what you no longer need (files: 'parley delete NAME REF'), or add a hub: 'parley name hubs URL URL'"
)

// explainQueued says why a message is still on this device, and what
// will send it: the hint depends on why no hub took it.
func (h *home) explainQueued(err error) (what, hint string) {
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
func (h *home) explainUnreachable(ue *url.Error) (what, hint string) {
	server := origin(ue.URL)
	for _, n := range append([]string{h.cfg.Node}, h.cfg.Witnesses...) {
		if n != "" && origin(n) == server {
			return "the chain node " + server + " " + why(ue.Err), nodeHint
		}
	}
	return "the hub " + server + " " + why(ue.Err), "check that this device is online; if the hub is down, try again later ('parley status' checks your own hubs)"
}

const nodeHint = "check that this device is online and the node runs; 'parley settings node URL' picks another node of the chain"

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

// origin is a URL's scheme and host: what a person recognises of it.
func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return strings.TrimSpace(u)
	}
	return p.Scheme + "://" + p.Host
}

// warn prints a problem that does not stop the command, as explain
// presents errors: "parley: CONTEXT: what" and a hint line.
func (h *home) warn(context string, err error) {
	what, hint := h.explain(err)
	if what == "" {
		what = cli.Plain(err)
	}
	if context != "" {
		what = context + ": " + what
	}
	if h.said[what+hint] {
		return // said once is enough (a queued message, and the send that queued another)
	}
	if h.said == nil {
		h.said = map[string]bool{}
	}
	h.said[what+hint] = true
	screen.Printf(h.stderr, "parley: %s\n", what)
	if hint != "" {
		screen.Printf(h.stderr, "parley: hint: %s\n", hint)
	}
	if h.verbose() {
		screen.Printf(h.stderr, "parley: detail: %v\n", err)
	}
}

// verbose reports whether errors are shown in full (--verbose, or
// PARLEY_DEBUG set).
func (h *home) verbose() bool {
	if h.root != nil {
		if f := h.root.PersistentFlags().Lookup("verbose"); f != nil && f.Value.String() == "true" {
			return true
		}
	}
	return h.debugEnv
}
