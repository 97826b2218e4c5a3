package deadline_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/middleware/deadline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// mustDeadline is deadline.New for a Config known to be valid.
func mustDeadline(cfg deadline.Config) *deadline.Deadline {
	d, err := deadline.New(cfg)
	if err != nil {
		panic(err)
	}
	return d
}
