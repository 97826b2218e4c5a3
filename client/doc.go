// Package client is Switchyard's client chain: one value, an [Endpoint],
// that calls one operation of one service through everything a call
// between services needs — discovery, balancing with outlier detection, a
// circuit breaker per instance, retries under a budget, a per-attempt
// timeout learnt from latency, deadline propagation and tracing — in a
// documented order.
//
// The chain is transport-agnostic: [New] takes a balancer.Factory that
// turns each discovered instance into an endpoint (transport/http's
// NewFactory for HTTP), and a [Config] whose every field is one layer.
// The zero Config is every layer on with its defaults; a layer is left out
// with its Off field, which cannot be mistaken for a default:
//
//	ep, err := client.New(ctx, resolver, "catalog", shttp.NewFactory(...), client.Config{
//		Operation:  "catalog.get",
//		Idempotent: true,
//		Timeout:    2 * time.Second,
//		Retry:      client.Retry{Budget: shared},
//		Tracing:    client.Tracing{Off: true},
//	})
//
// # Layers
//
// First is outermost:
//
//	tracing               one client span per call; every decision below is an event on it
//	timeout               Config.Timeout: a deadline for calls whose context has none
//	deadline.Endpoint     fails fast when no time is left; a failure past the deadline is a 504
//	extra middleware      Config.Middleware, in the order given
//	retry.Retry           attempts ≤ 3, full-jitter backoff, shared Budget, idempotent calls only
//	attempt timeout       idempotent calls: each attempt but the last bounded by k × p99 of observed latency (AttemptTimeout)
//	balancer.Call         picks an instance per attempt (peak-EWMA P2C), outlier detection
//	circuitbreaker.Group  one breaker per instance (Group.Factory)
//	factory endpoint      the transport's client for the instance (transport/http.NewFactory)
//	                      ▲ instances come from a discovery.Resolver watch
//
// The order matters: the deadline is set and checked once, outside the
// retries, which stop at it (the factory's requests carry what is left of
// it to the server, so the server stops too); retries sit outside the
// balancer so that each attempt may pick another instance and the budget
// counts calls, not attempts; breakers sit inside it, one per instance,
// so that one sick instance opens its own breaker and not the service's;
// their rejections are neutral to outlier detection
// (circuitbreaker.SkipRejections) but retried elsewhere; the per-attempt
// timeout sits between retry and balancer, so that an attempt cut off by
// it counts against its instance (see [AttemptTimeout]) and the retry
// tries another, and so that the retry layer can tell it which attempt is
// the last (retry.FinalAttempt), which it leaves to the caller's deadline;
// the span is outermost so that retries, ejections and trips land on it.
//
// # Fault attribution
//
// For an idempotent call, a 5xx answer, a connection error or an attempt
// timeout from one instance is retried on another, within the retry budget
// and the caller's deadline, and the caller sees the retry's answer. Each
// call the retry layer may retry is carried, between it and the balancer,
// with the instances its attempts went to (balancer.TriedHosts), so a
// retry goes to an instance the call has not tried whenever one is
// eligible, whatever the policy: not back to the one whose breaker just
// refused it, nor, under ring hash, to the key's sick owner. The layers
// in between — a CheckRetry of the caller's, the breakers, the factory's
// endpoint — see the caller's request as given. An attempt cut off by its own timeout
// ends with the cause outcome.ErrTimeout, so it counts against the
// instance although its context is done. An error the caller caused — a
// 4xx, its cancellation or deadline, a request body that could not be
// read (outcome.Aborted) — is never retried nor counted against an
// instance, and a breaker's rejection (outcome.Skipped) never reached the
// instance.
//
// A call is idempotent when [Config.Idempotent] says every call is, or
// when retry.IsIdempotent says this one is (retry.MarkIdempotent,
// retry.ContextWithIdempotencyKey, retry.IdempotentRequest). Other calls
// are made once, with no attempt timeout.
//
// # Cost
//
// A call through the whole chain to an in-process endpoint makes at most
// three allocations (bench: BenchmarkClientChain); the record of the
// instances tried is recycled, and the per-attempt timeout costs nothing
// until the transport first asks for the attempt's deadline.
//
// See docs/client.md for the whole picture.
package client
