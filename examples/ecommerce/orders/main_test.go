package orders_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// database/sql's opener goroutine may still be winding down after
		// a test closed its *sql.DB.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
	)
}
