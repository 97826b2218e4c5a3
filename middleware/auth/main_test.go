package auth_test

import (
	"io"
	"log"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: the
// JWKS fetches on its callers' goroutines and the reloader on handshakes,
// so neither may leave one behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newDiscardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
