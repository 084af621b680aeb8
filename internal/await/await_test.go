package await

import (
	"errors"
	"fmt"
	"testing"
)

// recorder is a testing.TB that records a failure instead of ending the
// goroutine.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestTrueReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	r := &recorder{TB: t}
	True(r, 1<<40, "the third call", func() bool { calls++; return calls == 3 })
	if r.failed != "" || calls != 3 {
		t.Fatalf("failed %q after %d calls, want no failure after 3", r.failed, calls)
	}
}

func TestTrueNamesWhatItWaitedFor(t *testing.T) {
	r := &recorder{TB: t}
	True(r, 0, "the hub to answer", func() bool { return false })
	if want := "waited 0s for the hub to answer"; r.failed != want {
		t.Fatalf("failure %q, want %q", r.failed, want)
	}
}

func TestNoErrorSaysWhatItSawLast(t *testing.T) {
	r := &recorder{TB: t}
	n := 0
	NoError(r, 0, "bob's name", func() error { n++; return fmt.Errorf("lookup %d: %w", n, errors.ErrUnsupported) })
	if want := "waited 0s for bob's name: lookup 1: unsupported operation"; r.failed != want {
		t.Fatalf("failure %q, want %q", r.failed, want)
	}
}

func TestValue(t *testing.T) {
	calls := 0
	r := &recorder{TB: t}
	got := Value(r, 1<<40, "a height", func() (int, error) {
		calls++
		if calls < 2 {
			return 0, errors.New("not yet")
		}
		return 42, nil
	})
	if r.failed != "" || got != 42 {
		t.Fatalf("Value = %d (failure %q), want 42", got, r.failed)
	}
}
