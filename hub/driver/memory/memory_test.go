package memory_test

import (
	"testing"
	"time"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/driver/memory"
	"github.com/parley-im/parley/hub/drivertest"
)

func TestConformance(t *testing.T) {
	drivertest.Run(t, func(_ *testing.T, now func() time.Time) hub.Driver { return memory.New(memory.WithClock(now)) })
}
