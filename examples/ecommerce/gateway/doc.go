// Package gateway is the example shop's front door, "ecommerce serve
// gateway": the shop's REST API on the library's transport/gateway, the
// storefront page and the admin dashboard.
//
// # Routes
//
//	POST  /api/v1/users                 → users   /v1/users            rate-limited per IP
//	POST  /api/v1/login                 → users   /v1/login            rate-limited per IP
//	GET   /api/v1/me                    → users   /v1/me               token
//	GET   /api/v1/products[/{id}]       → catalog /v1/products[/{id}]
//	POST  /api/v1/products              → catalog /v1/products         token, admin
//	PATCH /api/v1/products/{id}         → catalog /v1/products/{id}    token, admin
//	POST  /api/v1/orders                → orders  /v1/orders           token
//	GET   /api/v1/orders[/{id}]         → orders  /v1/orders[/{id}]    token
//	POST  /api/v1/orders/{id}/cancel    → orders  /v1/orders/{id}/cancel token
//	GET   /                             storefront page
//	GET   /admin/                       admin dashboard page
//	GET   /admin/api/state              dashboard data                 token, admin
//	GET   /healthz /readyz /metrics     probes and Prometheus metrics
//
// Catalog's reservation API is service-to-service and has no route.
//
// # Policies at the edge
//
// A protected route checks the bearer token before any upstream is called:
// the token must be an EdDSA JWT from the users service, whose keys the
// gateway fetches through discovery (authn.NewVerifier), with the shop's
// issuer and audience and an exp claim; otherwise the answer is 401. Product
// changes also need role "admin" in the token (403 otherwise, again without
// calling catalog); catalog checks both once more, and every service verifies
// the forwarded Authorization header itself. Sign-up and login are limited
// per client IP (429 with Retry-After beyond the rate). Every request gets a
// deadline (the X-Switchyard-Deadline-Ms header if the caller sent one,
// 10 s otherwise) that travels on to the services, shrinking at each hop.
//
// Upstream calls go through transport/gateway: instances only from the
// registry, peak-EWMA P2C with outlier detection, retries on another
// instance for idempotent requests (GETs, and POSTs that carry an
// Idempotency-Key) under a retry budget, plus one circuit breaker per
// instance in the outbound transport, whose state the dashboard shows.
//
// # TLS
//
// Given --tls-cert, --tls-key and --tls-ca (the gateway's certificate,
// spiffe://<trust domain>/gateway, and the shop's CA), the gateway reaches
// the registry and every service over mutual TLS: each upstream service
// has its own TLS transport, and an instance is refused at the handshake,
// before a byte of the request is sent, unless its certificate carries
// the ID of the service it was resolved as — a forged registration
// serves nothing and is ejected. The tracing, deadline, breaker and
// dashboard layers wrap each service's TLS transport
// (transport/gateway's Config.WrapTransport), and the dashboard probes
// each instance's /readyz over HTTPS with the gateway's certificate.
// Without them it speaks plain HTTP to the services and logs a warning.
//
// The public side is separate: with --public-tls-cert and --public-tls-key
// the gateway serves HTTPS with HTTP/2 (TLS 1.2 or later, the files
// re-read when they change) and sends Strict-Transport-Security ([HSTS]);
// without them it serves plain HTTP, meant for loopback, and sends none.
//
// # Pages
//
// The storefront (GET /) and the dashboard (GET /admin/) are plain HTML,
// CSS and JavaScript embedded in the binary (web/), with no build step and
// no request to any other origin; a Content-Security-Policy of 'self' holds
// them to that. The storefront lists products, signs up and logs in (the
// token is kept in the browser's localStorage), keeps a cart, places orders
// with an Idempotency-Key that is reused if the same checkout is retried,
// and lists and cancels the user's orders. The dashboard asks for an admin
// login and then polls GET /admin/api/state every 2 s: each upstream's
// instances with their readiness (probed at /readyz), ejection and panic
// state, breaker state, in-flight and request counts, and the gateway's
// request counts per route.
package gateway
