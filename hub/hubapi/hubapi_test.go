package hubapi_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/hubapi"
)

// TestClassesKeepTheirKind: each class's error, answered by a hub and
// read by a client, is its own sentinel and no other's (ErrRevoked is
// also ErrUnauthorized, which it wraps); an error of none has no class.
func TestClassesKeepTheirKind(t *testing.T) {
	for _, c := range hubapi.Classes {
		t.Run(c.Name, func(t *testing.T) {
			got, ok := hubapi.ClassOf(fmt.Errorf("server: put x: %w", c.Err))
			if !ok || got.Name != c.Name || got.Status != c.Status {
				t.Fatalf("ClassOf = %+v %v", got, ok)
			}
			err := hubapi.ErrorOf(c.Status, c.Name, "the hub's message")
			for _, o := range hubapi.Classes {
				want := o.Err == c.Err || c.Err == hub.ErrRevoked && o.Err == hub.ErrUnauthorized
				if errors.Is(err, o.Err) != want {
					t.Errorf("the client's error %q: errors.Is(%s's sentinel) = %v", err, o.Name, !want)
				}
			}
			if !strings.Contains(err.Error(), "the hub's message") {
				t.Errorf("the hub's message is lost: %q", err)
			}
		})
	}
	if _, ok := hubapi.ClassOf(errors.New("disk on fire")); ok {
		t.Error("an error of no class has one")
	}
	// A hub that names no class (or one unknown here): by status.
	if err := hubapi.ErrorOf(429, "", "slow down"); !errors.Is(err, hub.ErrRateLimited) {
		t.Errorf("429 without a class: %v", err)
	}
	var se *hubapi.StatusError
	if err := hubapi.ErrorOf(418, "Teapot", "no"); !errors.As(err, &se) || se.Status != 418 {
		t.Errorf("418: %v", err)
	}
}
