package platform_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// database/sql keeps one opener goroutine per open *sql.DB; tests
		// close theirs, but the pool may still be winding down.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		// net/http's shared transport keeps idle connections between tests.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}
