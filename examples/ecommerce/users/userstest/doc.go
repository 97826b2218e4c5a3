// Package userstest is the conformance suite of users.Store: [Run] checks
// one implementation against the interface's contract, including what must
// hold when several replicas, each with its own connections, use one
// database at once. The users package runs it against its SQLite and
// PostgreSQL stores; a new store passes it too.
package userstest
