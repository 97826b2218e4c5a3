package tracing_test

import (
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/codes"

	"github.com/switchyard/switchyard/internal/brokenreq"
	"github.com/switchyard/switchyard/middleware/tracing"
)

// TestHandlerDoesNotMarkRequestsTheClientBrokeAsErrors sends requests with
// broken framing, truncated, oversized and abandoned bodies over raw
// sockets to a handler that answers 500 when it cannot read its body. No
// server span gets status Error: each carries switchyard.outcome
// "aborted" instead.
func TestHandlerDoesNotMarkRequestsTheClientBrokeAsErrors(t *testing.T) {
	for _, c := range brokenreq.Cases("/login") {
		t.Run(c.Name, func(t *testing.T) {
			tp, rec := newProvider(t)
			addr, wait := brokenreq.Serve(t, tracer(t, tp).Operation("login").Handler(brokenreq.Naive))
			for range 3 {
				brokenreq.Send(t, addr, c)
			}
			if status := brokenreq.Good(t, addr, "/login"); status != http.StatusOK {
				t.Fatalf("a well-formed request answered %d", status)
			}
			wait(4)
			spans := rec.Ended()
			if len(spans) != 4 {
				t.Fatalf("%d spans, want 4", len(spans))
			}
			var aborted int
			for _, s := range spans {
				if s.Status().Code == codes.Error {
					t.Fatalf("span %q has status Error: %v", s.Name(), s.Status())
				}
				if v, ok := attr(s, string(tracing.OutcomeKey)); ok && v.AsString() == "aborted" {
					aborted++
				}
			}
			if aborted != 3 {
				t.Fatalf("%d of 3 broken requests' spans say aborted", aborted)
			}
		})
	}
}
