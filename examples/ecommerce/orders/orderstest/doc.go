// Package orderstest is the conformance suite of orders.Store: [Run] checks
// one implementation against the interface's contract, including the
// invariants that must hold when several replicas, each with its own
// connections, use one database at once: an idempotency key is claimed by
// one attempt at a time and yields at most one order, a fenced attempt can
// neither complete nor free a claim, and a cancelled order's release is
// queued once. The orders package runs it against its SQLite and PostgreSQL
// stores; a new store passes it too.
package orderstest
