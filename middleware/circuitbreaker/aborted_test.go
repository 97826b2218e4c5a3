package circuitbreaker_test

import (
	"net/http"
	"testing"

	"github.com/switchyard/switchyard/internal/brokenreq"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/outcome"
)

// TestHandlerDoesNotCountRequestsTheClientBroke sends requests with broken
// framing, truncated, oversized and abandoned bodies over raw sockets to a
// handler that answers 500 when it cannot read its body. The breaker, set to
// trip at the first failure, counts none of them and stays closed; a
// well-formed request then goes through.
func TestHandlerDoesNotCountRequestsTheClientBroke(t *testing.T) {
	for _, c := range brokenreq.Cases("/login") {
		t.Run(c.Name, func(t *testing.T) {
			var rec brokenreq.Recorder
			b := newBreaker(t, "users", circuitbreaker.Config{ConsecutiveFailures: 1, Classifier: rec.Classify})
			addr, wait := brokenreq.Serve(t, b.Handler(brokenreq.Naive))
			for range 3 {
				if status := brokenreq.Send(t, addr, c); status >= 500 && status != http.StatusInternalServerError {
					t.Fatalf("answered %d", status)
				}
			}
			wait(3)
			if n := rec.Count(outcome.ServerFailure); n != 0 {
				t.Fatalf("the breaker classified %d server failures (%v)", n, &rec)
			}
			if got := b.Counts(); got.Failures != 0 || b.State() != circuitbreaker.Closed {
				t.Fatalf("breaker %v with counts %+v, want closed with no failures", b.State(), got)
			}
			if status := brokenreq.Good(t, addr, "/login"); status != http.StatusOK {
				t.Fatalf("a well-formed request answered %d", status)
			}
		})
	}
}
