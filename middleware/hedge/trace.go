package hedge

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/switchyard/switchyard/middleware/tracing"
)

// Span events, added to trace.SpanFromContext of the caller's context,
// each with a "reason" attribute, the backup's number as "hedge" and the
// delay in force as "delay_ms".
const (
	// EventFired: a backup request was sent (reason "delay").
	EventFired = "switchyard.hedge.fired"
	// EventBudgetExhausted: the budget refused a backup (reason
	// "budget_exhausted").
	EventBudgetExhausted = "switchyard.hedge.budget_exhausted"
	// EventWon: a backup's answer was returned (reason "first_answer").
	EventWon = "switchyard.hedge.won"
)

func (h *Hedge) event(ctx context.Context, name, reason string, n int, delay time.Duration) {
	tracing.Event(ctx, name, reason,
		attribute.Int("hedge", n),
		attribute.Int64("delay_ms", delay.Milliseconds()))
}
