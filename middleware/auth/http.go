package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/internal/httperr"
)

type claimsKey struct{}
type tokenKey struct{}

// NewClaimsContext returns a copy of ctx carrying c.
func NewClaimsContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the claims of the token that authenticated the
// request, as put there by [Validator.Handler], [Validator.Endpoint] or
// [NewClaimsContext].
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// NewTokenContext returns a copy of ctx carrying a raw bearer token for
// [Validator.Endpoint] to check.
func NewTokenContext(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, tokenKey{}, token)
}

// TokenFromContext returns the raw token put in ctx by [NewTokenContext] or
// [HTTPToContext].
func TokenFromContext(ctx context.Context) (string, bool) {
	t, ok := ctx.Value(tokenKey{}).(string)
	return t, ok && t != ""
}

// HTTPToContext copies the bearer token of r's Authorization header into
// ctx for [Validator.Endpoint], without checking it. It is a go-kit
// transport/http RequestFunc, for ServerBefore:
//
//	kithttp.ServerBefore(auth.HTTPToContext)
//
// A request without a well-formed bearer header, or with more than one
// Authorization header, leaves ctx as it is. It is a function rather than
// a [Validator] method because it needs no configuration: a service that
// only forwards its caller's token needs no validator to read it.
func HTTPToContext(ctx context.Context, r *http.Request) context.Context {
	if tok, err := tokenFromRequest(r); err == nil {
		return NewTokenContext(ctx, tok)
	}
	return ctx
}

func tokenFromRequest(r *http.Request) (string, error) {
	hs := r.Header.Values("Authorization")
	switch {
	case len(hs) == 0:
		return "", ErrMissingToken
	case len(hs) > 1:
		return "", fmt.Errorf("%w: more than one Authorization header", ErrInvalidToken)
	}
	tok, ok := bearer(hs[0])
	if !ok {
		return "", fmt.Errorf("%w: Authorization is not a well-formed bearer token", ErrMissingToken)
	}
	return tok, nil
}

// Error is the error [Validator.Endpoint] returns for a request it
// rejects. It reports status 401 and a WWW-Authenticate header, which
// go-kit's default error encoder uses; Err says why.
type Error struct {
	Err error
}

// Error says the request was unauthorized and why.
func (e *Error) Error() string { return "auth: unauthorized: " + e.Err.Error() }

// Unwrap returns the reason.
func (e *Error) Unwrap() error { return e.Err }

// StatusCode returns 401.
func (e *Error) StatusCode() int { return http.StatusUnauthorized }

// Headers returns the WWW-Authenticate challenge.
func (e *Error) Headers() http.Header {
	return http.Header{"Www-Authenticate": []string{challenge(e.Err)}}
}

// challenge is the WWW-Authenticate value for a rejection: RFC 6750 gives
// no error code when the request had no credentials at all.
func challenge(err error) string {
	if errors.Is(err, ErrMissingToken) {
		return `Bearer`
	}
	return `Bearer error="invalid_token"`
}

func (v *Validator) reject(ctx context.Context, err error) {
	if v.onReject != nil {
		v.onReject(ctx, err)
	}
}

// Handler wraps next so that it runs only for requests with a valid bearer
// token, with the token's [Claims] in the request context. Any other
// request — no Authorization header, several, a scheme other than Bearer,
// or a token [Validator.Validate] rejects — gets a 401 with
// "WWW-Authenticate: Bearer" (plus error="invalid_token" when a token was
// presented), "Cache-Control: no-store" and the JSON body
// {"error":{"code":"unauthorized","message":"..."}}, and next is not
// called. The message never says why the token failed; the reason goes to
// [Hooks.OnReject]. The method value v.Handler is a
// func(http.Handler) http.Handler, usable as route middleware. The handler
// is safe for concurrent use.
func (v *Validator) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		tok, err := tokenFromRequest(r)
		var claims *Claims
		if err == nil {
			claims, err = v.Validate(ctx, tok)
		}
		if err != nil {
			v.reject(ctx, err)
			writeUnauthorized(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewClaimsContext(ctx, claims)))
	})
}

func writeUnauthorized(w http.ResponseWriter, err error) {
	msg := "invalid token"
	if errors.Is(err, ErrMissingToken) {
		msg = "missing bearer token"
	}
	w.Header().Set("Www-Authenticate", challenge(err))
	httperr.Write(w, http.StatusUnauthorized, "unauthorized", msg)
}

// Endpoint returns next guarded by v: it validates the token in the
// context (see [HTTPToContext] and [NewTokenContext]) and calls next with
// the token's [Claims] in the context. A missing or invalid token fails the
// call with an [*Error] (status 401) without calling next, after
// [Hooks.OnReject]. The method value v.Endpoint is an endpoint.Middleware.
func (v *Validator) Endpoint(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		tok, ok := TokenFromContext(ctx)
		if !ok {
			v.reject(ctx, ErrMissingToken)
			return nil, &Error{Err: ErrMissingToken}
		}
		claims, err := v.Validate(ctx, tok)
		if err != nil {
			v.reject(ctx, err)
			return nil, &Error{Err: err}
		}
		return next(NewClaimsContext(ctx, claims), req)
	}
}
