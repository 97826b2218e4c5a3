// Package catalog is the shop's catalog service: products with prices in
// integer cents and stock, paged listing, admin-only edits, and the stock
// reservations that the orders service makes and releases.
//
// The package follows go-kit's profilesvc layout: service.go holds the logic
// (no HTTP), endpoints.go the go-kit endpoints, transport.go the HTTP
// routes, store.go the Store interface and its SQLite implementation,
// store_postgres.go its PostgreSQL implementation (with migrations/),
// catalogtest the suite every Store passes, seed.go the catalog a new database starts with, and run.go the wiring
// that "ecommerce serve catalog" runs.
//
// # Reservations
//
// A reservation holds stock for one order id:
//
//   - It is atomic across all its items: one IMMEDIATE transaction takes
//     each item with UPDATE products SET stock = stock - q WHERE id = ? AND
//     stock >= q, and the first item that cannot be taken rolls the whole
//     reservation back (409 out_of_stock, or 404 product_not_found).
//     Stock is never read and written back, so concurrent reservations,
//     from any number of replicas, never oversell; a CHECK constraint keeps
//     stock from going negative even if a bug tried.
//   - It is idempotent per order id: reserving again returns the first
//     reservation (same items and prices) and takes nothing.
//   - Items naming one product twice are merged; each reserved item records
//     the unit price at reservation time.
//   - Release (DELETE /v1/reservations/{order_id}) returns the stock once;
//     releasing again changes nothing and still answers 200. Releasing an
//     order id that never reserved leaves a released marker, so that a
//     reservation arriving late for that id (a retry that lost the race with
//     the compensation) fails with 409 reservation_released instead of
//     taking stock that no order will ever account for. An order id is
//     therefore good for one reservation: after a release, use a new one.
//
// # On PostgreSQL
//
// With --db the catalog keeps its tables in schema catalog of a PostgreSQL
// database ([PostgresStore]), and any number of replicas, on any hosts, share
// it. The invariants above hold there too, with transactions at READ
// COMMITTED, PostgreSQL's default, and guarded statements instead of a
// stronger isolation level:
//
//   - No oversell: each item is taken with the same guarded decrement,
//     UPDATE products SET stock = stock - q WHERE id = $1 AND stock >= q.
//     An UPDATE that meets a row being changed by another transaction waits
//     for it and then evaluates its WHERE clause again against the row as
//     that transaction committed it, so the guard always sees the current
//     stock. SERIALIZABLE would give no more safety here and would cost a
//     great deal: every pair of concurrent orders of one product would fail
//     one of them with a serialization error to be retried, which on a
//     popular product means most orders run several times.
//   - One reservation per order id: Reserve's first statement inserts the
//     order id's row with ON CONFLICT DO NOTHING. The primary key makes
//     that a claim — a concurrent insert of the same id waits for the first
//     to commit — and only the transaction whose insert landed takes stock;
//     the others return what it reserved. Release starts the same way,
//     inserting a released marker, so a release racing a reservation of the
//     same id either finds the committed reservation and returns its stock
//     (once: UPDATE … SET released_at WHERE released_at IS NULL matches for
//     one release only), or leaves the marker that refuses the reservation.
//   - Short locks: every order of a popular product queues for that
//     product's row lock, so Reserve and Release send all their statements
//     in one batch (one network round trip) and commit at once; the lock is
//     held for about two round trips, not one per statement.
//   - Deadlocks: Reserve locks products in id order. Release puts back the
//     stock of all its products in one statement, whose order PostgreSQL
//     chooses; should a release of several products and a reservation
//     deadlock, PostgreSQL aborts one of them (SQLSTATE 40P01) and it is
//     run again, as is a serialization failure (40001), a bounded number of
//     times.
//
// The suite in catalogtest checks all of this with two stores on separate
// connection pools, as two replicas have.
//
// # Listing
//
// GET /v1/products returns products ordered by id, limit default 50, at most
// 200 (anything else is 400); next_cursor is an opaque string (the last id
// in base64url) to pass as ?cursor=, empty on the last page.
package catalog
