package auth_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: the
// JWKS fetches on its callers' goroutines and may not leave one behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
