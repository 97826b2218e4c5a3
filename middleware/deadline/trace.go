package deadline

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/switchyard/switchyard/middleware/tracing"
)

// Span events, added to trace.SpanFromContext of the request's or the
// caller's context, each with a "reason" attribute and the time that was
// left as "left_ms" (0 or negative when none).
const (
	// EventExceeded: a request was refused or cut short because its
	// deadline passed; reason is [ReasonOnArrival], [ReasonTimeout] or
	// [ReasonBeforeSend].
	EventExceeded = "switchyard.deadline.exceeded"
	// EventBadHeader: a request was refused for a malformed [Header]
	// (reason "malformed").
	EventBadHeader = "switchyard.deadline.bad_header"
)

func event(ctx context.Context, name, reason string, left time.Duration) {
	tracing.Event(ctx, name, reason, attribute.Int64("left_ms", left.Milliseconds()))
}
