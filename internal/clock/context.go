package clock

import (
	"context"
	"errors"
	"time"
)

// WithDeadline is context.WithDeadline driven by c: the returned context is
// done when c reads t or later, or when parent is done.
//
// For [Real] (or a nil c) it is exactly context.WithDeadline. For any other
// clock the context reports the earlier of t and parent's deadline from
// Deadline, and its Err is context.DeadlineExceeded once t has passed on c.
// Contexts derived from it with the context package see their parent's
// expiry as context.Canceled with context.DeadlineExceeded as the cause;
// that difference only shows on fake clocks.
func WithDeadline(parent context.Context, c Clock, t time.Time) (context.Context, context.CancelFunc) {
	return WithDeadlineCause(parent, c, t, nil)
}

// WithDeadlineCause is [WithDeadline] that, when t passes, gives the
// context cause as its context.Cause (as context.WithDeadlineCause does);
// a nil cause means context.DeadlineExceeded. cause should wrap
// context.DeadlineExceeded or be a sentinel the caller checks with
// errors.Is.
func WithDeadlineCause(parent context.Context, c Clock, t time.Time, cause error) (context.Context, context.CancelFunc) {
	if c == nil {
		return context.WithDeadlineCause(parent, t, cause)
	}
	if _, ok := c.(Real); ok {
		return context.WithDeadlineCause(parent, t, cause)
	}
	if cause == nil {
		cause = context.DeadlineExceeded
	}
	inner, cancel := context.WithCancelCause(parent)
	if pd, ok := parent.Deadline(); ok && !pd.After(t) {
		// The parent expires first; its expiry reaches us through inner.
		return &deadlineCtx{Context: inner, deadline: pd}, func() { cancel(context.Canceled) }
	}
	ctx := &deadlineCtx{Context: inner, deadline: t, expired: cause}
	d := t.Sub(c.Now())
	if d <= 0 {
		cancel(cause)
		return ctx, func() { cancel(context.Canceled) }
	}
	stop := c.AfterFunc(d, func() { cancel(cause) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}

// WithTimeout is WithDeadline(parent, c, c.Now().Add(d)).
func WithTimeout(parent context.Context, c Clock, d time.Duration) (context.Context, context.CancelFunc) {
	c = OrReal(c)
	return WithDeadline(parent, c, c.Now().Add(d))
}

// Sleep waits until d has passed on c or ctx is done, whichever comes
// first. It returns nil after a full sleep and ctx.Err() otherwise; a
// non-positive d returns ctx.Err() at once.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	c = OrReal(c)
	done := make(chan struct{})
	stop := c.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		stop()
		return ctx.Err()
	}
}

// deadlineCtx is a cancel context that also reports a deadline kept by a
// non-real clock. Done, Value and cancellation propagation come from the
// embedded context, so the context package still treats it as a cancelable
// parent and starts no goroutine for its children.
type deadlineCtx struct {
	context.Context
	deadline time.Time
	expired  error // the cause given when the deadline passes; nil when the parent's deadline is the one kept
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineCtx) Err() error {
	err := c.Context.Err()
	if errors.Is(err, context.Canceled) {
		if cause := context.Cause(c.Context); errors.Is(cause, context.DeadlineExceeded) || (c.expired != nil && cause == c.expired) {
			return context.DeadlineExceeded
		}
	}
	return err
}
