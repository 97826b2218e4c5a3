// Package e2e holds the shop's end-to-end tests; it has no code of its own.
//
// The tests (package e2e_test) build the real ecommerce binary once, start
// "ecommerce up" on free loopback ports with a temporary data directory and
// drive the REST API through the gateway over HTTP, as a client of the shop
// would: the happy path, oversell under concurrent orders, idempotency keys,
// broken object-level authorisation, forged tokens, an orders replica killed
// with SIGKILL under load, and a restart of the whole shop on the same data.
// After each scenario they check the shop's central invariant: the stock the
// catalog holds reserved equals the items of confirmed orders.
//
// They need Linux (/proc, to find the shop's processes) and the go command,
// and are skipped with -short.
package e2e
