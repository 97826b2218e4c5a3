package ratelimit

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/internal/httperr"
)

// KeyFunc picks the key an endpoint call is limited by, from its context
// or the request itself (a user ID placed in the context by auth, a tenant
// in the request). Calls with the same key share a bucket.
type KeyFunc func(ctx context.Context, request any) string

// Endpoint returns next behind l: every call takes a token, keyed by
// [Config.Key], before calling next. A refused call returns the limiter's
// error and does not reach next. The method value l.Endpoint is an
// endpoint.Middleware.
func (l *Limiter) Endpoint(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		k := ""
		if l.key != nil {
			k = l.key(ctx, request)
		}
		if err := l.Acquire(ctx, k); err != nil {
			return nil, err
		}
		return next(ctx, request)
	}
}

// HTTPKeyFunc picks the key an HTTP request is limited by.
type HTTPKeyFunc func(r *http.Request) string

// RemoteIP keys requests by the client's IP address, r.RemoteAddr without
// its port. An IPv6 client is keyed by its /64 ("2001:db8:1:2::/64"): a
// single subscriber is usually given a whole /64 and can pick a fresh
// address in it for every request. An IPv4-mapped IPv6 address is keyed
// as the IPv4 address. A RemoteAddr that is not an IP address is the key
// as it is.
//
// RemoteAddr is the connection's peer unless a layer in front has
// resolved the client: behind a proxy, put RemoteIP behind such a layer
// (transport/gateway's WithTrustedProxies does this), or every request
// shares the proxy's bucket. Use it as [Config.HTTPKey].
func RemoteIP(r *http.Request) string {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	switch {
	case a.Is4():
		return host
	case a.Is4In6():
		return a.Unmap().String()
	}
	p, _ := a.Prefix(64) // cannot fail for an IPv6 address; drops any zone
	return p.String()
}

// Handler returns next behind l: every request takes a token, keyed by
// [Config.HTTPKey]. A request over the rate is answered 429 with a
// Retry-After header (whole seconds, rounded up, at least 1) and the body
// {"error":{"code":"rate_limited","message":"…"}}, without calling next.
// A request whose context ends while it waits for a token (wait mode) is
// answered 503. The method value l.Handler is a
// func(http.Handler) http.Handler, usable as gateway route middleware.
func (l *Limiter) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := ""
		if l.httpKey != nil {
			k = l.httpKey(r)
		}
		err := l.Acquire(r.Context(), k)
		if err == nil {
			next.ServeHTTP(w, r)
			return
		}
		var le *Error
		if errors.As(err, &le) {
			w.Header().Set("Retry-After", strconv.FormatInt(le.RetryAfterSeconds(), 10))
			httperr.Write(w, http.StatusTooManyRequests, "rate_limited",
				"rate limit exceeded, retry after "+strconv.FormatInt(le.RetryAfterSeconds(), 10)+"s")
			return
		}
		httperr.Write(w, http.StatusServiceUnavailable, "unavailable", "gave up waiting for the rate limiter")
	})
}
