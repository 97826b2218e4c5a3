package orders

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/middleware/auth"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// HTTP headers of the API.
const (
	// HeaderIdempotencyKey names the request header carrying the key.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderReplayed is set to "true" on an answer replayed from the
	// idempotency store.
	HeaderReplayed = "Idempotent-Replayed"
)

// Authenticator guards a handler: it calls next only for requests with a
// valid token and puts the token's claims in the request context.
// *auth.Validator and *authn.Verifier implement it.
type Authenticator = authn.Authenticator

// NewHTTPHandler returns the service's HTTP API on a new ServeMux, every
// route behind a (401 without a valid bearer token):
//
//	POST /v1/orders              PlaceOrder (Idempotency-Key header, JSON body)
//	GET  /v1/orders              ListOrders (?limit=1..200, ?cursor=)
//	GET  /v1/orders/{id}         GetOrder
//	POST /v1/orders/{id}/cancel  CancelOrder
//
// Errors are JSON bodies written by [EncodeError]. The raw bearer token is
// also put in the context (auth.HTTPToContext), so that calls to users and
// catalog forward it. opts are passed to every go-kit server, after the
// package's own, which they may replace.
func NewHTTPHandler(e Endpoints, a Authenticator, opts ...kithttp.ServerOption) *http.ServeMux {
	opts = append([]kithttp.ServerOption{
		kithttp.ServerBefore(auth.HTTPToContext),
		kithttp.ServerErrorEncoder(EncodeError),
	}, opts...)
	mux := http.NewServeMux()
	mux.Handle("POST /v1/orders", a.Handler(shttp.NewHandler(e.PlaceOrder, DecodePlaceOrderRequest, encodePlacement, opts...)))
	mux.Handle("GET /v1/orders", a.Handler(shttp.NewHandler(e.ListOrders, DecodeListOrdersRequest, shttp.EncodeJSONResponse, opts...)))
	mux.Handle("GET /v1/orders/{id}", a.Handler(shttp.NewHandler(e.GetOrder, decodeGetOrderRequest, shttp.EncodeJSONResponse, opts...)))
	mux.Handle("POST /v1/orders/{id}/cancel", a.Handler(shttp.NewHandler(e.CancelOrder, decodeCancelOrderRequest, shttp.EncodeJSONResponse, opts...)))
	return mux
}

// placeOrderBody is what a client may set when placing an order; any other
// field of the JSON body is ignored.
type placeOrderBody struct {
	Items []Item `json:"items"`
}

// DecodePlaceOrderRequest is the go-kit DecodeRequestFunc of POST
// /v1/orders: exactly one valid Idempotency-Key header (see ValidateKey),
// then a JSON body {"items":[{"product_id","quantity"}]} of at most 1 MiB
// with unknown fields ignored. It returns a PlaceOrderRequest; the items are
// validated by the service. A bad key is an [*InvalidError]; a bad body is
// the *shttp.Error of shttp.DecodeJSON.
func DecodePlaceOrderRequest(_ context.Context, r *http.Request) (any, error) {
	keys := r.Header.Values(HeaderIdempotencyKey)
	if len(keys) > 1 {
		return nil, invalidKey("must be sent once")
	}
	var key string
	if len(keys) == 1 {
		key = keys[0]
	}
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	var body placeOrderBody
	if err := shttp.DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	return PlaceOrderRequest{Key: key, Items: body.Items}, nil
}

// encodePlacement writes a placed order: 201 and the order as placed, the
// same bytes for the first answer and every replay (a replay also gets
// HeaderReplayed), since both encode the one stored [Answer].
func encodePlacement(ctx context.Context, w http.ResponseWriter, response any) error {
	p := response.(Placement)
	if p.Replayed {
		w.Header().Set(HeaderReplayed, "true")
	}
	return shttp.EncodeJSONResponse(ctx, w, created{p.Order})
}

type created struct{ Order }

func (created) StatusCode() int { return http.StatusCreated }

