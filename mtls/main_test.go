package mtls_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: a
// Source checks its files on handshakes and must never start one.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
