// Package pg opens the services' PostgreSQL databases: [Open] connects a
// pgxpool.Pool whose connections all work in one schema (users, catalog or
// orders), creates the schema if needed and brings it up to date with
// numbered [Migration] steps recorded in that schema's schema_migrations
// table, exactly once even when several replicas start together; [Tx] runs a
// transaction at a chosen isolation level and retries it when PostgreSQL
// reports a serialization failure or a deadlock.
//
// It is the PostgreSQL counterpart of package sqlite: the same services
// keep the same data behind the same store interfaces, and the choice
// between them is made by the --db flag.
package pg
