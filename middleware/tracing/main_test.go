package tracing_test

import (
	"testing"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/middleware/tracing"
)

// TestMain fails the package's tests if a goroutine outlives them: the
// middleware start none, and the tests' servers and providers must be
// closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTracer builds a Tracer from cfg or fails the test.
func newTracer(tb testing.TB, cfg tracing.Config) *tracing.Tracer {
	tb.Helper()
	tr, err := tracing.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return tr
}

// tracer is newTracer with the default configuration on provider tp.
func tracer(tb testing.TB, tp trace.TracerProvider) *tracing.Tracer {
	tb.Helper()
	return newTracer(tb, tracing.Config{TracerProvider: tp})
}
