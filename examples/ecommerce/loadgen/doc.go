// Package loadgen drives the example shop through its gateway at a fixed
// rate and reports what the shop did: "ecommerce loadgen --target URL
// --rate R --duration D [--chaos]".
//
// # What it does
//
// It first signs up a few users (--users) and logs each of them in, then
// lists the catalogue. Then, for --duration, it starts one operation every
// 1/--rate seconds: a share of them (--order-share) place an order of one
// unit of a random product with a fresh Idempotency-Key, a share
// (--login-share, default none) log a user in again, the rest browse
// (list the first page of products, or read one product). One placed order
// in four is cancelled right after, which gives its stock back; that
// follow-up is not counted in the rate.
//
// The scheduler is open-loop: an operation starts at its planned time
// whether or not earlier ones have finished (up to --max-in-flight at once;
// beyond that an operation is dropped and counted), and its latency is
// measured from the planned start, so a shop that stalls shows the stall in
// the percentiles instead of hiding it by slowing the load down
// ("coordinated omission").
//
// An answer 429 is honoured: the operation waits for Retry-After (at most
// 5 s) and tries again. An order that fails with a 5xx, a 409
// request_in_progress or a connection error is sent again with the same
// Idempotency-Key, up to three times, so the shop's idempotency is what
// keeps a retried order from being placed twice; a 409 out_of_stock is a
// final answer, recorded as such, and the product is avoided afterwards.
//
// While it runs, a progress bar on stderr shows the elapsed time,
// operations, errors and requests in flight; at the end a table gives, per
// operation, the count, the successes, p50/p90/p99/max latency and the
// failures by status.
//
// # Chaos
//
// With --chaos, every --chaos-interval the loadgen asks the launcher to kill
// one replica of a random service with SIGKILL. It finds the launcher's
// control API in the registry (--registry, service "launcher"), which "up"
// serves only when started with --chaos itself; the launcher then restarts
// the replica. The kills appear above the progress bar and in the summary,
// so the effect of losing an instance (a few retried orders, a latency
// bump, no lost or duplicated order) can be read off the report.
//
// The control API answers only requests that carry the launcher's secret
// ("Authorization: Bearer …"), and the registry, which anyone who reaches
// etcd can read, does not hold it: the loadgen reads it, before each kill,
// from DATA/chaos-secret (mode 0600), where DATA is --data, the same flag
// and ECOMMERCE_DATA variable as "up"'s. So only the owner of the shop's
// data directory can kill its replicas.
//
// "up" runs the registry and the control API on mutual TLS, with
// certificates of its development CA in DATA/pki. The loadgen presents the
// one "up" issues it (DATA/pki/loadgen.pem, with the CA in DATA/pki/ca.pem)
// to both, accepts the registry only if it holds the registry's identity,
// and the control API only if it holds the launcher's: anything else
// registered as "launcher" (any holder of a shop certificate may write to
// the registry) fails the handshake and is sent nothing, the secret
// included. Without DATA/pki/loadgen.pem it speaks plain HTTP to both.
//
// # HTTPS
//
// An https:// --target is verified against the system's roots and, when
// there is one, the shop's self-signed certificate in
// DATA/pki/public-self-signed.pem ("up --public-tls-self-signed").
//
// # Limits
//
// Everything is bounded: the set-up by 30 s, the run by --duration (at most
// an hour), the last requests by --timeout. The target and the chaos
// control must be loopback addresses (127.0.0.0/8, ::1 or "localhost",
// which is dialled as 127.0.0.1); any other target is refused, the dialler
// refuses non-loopback peers, and redirects are not followed.
package loadgen
