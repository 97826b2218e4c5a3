// Package http is Switchyard's HTTP transport: server helpers on go-kit's
// transport/http, the client factory, the JSON codec and error body, and
// health probes.
//
// The package is named http, like go-kit's, because it is the HTTP binding
// of the library. Import it under an alias beside net/http; the convention
// is shttp:
//
//	import (
//		"net/http"
//
//		shttp "github.com/switchyard/switchyard/transport/http"
//	)
//
// # Server
//
// [NewServer] returns an *http.Server whose timeouts and header limit are
// set (net/http's zero values mean "no limit", which lets one slow client
// hold a connection open forever), and whose handler rejects bodies above
// [DefaultMaxBodyBytes] with 413 without reading them. [NewHandler] is
// go-kit's NewServer with [EncodeError] as its error encoder, so every
// failure answers {"error":{"code":"…","message":"…"}}. [DecodeJSONRequest]
// and [JSONDecoder] read a request body into a request struct: the body
// size is capped, malformed JSON is a 400, unknown fields are ignored.
// [Error] is the typed error a service returns to choose the status, code
// and message its caller sees; any other error becomes a 500 whose message
// reveals nothing.
//
// # Client
//
// [NewFactory] is a balancer.Factory: it turns each discovered instance
// into a go-kit HTTP client endpoint for one method and path, sharing one
// tuned transport ([DefaultTransport]). A non-2xx answer comes back as a
// [*ResponseError] carrying the status, which outcome.Default classifies:
// 5xx count against the instance, 4xx (429 included) are the caller's.
// The whole call path around it — discovery, a balancer with outlier
// detection, a circuit breaker per instance, retries under a budget, the
// per-attempt timeout and tracing — is package client's: client.New takes
// a factory from NewFactory.
//
// # Health
//
// [Health] serves /healthz (liveness: 200 while the process answers) and
// /readyz (readiness: 503 while starting or draining, while a registrar
// reports a registration problem, or while a check fails). The root
// package's App drives its state through a graceful shutdown.
//
// See docs/transport.md for the whole picture.
package http
