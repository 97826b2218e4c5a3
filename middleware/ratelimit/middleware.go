package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"

	"github.com/go-kit/kit/endpoint"
)

// KeyFunc picks the key a request is limited by, from its context or the
// request itself (a user ID placed in the context by auth, a tenant in the
// request). Requests with the same key share a bucket.
type KeyFunc func(ctx context.Context, request any) string

// Middleware returns endpoint middleware that takes a token from l for
// every call, keyed by key (nil: the empty key), before calling the next
// endpoint. A refused call returns the limiter's error and does not reach
// the endpoint.
func Middleware(l Limiter, key KeyFunc) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			k := ""
			if key != nil {
				k = key(ctx, request)
			}
			if err := l.Acquire(ctx, k); err != nil {
				return nil, err
			}
			return next(ctx, request)
		}
	}
}

// HTTPKeyFunc picks the key an HTTP request is limited by.
type HTTPKeyFunc func(r *http.Request) string

// RemoteIP keys requests by the IP address of the connection's peer
// (RemoteAddr without its port). Behind a proxy every request comes from
// the proxy: key by a header the proxy sets and clients cannot, instead.
func RemoteIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// Handler returns HTTP middleware that takes a token from l for every
// request, keyed by key (nil: every request shares the empty key). A
// request over the rate is answered 429 with a Retry-After header (whole
// seconds, rounded up, at least 1) and the body
// {"error":{"code":"rate_limited","message":"…"}}, without calling the
// next handler. A request whose context ends while it waits for a token
// (wait mode) is answered 503.
func Handler(l Limiter, key HTTPKeyFunc) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := ""
			if key != nil {
				k = key(r)
			}
			err := l.Acquire(r.Context(), k)
			if err == nil {
				next.ServeHTTP(w, r)
				return
			}
			var le *Error
			if errors.As(err, &le) {
				w.Header().Set("Retry-After", strconv.FormatInt(le.RetryAfterSeconds(), 10))
				writeError(w, http.StatusTooManyRequests, "rate_limited",
					"rate limit exceeded, retry after "+strconv.FormatInt(le.RetryAfterSeconds(), 10)+"s")
				return
			}
			writeError(w, http.StatusServiceUnavailable, "unavailable", "gave up waiting for the rate limiter")
		})
	}
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	body, _ := json.Marshal(errorBody{Error: errorDetail{Code: code, Message: msg}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
