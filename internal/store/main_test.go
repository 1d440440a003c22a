package store

import (
	"testing"

	"github.com/mulegate/mulegate/internal/redistest"
)

// TestMain stops the package's shared test cluster when its tests are
// done (redistest.Shared).
func TestMain(m *testing.M) { redistest.Main(m) }
