package main

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/internal/cli"
)

// What the user is told when something waits to go out.

// goesOut is what happens next to what is queued.
const goesOut = "it goes out with your next parley command (or a running watch)"

// queuedWhy says why q's message or request waits, and what happens next.
func queuedWhy(q *client.QueuedError) string {
	var failed []*client.HubError
	collectHubErrors(q.Err, &failed)
	if len(failed) == 0 && client.IsOffline(q.Err) { // the chain: keys are checked before anything goes out
		return fmt.Sprintf("the chain does not answer, and %s's keys are checked on it first; %s once it does", cmp(q.To, "the contact"), goesOut)
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
