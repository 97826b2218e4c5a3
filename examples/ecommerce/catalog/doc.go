// Package catalog is the shop's catalog service: products with prices in
// integer cents and stock, paged listing, admin-only edits, and the stock
// reservations that the orders service makes and releases.
//
// The package follows go-kit's profilesvc layout: service.go holds the logic
// (no HTTP), endpoints.go the go-kit endpoints, transport.go the HTTP
// routes, store.go the Store interface and its SQLite implementation,
// seed.go the catalog a new database starts with, and run.go the wiring
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
// # Listing
//
// GET /v1/products returns products ordered by id, limit default 50, at most
// 200 (anything else is 400); next_cursor is an opaque string (the last id
// in base64url) to pass as ?cursor=, empty on the last page.
package catalog
