// Package orders is the shop's orders service: it places orders exactly once
// per idempotency key, reserving their stock in the catalog service, and lets
// each user read and cancel their own orders.
//
// The package follows go-kit's profilesvc layout: service.go holds the
// business logic behind the [Service] interface (domain values and errors,
// no HTTP), endpoints.go the go-kit endpoints, transport.go the HTTP
// binding (with [EncodeError], which maps the service's errors to statuses
// and codes), store.go the [Store] interface and its SQLite
// implementation, replay.go the idempotent replay (a key's [Answer] and how
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
package orders
