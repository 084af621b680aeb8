package s3_test

import (
	"context"
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
