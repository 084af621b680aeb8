// Package await is how tests wait: a condition is polled until it holds
// or a deadline passes, and a failure names what was waited for (and, with
// [NoError], why it still did not hold).
//
// It owns no state and starts no goroutine; it is for tests only and must
// not be imported by a program. Call it from the test's own goroutine (it
// fails with t.Fatalf). A test never sleeps to let something happen: it
// awaits the thing. Deadlines are generous (the machine running CI may be
// loaded); a deadline is a bound on a hang, never a timing assertion.
package await

import (
	"context"
	"testing"
	"time"
)

// Poll intervals: the first checks come quickly, later ones back off so
// that a long wait does not spin a loaded machine.
const (
	firstPoll = 5 * time.Millisecond
	maxPoll   = 100 * time.Millisecond
)

// True calls cond until it returns true. If it has not after deadline
// (from the call), the test fails with "waited <deadline> for <what>".
func True(t testing.TB, deadline time.Duration, what string, cond func() bool) {
	t.Helper()
	NoError(t, deadline, what, func() error {
		if cond() {
			return nil
		}
		return errFalse
	})
}

// NoError calls f until it returns nil. If it has not after deadline
// (from the call), the test fails with "waited <deadline> for <what>:
// <f's last error>", so the failure says what was seen last.
func NoError(t testing.TB, deadline time.Duration, what string, f func() error) {
	t.Helper()
	end := time.Now().Add(deadline)
	wait := firstPoll
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(end) {
			if err == errFalse {
				t.Fatalf("waited %v for %s", deadline, what)
			} else {
				t.Fatalf("waited %v for %s: %v", deadline, what, err)
			}
			return
		}
		time.Sleep(wait)
		wait = min(2*wait, maxPoll)
	}
}

// Within calls cond until it returns true or d has passed, and reports
// whether it did: for a test that gathers what to show before it fails
// (use [True] or [NoError] otherwise).
func Within(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for wait := firstPoll; ; wait = min(2*wait, maxPoll) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(wait)
	}
}

// Value calls f until it returns a nil error, and returns the value it
// returned then. If it has not after deadline, the test fails as
// [NoError] does, with f's last error.
func Value[T any](t testing.TB, deadline time.Duration, what string, f func() (T, error)) T {
	t.Helper()
	var v T
	NoError(t, deadline, what, func() error {
		var err error
		v, err = f()
		return err
	})
	return v
}

// Background polls cond in a goroutine until it returns true or ctx ends,
// for a test whose own goroutine is busy meanwhile (running the command
// that cond watches, say, and that cond may stop by cancelling ctx). The
// returned channel receives whether cond held, then is closed. Bound ctx:
// Background has no deadline of its own.
func Background(ctx context.Context, cond func() bool) <-chan bool {
	held := make(chan bool, 1)
	go func() {
		defer close(held)
		wait := firstPoll
		for ctx.Err() == nil {
			if cond() {
				held <- true
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			wait = min(2*wait, maxPoll)
		}
		held <- false
	}()
	return held
}

type falseError struct{}

func (falseError) Error() string { return "condition false" }

var errFalse error = falseError{}
