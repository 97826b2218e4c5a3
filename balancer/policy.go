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
// as peak-EWMA: it is how a policy learns that a call it picked a host for
// has ended. The balancer calls Observe after every call through it that
// was not neutral (see outcome.Class.Neutral), after the host's in-flight
// count has been decremented, with the call's latency, the time it ended
// (ns on the balancer's clock, as [Host.Now]) and whether it was a
// server-health failure. A policy keeps what it learns in its own per-host
// state ([Host.SetPolicyData]). Observe must be safe for concurrent use
// and should neither lock nor allocate.
type Observer interface {
	Observe(h *Host, latency time.Duration, now int64, failed bool)
}

type keyCtx struct{}

// ContextWithKey returns a copy of ctx carrying the hashing key that
// consistent-hash policies use to choose an instance, such as a user or
// cart ID.
func ContextWithKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, keyCtx{}, key)
}

// KeyFromContext returns the key set by [ContextWithKey], and whether there
// is one.
func KeyFromContext(ctx context.Context) (string, bool) {
	if ctx == nil {
		return "", false
	}
	k, ok := ctx.Value(keyCtx{}).(string)
	return k, ok
}
