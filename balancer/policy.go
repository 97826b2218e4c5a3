package balancer

import (
	"context"
	"time"
)

// Policy builds pickers. A Balancer calls Build each time its set of
// eligible hosts changes.
type Policy interface {
	// Name identifies the policy in metrics and logs, e.g. "p2c".
	Name() string
	// Build returns a picker over hosts. hosts is sorted by instance ID,
	// holds at least one host, and is never modified afterwards; the picker
	// may keep it.
	Build(hosts []*Host) Picker
}

// Picker chooses a host for one call. Pickers are immutable snapshots and
// must be safe for concurrent use; Pick should neither lock nor allocate.
type Picker interface {
	// Pick returns one of the hosts the picker was built with. It never
	// returns nil.
	Pick(ctx context.Context) *Host
}

// PickerFunc adapts a function to [Picker].
type PickerFunc func(ctx context.Context) *Host

// Pick calls f(ctx).
func (f PickerFunc) Pick(ctx context.Context) *Host { return f(ctx) }

// Observer is implemented by policies that learn from call outcomes, such
// as peak-EWMA. The balancer calls Observe after every call through it,
// after the host's in-flight count has been decremented.
type Observer interface {
	Observe(h *Host, latency time.Duration, now int64, failed bool)
}

type keyCtx struct{}

// WithKey returns a context carrying the hashing key that consistent-hash
// policies use to choose an instance, such as a user or cart ID.
func WithKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, keyCtx{}, key)
}

// KeyFromContext returns the key set by [WithKey].
func KeyFromContext(ctx context.Context) (string, bool) {
	if ctx == nil {
		return "", false
	}
	k, ok := ctx.Value(keyCtx{}).(string)
	return k, ok
}
