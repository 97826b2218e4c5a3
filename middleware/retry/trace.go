package retry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard/switchyard/middleware/tracing"
	"github.com/switchyard/switchyard/outcome"
)

// Span events, added to trace.SpanFromContext of the caller's context.
// Each carries a "reason" attribute (the [outcome.Class] of the error
// that was, or would have been, retried, such as "server_failure"), an
// "attempt" attribute and, where a backoff was drawn, "backoff_ms".
const (
	// EventRetry: a retry was granted; attempt is the attempt about to be
	// made.
	EventRetry = "switchyard.retry.attempt"
	// EventBudgetExhausted: the Budget refused a retry.
	EventBudgetExhausted = "switchyard.retry.budget_exhausted"
	// EventDeadline: a retry was given up because it would not finish
	// before the caller's deadline.
	EventDeadline = "switchyard.retry.deadline_exceeded"
	// EventAttemptsExhausted: the last allowed attempt failed with a
	// retryable error.
	EventAttemptsExhausted = "switchyard.retry.attempts_exhausted"
)

// event records a decision on ctx's span with [tracing.Event]; the check
// first spares the attributes when the span does not record.
func (r *Retry) event(ctx context.Context, name string, class outcome.Class, attempt int, wait time.Duration) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	tracing.Event(ctx, name, class.String(),
		attribute.Int("attempt", attempt),
		attribute.Int64("backoff_ms", wait.Milliseconds()))
}
