package orders

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/platform"
	"github.com/switchyard/switchyard/middleware/auth"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// Authenticator guards a handler: it calls next only for requests with a
// valid token and puts the token's claims in the request context.
// *auth.Validator and *platform.Verifier implement it.
type Authenticator = platform.Authenticator

// NewHTTPHandler returns the service's HTTP API on a new ServeMux, every
// route behind a (401 without a valid bearer token):
//
//	POST /v1/orders              PlaceOrder (Idempotency-Key header, JSON body)
//	GET  /v1/orders              ListOrders (?limit=1..200, ?cursor=)
//	GET  /v1/orders/{id}         GetOrder
//	POST /v1/orders/{id}/cancel  CancelOrder
//
// Errors are JSON bodies written by shttp.EncodeError. The raw bearer token
// is also put in the context (auth.HTTPToContext), so that calls to users
// and catalog forward it. opts are passed to every go-kit server.
func NewHTTPHandler(e Endpoints, a Authenticator, opts ...kithttp.ServerOption) *http.ServeMux {
	opts = append([]kithttp.ServerOption{kithttp.ServerBefore(auth.HTTPToContext())}, opts...)
	mux := http.NewServeMux()
	mux.Handle("POST /v1/orders", a.Handler(shttp.NewHandler(e.PlaceOrder, DecodePlaceOrderRequest, encodePlaceOrderResponse, opts...)))
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
// validated by the service. Errors are *shttp.Error values.
func DecodePlaceOrderRequest(_ context.Context, r *http.Request) (any, error) {
	keys := r.Header.Values(HeaderIdempotencyKey)
	if len(keys) > 1 {
		return nil, apiError(http.StatusBadRequest, "invalid_idempotency_key", ErrInvalidKey,
			"send exactly one Idempotency-Key header")
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

// encodePlaceOrderResponse writes the key's stored answer byte for byte.
func encodePlaceOrderResponse(_ context.Context, w http.ResponseWriter, response any) error {
	r := response.(PlaceOrderResponse)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(r.Body)))
	if r.Replayed {
		h.Set(HeaderReplayed, "true")
	}
	w.WriteHeader(r.Status)
	_, err := w.Write(r.Body)
	return err
}

// DecodeListOrdersRequest is the go-kit DecodeRequestFunc of GET /v1/orders:
// limit, when present, must be an integer from 1 to MaxLimit (400
// invalid_argument otherwise); cursor is passed on as it is.
func DecodeListOrdersRequest(_ context.Context, r *http.Request) (any, error) {
	q := r.URL.Query()
	var req ListOrdersRequest
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > MaxLimit {
			return nil, invalid(fmt.Sprintf("limit: must be an integer between 1 and %d", MaxLimit))
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
