package authz_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: the
// authorizer starts none, and the test servers and clients must be shut.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