// DecodeListOrdersRequest is the go-kit DecodeRequestFunc of GET /v1/orders:
// limit, when present, must be an integer from 1 to MaxLimit (400
// invalid_argument otherwise); cursor is passed on as it is.
func DecodeListOrdersRequest(_ context.Context, r *http.Request) (any, error) {
	q := r.URL.Query()
	var req ListOrdersRequest
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > MaxLimit {
			return nil, invalid("limit", fmt.Sprintf("must be an integer between 1 and %d", MaxLimit))
		}
		req.Limit = n
	}
	req.Cursor = q.Get("cursor")
	return req, nil
}

func decodeGetOrderRequest(_ context.Context, r *http.Request) (any, error) {
	return GetOrderRequest{ID: r.PathValue("id")}, nil
}

func decodeCancelOrderRequest(_ context.Context, r *http.Request) (any, error) {
	return CancelOrderRequest{ID: r.PathValue("id")}, nil
}

// EncodeError writes the service's errors with their statuses and codes,
// and anything else as shttp.EncodeError does:
//
//	ErrUnauthenticated      401 unauthorized
//	ErrMissingKey           400 missing_idempotency_key
//	ErrInvalidKey           400 invalid_idempotency_key
//	ErrInvalidCursor        400 invalid_cursor
//	ErrInvalidArgument      400 invalid_argument
//	ErrProductNotFound      400 product_not_found
//	ErrUserNotFound         403 unknown_user
//	ErrOrderNotFound        404 not_found
//	ErrInProgress           409 request_in_progress, Retry-After: 1
//	ErrOutOfStock           409 out_of_stock
//	ErrKeyReused            422 idempotency_key_reused
//
// A [*ReplayedError] is written as the error it wraps, with HeaderReplayed,
// so that a key's final refusal answers the same bytes every time.
func EncodeError(ctx context.Context, err error, w http.ResponseWriter) {
	var re *ReplayedError
	if errors.As(err, &re) {
		w.Header().Set(HeaderReplayed, "true")
	}
	shttp.EncodeError(ctx, httpError(err), w)
}

func httpError(err error) error {
	e := func(status int, code, msg string) *shttp.Error {
		return &shttp.Error{Status: status, Code: code, Message: msg, Err: err}
	}
	var inv *InvalidError
	switch {
	case errors.As(err, &inv):
		switch {
		case errors.Is(inv.Err, ErrMissingKey):
			return e(http.StatusBadRequest, "missing_idempotency_key", "the Idempotency-Key header "+inv.Reason)
		case errors.Is(inv.Err, ErrInvalidKey):
			return e(http.StatusBadRequest, "invalid_idempotency_key", "the Idempotency-Key header "+inv.Reason)
		case errors.Is(inv.Err, ErrInvalidCursor):
			return e(http.StatusBadRequest, "invalid_cursor", inv.Field+": "+inv.Reason)
		}
		return e(http.StatusBadRequest, "invalid_argument", inv.Field+": "+inv.Reason)
	case errors.Is(err, ErrUnauthenticated):
		return e(http.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
	case errors.Is(err, ErrKeyReused):
		return e(http.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was used for a different request")
	case errors.Is(err, ErrInProgress):
		se := e(http.StatusConflict, "request_in_progress", "a request with this Idempotency-Key is in progress; retry later")
		se.Header = http.Header{"Retry-After": {"1"}}
		return se
	case errors.Is(err, ErrOutOfStock):
		return e(http.StatusConflict, "out_of_stock", "not enough stock for one or more items; nothing was reserved")
	case errors.Is(err, ErrProductNotFound):
		return e(http.StatusBadRequest, "product_not_found", "an item names a product that does not exist")
	case errors.Is(err, ErrUserNotFound):
		return e(http.StatusForbidden, "unknown_user", "the token's user does not exist")
	case errors.Is(err, ErrOrderNotFound):
		return e(http.StatusNotFound, "not_found", "order not found")
	}
	return err
}
