package s3_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/driver/s3"
	"github.com/parley-im/parley/hub/driver/s3/s3test"
	"github.com/parley-im/parley/hub/drivertest"
)

func TestConformance(t *testing.T) {
	srv := s3test.Start(t)
	drivertest.Run(t, func(t *testing.T, now func() time.Time) hub.Driver {
		cfg := srv.Config(t)
		cfg.Now = now
		d, err := s3.New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// TestConditionsAcrossProcesses: two drivers on one bucket, as two hub
// processes, each with its own per-key lock: 16 conditional writes of one
// path through each, at once, and one wins (S3's own conditional
// requests); a conditional delete through one of an object the other
// rewrote is refused.
func TestConditionsAcrossProcesses(t *testing.T) {
	srv := s3test.Start(t)
	cfg := srv.Config(t)
	cfg.Shared = true // New checks that the server enforces conditional writes
	var ds [2]*s3.Driver
	for i := range ds {
		c := cfg
		c.TempDir = t.TempDir()
		d, err := s3.New(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		ds[i] = d
	}
	const addr = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"
	ctx := context.Background()
	var wins, lost atomic.Int32
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			_, err := ds[i%2].Put(ctx, addr, "once", strings.NewReader(fmt.Sprint(i)), hub.PutOptions{IfNoneMatch: true})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, hub.ErrPrecondition):
				lost.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || lost.Load() != 31 {
		t.Fatalf("%d writes won, %d refused; want 1 and 31", wins.Load(), lost.Load())
	}
	obj, err := ds[0].Put(ctx, addr, "p", strings.NewReader("v1"), hub.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ds[1].Put(ctx, addr, "p", strings.NewReader("v2"), hub.PutOptions{IfMatch: obj.ETag}); err != nil {
		t.Fatal(err)
	}
	if err := ds[0].Delete(ctx, addr, "p", hub.DeleteOptions{IfMatch: obj.ETag}); !errors.Is(err, hub.ErrPrecondition) {
		t.Fatalf("delete If-Match the replaced version: %v, want hub.ErrPrecondition", err)
	}
}
