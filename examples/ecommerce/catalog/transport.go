package catalog

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// NewHTTPHandler returns the catalog's routes:
//
//	GET    /v1/products?limit=&cursor=      → {"products":[…],"next_cursor":"…"}; 400 bad limit or cursor
//	GET    /v1/products/{id}                → product; 404 product_not_found
//	POST   /v1/products                     (admin) {name,description,price_cents,stock} → 201 product
//	PATCH  /v1/products/{id}                (admin) any of those fields → 200 product
//	POST   /v1/reservations                 {order_id,items:[{product_id,quantity}]} → {order_id,items:[…price_cents]}
//	                                        409 out_of_stock | reservation_released; 404 product_not_found
//	DELETE /v1/reservations/{order_id}      → {"released":true}
//
// The admin routes check the bearer token with v (401 unauthorized) and then
// the role (403 forbidden). Reservations are for other services and are
// never routed by the gateway. Every error is the JSON body
// {"error":{"code","message"}}; invalid input is 400 invalid_argument.
func NewHTTPHandler(e Endpoints, v authn.Authenticator) *http.ServeMux {
	opts := []kithttp.ServerOption{kithttp.ServerErrorEncoder(EncodeError)}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/products", shttp.NewHandler(e.List, DecodeListRequest, shttp.EncodeJSONResponse, opts...))
	mux.Handle("GET /v1/products/{id}", shttp.NewHandler(e.Get, decodeGet, shttp.EncodeJSONResponse, opts...))
	mux.Handle("POST /v1/products", v.Handler(shttp.NewHandler(e.Create, decodeCreate, shttp.EncodeJSONResponse, opts...)))
	mux.Handle("PATCH /v1/products/{id}", v.Handler(shttp.NewHandler(e.Update, decodeUpdate, shttp.EncodeJSONResponse, opts...)))
	mux.Handle("POST /v1/reservations", shttp.NewHandler(e.Reserve, decodeReserve, shttp.EncodeJSONResponse, opts...))
	mux.Handle("DELETE /v1/reservations/{order_id}", shttp.NewHandler(e.Release, decodeRelease, shttp.EncodeJSONResponse, opts...))
	return mux
}

// DecodeListRequest reads ?limit= and ?cursor=. A limit that is present must
// be an integer from 1 to MaxLimit; the cursor is checked by the service.
func DecodeListRequest(_ context.Context, r *http.Request) (any, error) {
	q := r.URL.Query()
	req := ListRequest{Cursor: q.Get("cursor")}
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > MaxLimit {
			return nil, &InvalidError{"limit", "must be an integer from 1 to 200"}
		}
		req.Limit = n
	}
	return req, nil
}

func decodeGet(_ context.Context, r *http.Request) (any, error) {
	return GetRequest{ID: r.PathValue("id")}, nil
}

func decodeCreate(ctx context.Context, r *http.Request) (any, error) {
	return shttp.DecodeJSONRequest[NewProduct](ctx, r)
}

func decodeUpdate(_ context.Context, r *http.Request) (any, error) {
	var p Patch
	if err := shttp.DecodeJSON(r, &p); err != nil {
		return nil, err
	}
	return UpdateRequest{ID: r.PathValue("id"), Patch: p}, nil
}

func decodeReserve(ctx context.Context, r *http.Request) (any, error) {
	return shttp.DecodeJSONRequest[ReserveRequest](ctx, r)
}

func decodeRelease(_ context.Context, r *http.Request) (any, error) {
	return ReleaseRequest{OrderID: r.PathValue("order_id")}, nil
}

// EncodeError writes the service's errors with their statuses and codes,
// and anything else as shttp.EncodeError does.
func EncodeError(ctx context.Context, err error, w http.ResponseWriter) {
	shttp.EncodeError(ctx, httpError(err), w)
}

func httpError(err error) error {
	var (
		inv *InvalidError
		nf  *ProductNotFoundError
		oos *OutOfStockError
	)
	switch {
	case errors.As(err, &inv):
		return &shttp.Error{Status: http.StatusBadRequest, Code: "invalid_argument", Message: inv.Error(), Err: err}
	case errors.As(err, &nf):
		return &shttp.Error{Status: http.StatusNotFound, Code: "product_not_found", Message: "no product with id " + strconv.Quote(nf.ID), Err: err}
	case errors.As(err, &oos):
		return &shttp.Error{Status: http.StatusConflict, Code: "out_of_stock", Message: "not enough stock for product " + strconv.Quote(oos.ProductID), Err: err}
	case errors.Is(err, ErrReservationReleased):
		return &shttp.Error{Status: http.StatusConflict, Code: "reservation_released", Message: "this order's reservation was released", Err: err}
	case errors.Is(err, ErrForbidden):
		return &shttp.Error{Status: http.StatusForbidden, Code: "forbidden", Message: "admin role required", Err: err}
	}
	return err
}
