package logging_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/middleware/logging"
)

// TestMain fails the package's tests if a goroutine outlives them: the
// middleware start none, and the tests' servers and providers must be
// closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newLogger builds a Logger from cfg or fails the test.
func newLogger(tb testing.TB, cfg logging.Config) *logging.Logger {
	tb.Helper()
	l, err := logging.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}
