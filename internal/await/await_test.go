package await

import (
	"context"
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

func TestBackground(t *testing.T) {
	calls := 0
	if held := <-Background(context.Background(), func() bool { calls++; return calls == 3 }); !held || calls != 3 {
		t.Fatalf("Background = %v after %d calls, want true after 3", held, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := Background(ctx, func() bool { return false })
	cancel()
	if held, ok := <-done; held || !ok {
		t.Fatalf("Background after cancel = %v (sent %v), want false", held, ok)
	}
	if _, ok := <-done; ok {
		t.Fatal("Background's channel stays open")
	}
}

func TestWithin(t *testing.T) {
	calls := 0
	if !Within(1<<40, func() bool { calls++; return calls == 2 }) || calls != 2 {
		t.Fatalf("Within after %d calls, want true after 2", calls)
	}
	if Within(0, func() bool { return false }) {
		t.Fatal("Within of a condition that never holds = true")
	}
}
