package redistest

import "testing"

// TestMain stops the package's shared test cluster when its tests are
// done (Shared).
func TestMain(m *testing.M) { Main(m) }
