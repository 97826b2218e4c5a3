// Package logging writes one structured [log/slog] line per request or call
// and hands the handler a request-scoped logger, without ever writing a
// secret.
//
// A [Logger], built by [New] from a [Config] (zero value: slog.Default(),
// no headers, the built-in redaction list), has the faces every Switchyard
// middleware has: [Logger.Handler] wraps an [net/http.Handler] and
// [Logger.Endpoint] wraps a go-kit endpoint, under the operation name bound
// with [Logger.Operation]. Each logs one line when the request or call finishes — method,
// route, path, redacted query, status, bytes, duration, remote address,
// trace and span IDs for HTTP; operation, outcome, error, duration and trace
// IDs for endpoints — and puts a logger carrying the request's fields
// (trace_id, span_id, method, path or operation) in the context, where
// [FromContext] finds it.
//
// What is never logged:
//   - request and response bodies;
//   - the values of the Authorization, Proxy-Authorization, Cookie and
//     Set-Cookie headers, or of any header whose name looks sensitive (see
//     [Sensitive]); only the headers named in [Config.Headers] are logged at
//     all, and response headers never are;
//   - the values of query parameters whose names look sensitive
//     ("password", "token", "secret", "key", "auth", ...): they are
//     replaced by [Redacted].
//
// [ReplaceAttr] applies the same rule to attributes the program logs itself,
// for slog.HandlerOptions.
//
// Order: put tracing outside logging, so the line and the scoped logger
// carry the trace and span IDs.
package logging
