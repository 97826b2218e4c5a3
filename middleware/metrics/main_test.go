package metrics_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine outlives them: the
// middleware start none, and the tests' servers and providers must be
// closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
