// Package gateway is a reusable API gateway: a route table that maps
// request paths to services, and a reverse proxy that sends each request to
// an instance chosen by a balancer that follows the service in discovery.
//
// Routes use net/http's ServeMux patterns ("GET /api/v1/products/{id}",
// "/api/v1/orders/", "/static/{path...}") and may rewrite the upstream path
// from the pattern's wildcards ("/products/{id}"). Each route carries its
// own policies as ordinary HTTP middleware (auth, rate limit, deadline,
// CORS, fault injection), and the gateway adds what every route needs:
//
//   - upstreams only from the registry: the outbound scheme, host and port
//     come from a discovered instance, never from the request, so absolute
//     URLs, Host headers and encoded paths cannot steer the proxy elsewhere;
//   - hop-by-hop headers (including those a client names in Connection)
//     removed, and X-Forwarded-For/-Host/-Proto rebuilt from the connection
//     rather than trusted from the client;
//   - a body size limit (413), and a JSON error body for every failure the
//     gateway itself generates: 404 no route, 502 upstream failed, 503 no
//     healthy upstream, 504 deadline exceeded;
//   - per-instance outlier detection through the balancer, and retries on
//     another instance for idempotent requests that failed before any
//     response byte was sent, under a shared retry budget;
//   - a tuned, shared http.Transport and pooled copy buffers.
//
// The proxy is net/http/httputil.ReverseProxy with Rewrite (never
// Director).
package gateway
