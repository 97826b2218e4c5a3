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
//   - with Config.UpstreamTLS, mutual TLS to every upstream (HTTPS
//     whatever the registry says, a connection pool per service), so that
//     an instance that does not hold the identity of the service it was
//     resolved as — a forged registration — is refused at the handshake,
//     receives no request, and is ejected;
//   - hop-by-hop headers (including those a client names in Connection)
//     removed, client-supplied identity headers removed, and
//     X-Forwarded-For/-Host/-Proto rebuilt from the connection and the
//     resolved client address rather than trusted from the client;
//   - a body size limit (413), and a JSON error body for every failure the
//     gateway itself generates: 404 no route, 502 upstream failed, 503 no
//     healthy upstream, 504 deadline exceeded;
//   - per-instance outlier detection through the balancer, and retries on
//     another instance for idempotent requests that failed before any
//     response byte was sent, under a shared retry budget; each request
//     tells the balancer which instances its attempts went to
//     (balancer.TriedHosts), so a retry goes to one it has not tried
//     whenever one is eligible, whatever the policy;
//   - a tuned, shared http.Transport and pooled copy buffers, and
//     Config.WrapTransport to put RoundTrippers (a per-host breaker,
//     client tracing) around each service's transport, TLS or not.
//
// # Client address
//
// The gateway's outermost layer resolves each request's client once. A
// peer that is not a trusted proxy (Config.TrustedProxies; the default
// trusts none) is the client, whatever headers it sent. A trusted peer's
// X-Forwarded-For (or the header set by Config.ClientIPHeader) is walked
// from the right: each trusted address is skipped, and the first untrusted
// one is the client. A malformed, obfuscated or "unknown" entry stops the
// walk and the client is the last trusted hop, the furthest address the
// chain vouches for; when every entry is trusted the leftmost is the
// client. Only the rightmost 32 entries are read. The client becomes the
// request's RemoteAddr (port 0 when unknown) and [ClientAddrFromContext]
// for everything inside the gateway (route middleware such as per-IP rate
// limits, Config.Middleware access logs) and the upstream's
// X-Forwarded-For, which holds the client alone.
//
// Before routing, the layer removes the headers a client could use to
// claim an identity: every X-Forwarded-* header, Forwarded, X-Real-Ip,
// X-Client-Ip, Client-Ip, True-Client-Ip, X-Cluster-Client-Ip,
// Cf-Connecting-Ip, Fastly-Client-Ip, X-Original-Forwarded-For and the
// names given to Config.StrippedHeaders, matched regardless of case and of
// '_' written for '-'. Upstreams see only what the gateway sets. The
// scheme and host the upstream sees (X-Forwarded-Proto, -Host) are the
// gateway's own connection's, also behind a trusted proxy.
//
// The proxy is net/http/httputil.ReverseProxy with Rewrite (never
// Director).
package gateway
