// Package orders is the shop's orders service: it places orders exactly once
// per idempotency key, reserving their stock in the catalog service, and lets
// each user read and cancel their own orders.
//
// The package follows go-kit's profilesvc layout: service.go holds the
// business logic behind the [Service] interface (domain values and errors,
// no HTTP), endpoints.go the go-kit endpoints, transport.go the HTTP
// binding (with [EncodeError], which maps the service's errors to statuses
// and codes), store.go the [Store] interface and its SQLite
// implementation, store_postgres.go its PostgreSQL implementation (with
// migrations/), orderstest the suite every Store passes, replay.go the idempotent replay (a key's [Answer] and how
// later requests get it), clients.go the users and catalog clients (the
// library's full client chain), sweeper.go the background [Sweeper], and
// run.go [Run], which "ecommerce serve orders" calls.
//
// # HTTP API
//
//	POST /v1/orders               Bearer token, Idempotency-Key, {"items":[{"product_id","quantity"}]}
//	                              → 201 order; replays of the key answer the stored first response
//	GET  /v1/orders?limit=&cursor= → 200 {"orders":[…],"next_cursor":"…"}, own orders, newest first
//	GET  /v1/orders/{id}          → 200 order; 404 when missing or another user's
//	POST /v1/orders/{id}/cancel   → 200 order with status "cancelled"; idempotent
//
// An order is {id,user_id,status,items:[{product_id,quantity,price_cents}],
// total_cents,created_at}; errors are {"error":{"code","message"}}.
//
// # Placing an order exactly once
//
// The client names each attempt to place an order with an Idempotency-Key
// header (1 to 200 printable ASCII characters). The service claims the pair
// (user, key) atomically in the idempotency_keys table, together with a
// SHA-256 hash of the canonical request (items merged by product and sorted)
// and an order id chosen at claim time. A claim is "in_flight", held by one
// attempt number under a lease (DefaultLease, 15 s), until it becomes "done"
// with its [Answer] (the order as placed, or the refusal) in the same
// transaction that inserts the order. The service returns that answer to
// every later request with the key, and the transport writes it with the
// same encoder as the first time, adding Idempotent-Replayed: true. Then:
//
//   - the same key and body again: the first response, byte for byte;
//   - the same key and another body: 422 idempotency_key_reused;
//   - the same key while the first attempt is in flight: 409
//     request_in_progress (Retry-After: 1);
//   - the same key after the lease ran out without an answer (the instance
//     holding it crashed): the retry takes the claim over with the next
//     attempt number and the same order id, so the catalog, whose
//     reservations are idempotent per order id, does not reserve twice.
//
// Every write on a claim names its attempt number, so an attempt that lost
// its claim to a takeover can neither complete nor free it. Stock is
// released only once no claim can use the order id any more: the claim is
// deleted together with an entry in the pending_releases table in one
// transaction, and the release is then sent to the catalog — at once, and
// again by the [Sweeper] until the catalog confirms it. The sweeper also
// abandons claims left in flight for longer than the lease plus a grace
// period (default another lease), releasing whatever they reserved.
//
// Out of stock is a final answer: it is stored as the key's [Answer]. Any
// other failure frees the claim (releasing stock if a reservation may have
// been made), so that a retry with the same key starts afresh.
//
// # On PostgreSQL
//
// With --db the service keeps its tables in schema orders of a PostgreSQL
// database ([PostgresStore]), shared by replicas on any hosts. On SQLite
// every write transaction holds the database's one write lock, so each runs
// as if alone. The PostgreSQL store keeps exactly that guarantee by running
// every write transaction at SERIALIZABLE: PostgreSQL then lets
// transactions overlap but commits only those whose combined effect equals
// some one-at-a-time order, and fails the others with a serialization
// failure (SQLSTATE 40001), which pg.Tx answers by running the transaction
// again from the start, up to pg.MaxAttempts times, after a short jittered
// pause. That is what keeps one order per idempotency key: when two
// replicas claim one key at once, both find no row, both insert, and one of
// them fails at that insert; its retry finds the claim and reports it busy
// or done. It also keeps the read-then-write steps — taking over a claim
// whose lease ended, EnqueueOrphanRelease's "no order and no claim uses this
// id", AbandonStale — from acting on a state another replica has just
// changed, without an argument per statement about which rows are locked.
//
// SERIALIZABLE is cheap here because the service's transactions rarely
// touch the same rows: a claim is one user's key, an order one user's order.
// Conflicts are almost always genuine races on one key — exactly the cases
// that must be decided one way — and cost one retry. (The catalog, whose
// transactions all meet on the same few products, chooses differently; see
// its package documentation.) Single-statement reads run at READ COMMITTED,
// which gives each statement a consistent snapshot. The suite in orderstest
// checks the claims, takeovers and cancellations with two stores on separate
// connection pools, as two replicas have.
package orders
