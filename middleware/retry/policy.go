package retry

import (
	"context"
	"net/http"

	"github.com/switchyard/switchyard/outcome"
)

// CheckRetry decides whether a failed attempt is worth retrying. ctx is
// the caller's context (not the attempt's), req the request given to the
// endpoint (an *http.Request for [Retry.Transport]), attempts the number
// of attempts made so far (1 after the first), class what the
// [Config.Classifier] made of err, and err the attempt's error, never nil.
// For [Retry.Transport], a response with status 429 or 5xx arrives as a
// [*outcome.StatusError].
//
// A CheckRetry only answers "is this failure worth retrying"; the attempt
// limit, the [Budget], the backoff and the caller's deadline are enforced
// around it, and a call whose caller's context is done, or whose error is
// marked with outcome.Abort, is never retried whatever it says. It must be
// safe for concurrent use.
type CheckRetry func(ctx context.Context, req any, attempts int, class outcome.Class, err error) bool

// DefaultCheckRetry retries a call when class is [outcome.ServerFailure]
// (a timeout, a connection error, a 5xx under outcome.Default) or
// [outcome.Skipped] (a local guard such as an instance's open breaker
// refused it), and the call is idempotent according to [IsIdempotent].
func DefaultCheckRetry(ctx context.Context, req any, _ int, class outcome.Class, _ error) bool {
	switch class {
	case outcome.ServerFailure, outcome.Skipped:
		return IsIdempotent(ctx, req)
	}
	return false
}

// IdempotencyKeyHeader is the HTTP header that makes a POST or PATCH safe
// to retry: the server promises to apply a request with a given key at
// most once.
const IdempotencyKeyHeader = "Idempotency-Key"

// IdempotentRequest may be implemented by endpoint requests that know
// whether they are safe to send twice. [IsIdempotent] asks it.
type IdempotentRequest interface {
	Idempotent() bool
}

type (
	idempotentKey     struct{}
	idempotencyKeyKey struct{}
)

// MarkIdempotent returns a copy of ctx marking its call as safe to
// repeat, so that [DefaultCheckRetry] retries it.
func MarkIdempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey{}, true)
}

// ContextWithIdempotencyKey returns a copy of ctx carrying key, the
// idempotency key of its call. A call with a non-empty key is safe to
// repeat, and [Retry.Transport] sends the key as [IdempotencyKeyHeader]
// when the request has none.
func ContextWithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKeyKey{}, key)
}

// IdempotencyKeyFromContext returns the key set by
// [ContextWithIdempotencyKey], if any.
func IdempotencyKeyFromContext(ctx context.Context) (string, bool) {
	k, ok := ctx.Value(idempotencyKeyKey{}).(string)
	return k, ok && k != ""
}

// IsIdempotent reports whether the call of ctx and req may be sent more
// than once. It is true when ctx was marked by [MarkIdempotent] or carries
// a key from [ContextWithIdempotencyKey]; otherwise, when req implements
// [IdempotentRequest], it is its answer; when req is an *http.Request, it
// is true for GET, HEAD, OPTIONS, PUT and DELETE, and for POST and PATCH
// only with an [IdempotencyKeyHeader]. Anything else is not idempotent.
func IsIdempotent(ctx context.Context, req any) bool {
	if v, _ := ctx.Value(idempotentKey{}).(bool); v {
		return true
	}
	if _, ok := IdempotencyKeyFromContext(ctx); ok {
		return true
	}
	switch r := req.(type) {
	case IdempotentRequest:
		return r.Idempotent()
	case *http.Request:
		return idempotentHTTP(r)
	}
	return false
}

func idempotentHTTP(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, "":
		return true // "" is GET for an outgoing request
	case http.MethodPost, http.MethodPatch:
		return r.Header.Get(IdempotencyKeyHeader) != ""
	}
	return false
}

// Context marks for "one retry layer per call path" and "one deposit per
// call". layerKey holds the *layer of the retry layer making the attempt,
// depositKey the *Budget deposited into (possibly nil).
type (
	layerKey   struct{}
	depositKey struct{}
)

// layer marks an attempt of a retry layer: the layer's budget, and whether
// the attempt is the layer's last. The endpoint middleware makes its two
// marks once, so marking an attempt costs one context value; the HTTP
// transport's attempts share one mark per call, which asks call how many
// attempts were made.
type layer struct {
	budget *Budget
	final  bool
	call   *httpCall // the call of the HTTP transport, or nil
}

// Active reports whether a retry layer (a [Retry]'s face) is
// already retrying the call carried by ctx. An inner retry layer that
// sees it makes exactly one attempt, so that retries never multiply
// (3 attempts around 3 attempts would be 9).
func Active(ctx context.Context) bool {
	_, ok := ctx.Value(layerKey{}).(*layer)
	return ok
}

// FinalAttempt reports whether the attempt carried by ctx is the last the
// call can get: no retry layer (a [Retry]'s face) is on its call path, or
// the one that is has made all but one of its [Config.MaxAttempts]
// attempts, so none will follow this one. It is false for an attempt that
// may be followed by another, which the retry layer may still decline to
// make once the attempt has failed ([CheckRetry], the [Budget] or the
// caller's deadline may say no).
//
// It is what a per-attempt timeout asks (transport/http's): cutting an
// attempt short is worth it only when another may follow; the last one is
// better left to run until the caller's deadline, so that a call that is
// merely slow is still answered.
func FinalAttempt(ctx context.Context) bool {
	l, ok := ctx.Value(layerKey{}).(*layer)
	return !ok || l.final || l.call != nil && l.call.lastAttempt()
}

// deposited reports whether a layer further out on ctx's call path has
// already deposited into b.
func deposited(ctx context.Context, b *Budget) bool {
	if l, ok := ctx.Value(layerKey{}).(*layer); ok && l.budget == b {
		return true
	}
	v, ok := ctx.Value(depositKey{}).(*Budget)
	return ok && v == b
}

// Enter deposits the call carried by ctx into b, unless a layer further
// out on the same call path already deposited it into b, and returns ctx
// marked so that layers further in do not deposit it again. It lets
// several layers share one Budget (a retry middleware around a hedging
// middleware, say) while each call counts once. middleware/hedge uses it;
// a [Retry]'s faces do the same thing internally.
func (b *Budget) Enter(ctx context.Context) context.Context {
	if b == nil || deposited(ctx, b) {
		return ctx
	}
	b.Deposit()
	return context.WithValue(ctx, depositKey{}, b)
}

// enterLayer deposits the call carried by ctx into b, unless a layer
// further out already did. The retry layer then marks each attempt's
// context with its *layer, which tells layers further in of the deposit.
func (b *Budget) enterLayer(ctx context.Context) {
	if !deposited(ctx, b) {
		b.Deposit()
	}
}
