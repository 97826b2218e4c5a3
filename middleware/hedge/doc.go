// Package hedge sends backup requests for slow idempotent calls, the
// "hedged requests" of Dean and Barroso's "The Tail at Scale": when a call
// has not answered after a delay, the same request goes out again
// (normally to another instance), the first final answer wins and the
// others are cancelled.
//
// [New] builds a [Hedge] from a [Config] whose zero value is the default;
// its face [Hedge.Endpoint] is a go-kit endpoint.Middleware. The delay is
// either fixed ([Config.Delay]) or, by default, the 95th percentile of
// recent latencies ([Config.Percentile]), tracked in a small lock-free
// log-linear histogram, so that about 5 % of calls are hedged. Every backup withdraws one retry from
// the [retry.Budget] shared with the retry middleware and the retrying HTTP
// client of the same upstream: hedging and retrying together stay within
// the budget's share of the traffic, and when it is spent no backup is
// sent. At most [DefaultMaxHedges] (1) backup per call unless
// [Config.MaxHedges] says otherwise. Only idempotent calls are hedged
// ([retry.IsIdempotent]).
//
// A recommended client chain, outermost first: deadline, retry, hedge,
// balancer (with the circuit breaker per instance). Each backup then picks
// its own instance, and a failed call is retried as a whole.
//
// Each backup, refusal by the budget and win is an OpenTelemetry span
// event named switchyard.hedge.<decision> with a reason attribute, and
// calls the optional [Hooks]. Time is the real clock's; the package's
// tests run in testing/synctest bubbles.
package hedge
