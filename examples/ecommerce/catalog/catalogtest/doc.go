// Package catalogtest is the conformance suite of catalog.Store: [Run]
// checks one implementation against the interface's contract, including the
// invariants that must hold when several replicas, each with its own
// connections, reserve and release stock in one database at once: no
// oversell, one reservation per order id, and the stock taken equal to the
// items of the reservations held. The catalog package runs it against its
// SQLite and PostgreSQL stores; a new store passes it too.
package catalogtest
