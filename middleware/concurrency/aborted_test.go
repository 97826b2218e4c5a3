package concurrency_test

import (
	"net/http"
	"testing"

	"github.com/switchyard/switchyard/internal/brokenreq"
	"github.com/switchyard/switchyard/middleware/concurrency"
	"github.com/switchyard/switchyard/outcome"
)

// TestHandlerDoesNotLearnFromRequestsTheClientBroke sends requests with
// broken framing, truncated, oversized and abandoned bodies over raw
// sockets to a handler that answers 500 when it cannot read its body. The
// adaptive limiter classifies each as the caller's (aborted or canceled),
// never as a server failure, keeps its limit and frees every slot; a
// well-formed request then goes through and is learnt from.
func TestHandlerDoesNotLearnFromRequestsTheClientBroke(t *testing.T) {
	for _, c := range brokenreq.Cases("/orders") {
		t.Run(c.Name, func(t *testing.T) {
			var rec brokenreq.Recorder
			l := newLimiter(t, concurrency.Config{Adaptive: concurrency.Adaptive{Initial: 8}, Classifier: rec.Classify})
			addr, wait := brokenreq.Serve(t, l.Handler(brokenreq.Naive))
			for range 3 {
				brokenreq.Send(t, addr, c)
			}
			wait(3)
			if n := rec.Count(outcome.ServerFailure) + rec.Count(outcome.Success); n != 0 {
				t.Fatalf("the limiter learnt from %d broken requests (%v)", n, &rec)
			}
			if n := rec.Count(outcome.Aborted) + rec.Count(outcome.Canceled); n != 3 {
				t.Fatalf("%d of 3 broken requests were neutral (%v)", n, &rec)
			}
			if l.Limit() != 8 || l.InFlight() != 0 {
				t.Fatalf("limit %d, in flight %d; want 8 and 0", l.Limit(), l.InFlight())
			}
			if status := brokenreq.Good(t, addr, "/orders"); status != http.StatusOK {
				t.Fatalf("a well-formed request answered %d", status)
			}
			wait(4)
			if rec.Count(outcome.Success) != 1 {
				t.Fatalf("the well-formed request was not learnt from (%v)", &rec)
			}
		})
	}
}
