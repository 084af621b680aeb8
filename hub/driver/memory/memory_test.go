package memory_test

import (
	"testing"

	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/hub/driver/memory"
	"github.com/parley-im/parley/hub/drivertest"
)

func TestConformance(t *testing.T) {
	drivertest.Run(t, func(*testing.T) hub.Driver { return memory.New() })
}
