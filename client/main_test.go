package client_test

import (
	"flag"
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		// While fuzzing, the goroutines left at exit belong to the fuzzing
		// engine, not to this package; leak checks run on plain test runs.
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}
