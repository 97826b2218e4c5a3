package discovery_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The go-kit adapters start goroutines; every test and example must leave
// none behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
