package users

import (
	"context"
	"errors"
	"net/http"
	"net/netip"

	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// NewHTTPHandler returns the users service's routes:
//
//	POST /v1/users       {email,password,name} → 201 user; 400 invalid_argument; 409 email_taken
//	POST /v1/login       {email,password} → 200 {token,expires_at}; 401 invalid_credentials;
//	                     429 login_throttled with Retry-After (throttled by ClientAddr)
//	GET  /v1/me          Bearer token (checked by v) → 200 user; 401
//	GET  /v1/users/{id}  → 200 user; 404 user_not_found (for other services)
//	GET  /v1/jwks        → the JWKS that verifies the tokens
//
// Every error is the JSON body {"error":{"code","message"}}. Bodies are
// limited to 1 MiB and unknown fields are ignored. hopts set which peers
// may name the client of a login ([WithTrustedProxies]).
func NewHTTPHandler(e Endpoints, v authn.Authenticator, hopts ...HandlerOption) *http.ServeMux {
	hc := handlerConfig{trusted: DefaultTrustedProxies}
	for _, o := range hopts {
		o(&hc)
	}
	clientToContext := func(ctx context.Context, r *http.Request) context.Context {
		return NewClientContext(ctx, ClientAddr(r, hc.trusted))
	}
	opts := []kithttp.ServerOption{kithttp.ServerErrorEncoder(EncodeError)}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/users", shttp.NewHandler(e.Signup, decodeSignup, shttp.EncodeJSONResponse, opts...))
	mux.Handle("POST /v1/login", shttp.NewHandler(e.Login, decodeLogin, shttp.EncodeJSONResponse,
		append(opts, kithttp.ServerBefore(clientToContext))...))
	mux.Handle("GET /v1/me", v.Handler(shttp.NewHandler(e.Me, kithttp.NopRequestDecoder, shttp.EncodeJSONResponse, opts...)))
	mux.Handle("GET /v1/users/{id}", shttp.NewHandler(e.GetUser, decodeGetUser, shttp.EncodeJSONResponse, opts...))
	mux.Handle("GET /v1/jwks", shttp.NewHandler(e.JWKS, kithttp.NopRequestDecoder, encodeJWKS, opts...))
	return mux
}

// HandlerOption configures [NewHTTPHandler] and [NewHandler].
type HandlerOption func(*handlerConfig)

type handlerConfig struct {
	trusted []netip.Prefix
}

// WithTrustedProxies sets the peers whose X-Forwarded-For names the client
// that failed logins are throttled by ([ClientAddr]); from any other peer
// the peer is the client. Default [DefaultTrustedProxies] (loopback, where
// the shop's gateway reaches the replicas). WithTrustedProxies() with no
// prefix trusts no peer. A users replica behind a gateway on another host
// must list the gateway's address: otherwise every login through it counts
// as coming from the gateway.
func WithTrustedProxies(prefixes ...netip.Prefix) HandlerOption {
	return func(c *handlerConfig) { c.trusted = append([]netip.Prefix{}, prefixes...) }
}

func decodeSignup(ctx context.Context, r *http.Request) (any, error) {
	return shttp.DecodeJSONRequest[SignupRequest](ctx, r)
}

func decodeLogin(ctx context.Context, r *http.Request) (any, error) {
	return shttp.DecodeJSONRequest[LoginRequest](ctx, r)
}

func decodeGetUser(_ context.Context, r *http.Request) (any, error) {
	return GetUserRequest{ID: r.PathValue("id")}, nil
}

// encodeJWKS lets caches keep the key set for five minutes: verifiers
// refetch on unknown key ids anyway.
func encodeJWKS(ctx context.Context, w http.ResponseWriter, response any) error {
	w.Header().Set("Cache-Control", "public, max-age=300")
	return shttp.EncodeJSONResponse(ctx, w, response)
}

// EncodeError writes the service's errors with their statuses and codes,
// and anything else as shttp.EncodeError does.
func EncodeError(ctx context.Context, err error, w http.ResponseWriter) {
	shttp.EncodeError(ctx, httpError(err), w)
}

func httpError(err error) error {
	var inv *InvalidError
	var thr *ThrottledError
	switch {
	case errors.As(err, &thr):
		e := shttp.TooManyRequests("too many failed logins; retry later", thr.RetryAfterSeconds())
		e.Code, e.Err = "login_throttled", err
		return e
	case errors.As(err, &inv):
		return &shttp.Error{Status: http.StatusBadRequest, Code: "invalid_argument", Message: inv.Error(), Err: err}
	case errors.Is(err, ErrEmailTaken):
		return &shttp.Error{Status: http.StatusConflict, Code: "email_taken", Message: "email already registered", Err: err}
	case errors.Is(err, ErrInvalidCredentials):
		return &shttp.Error{Status: http.StatusUnauthorized, Code: "invalid_credentials", Message: "invalid email or password", Err: err}
	case errors.Is(err, ErrNotFound):
		return &shttp.Error{Status: http.StatusNotFound, Code: "user_not_found", Message: "no such user", Err: err}
	}
	return err
}
