// Package sqlite opens the services' SQLite databases: [Open] applies the
// shop's connection settings (WAL, busy timeout, foreign keys, BEGIN
// IMMEDIATE), brings the schema up to date with numbered [Migration] steps
// exactly once even when several processes start together, and keeps the
// files private; [DB.WriteTx] runs write transactions one at a time per
// process.
package sqlite
