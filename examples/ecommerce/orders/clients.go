package orders

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/call"
	"github.com/switchyard/switchyard/middleware/auth"
	"github.com/switchyard/switchyard/middleware/retry"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// Registry names of the services orders calls.
const (
	UsersService   = "users"
	CatalogService = "catalog"
)

// UsersClient is the [Users] implementation that calls the users service
// (GET /v1/users/{id}) through the library's client chain: discovery,
// P2C balancing with outlier detection, per-instance breakers, retries
// under a budget, deadline propagation and tracing (see call.Client).
// A user lookup is idempotent: each attempt is bounded by the chain's
// per-attempt timeout, and a 5xx or a hung replica is retried on another.
// The caller's bearer token, when the context carries one
// (auth.NewTokenContext), is forwarded. Create it with [NewUsersClient] and
// Close it; it is safe for concurrent use.
type UsersClient struct {
	get *call.Client
}

var _ Users = (*UsersClient)(nil)

// NewUsersClient returns a UsersClient following the users service through
// r. cfg configures the client chain (metrics, for example: see
// telemetry.Instruments.ClientConfig); the zero Config takes every default.
func NewUsersClient(ctx context.Context, r discovery.Resolver, cfg client.Config, opts ...call.Option) (*UsersClient, error) {
	c, err := call.New(ctx, r, UsersService, http.MethodGet, "/v1/users", cfg, opts...)
	if err != nil {
		return nil, fmt.Errorf("orders: users client: %w", err)
	}
	return &UsersClient{get: c}, nil
}

// Get implements [Users]. A 404 answer is ErrUserNotFound.
func (c *UsersClient) Get(ctx context.Context, id string) (User, error) {
	u, err := call.JSON[User](ctx, c.get, call.Request{
		Path: "/v1/users/" + url.PathEscape(id), Header: bearer(ctx)})
	if status(err) == http.StatusNotFound {
		return User{}, fmt.Errorf("%w: %w", ErrUserNotFound, err)
	}
	return u, err
}

// Close stops following the users service.
func (c *UsersClient) Close() error { return c.get.Close() }

// Endpoint returns the client chain, for dashboards and tests.
func (c *UsersClient) Endpoint() *client.Endpoint { return c.get.Endpoint() }

// CatalogClient is the [Catalog] implementation that calls the catalog
// service (POST /v1/reservations, DELETE /v1/reservations/{order_id})
// through the library's client chain, like [UsersClient]. Reservations are
// idempotent per order id — a reservation carries it as its Idempotency-Key
// — so both calls get the chain's per-attempt timeout and are retried on
// another instance after a server failure (a 5xx, a hung replica).
// Create it with [NewCatalogClient] and Close it; it is safe for concurrent
// use.
type CatalogClient struct {
	reserve, release *call.Client
}

var _ Catalog = (*CatalogClient)(nil)

// NewCatalogClient returns a CatalogClient following the catalog service
// through r. reserve and release configure the two client chains (metrics,
// for example); the zero Config takes every default. A reservation is
// idempotent whatever reserve.Idempotent says.
func NewCatalogClient(ctx context.Context, r discovery.Resolver, reserve, release client.Config, opts ...call.Option) (*CatalogClient, error) {
	reserve.Idempotent = true
	res, err := call.New(ctx, r, CatalogService, http.MethodPost, "/v1/reservations", reserve, opts...)
	if err != nil {
		return nil, fmt.Errorf("orders: catalog client: %w", err)
	}
	rel, err := call.New(ctx, r, CatalogService, http.MethodDelete, "/v1/reservations", release, opts...)
	if err != nil {
		res.Close()
		return nil, fmt.Errorf("orders: catalog client: %w", err)
	}
	return &CatalogClient{reserve: res, release: rel}, nil
}

type reservation struct {
	OrderID string `json:"order_id"`
	Items   []Line `json:"items"`
}

// Reserve implements [Catalog]: 409 out_of_stock is ErrOutOfStock, 409
// reservation_released is ErrReservationReleased, and 404
// product_not_found is ErrProductNotFound.
func (c *CatalogClient) Reserve(ctx context.Context, orderID string, items []Item) ([]Line, error) {
	body := struct {
		OrderID string `json:"order_id"`
		Items   []Item `json:"items"`
	}{orderID, items}
	// The reservation is keyed by the order id: say so, so that every hop
	// (and the chain's per-attempt timeout and retries) treats it as the
	// idempotent call it is.
	h := bearer(ctx)
	if h == nil {
		h = http.Header{}
	}
	h.Set(retry.IdempotencyKeyHeader, "reserve-"+orderID)
	r, err := call.JSON[reservation](ctx, c.reserve, call.Request{Body: body, Header: h})
	if err != nil {
		var re *shttp.ResponseError
		if errors.As(err, &re) {
			switch {
			case re.Status == http.StatusConflict && re.Code == "out_of_stock":
				return nil, fmt.Errorf("%w: %w", ErrOutOfStock, err)
			case re.Status == http.StatusConflict && re.Code == "reservation_released":
				return nil, fmt.Errorf("%w: %w", ErrReservationReleased, err)
			case re.Status == http.StatusNotFound:
				return nil, fmt.Errorf("%w: %w", ErrProductNotFound, err)
			}
		}
		return nil, err
	}
	if r.OrderID != orderID {
		return nil, fmt.Errorf("%w: it is for order %q", ErrBadReservation, r.OrderID)
	}
	return r.Items, nil
}

// Release implements [Catalog]. A 404 answer (nothing reserved under the
// order id) counts as released.
func (c *CatalogClient) Release(ctx context.Context, orderID string) error {
	_, err := c.release.Call(ctx, call.Request{
		Path: "/v1/reservations/" + url.PathEscape(orderID), Header: bearer(ctx)})
	if status(err) == http.StatusNotFound {
		return nil
	}
	return err
}

// Close stops following the catalog service.
func (c *CatalogClient) Close() error {
	return errors.Join(c.reserve.Close(), c.release.Close())
}

// status returns the HTTP status of a *shttp.ResponseError in err's chain,
// or 0.
func status(err error) int {
	var re *shttp.ResponseError
	if errors.As(err, &re) {
		return re.Status
	}
	return 0
}

// bearer returns the Authorization header for the token in ctx, or nil.
func bearer(ctx context.Context) http.Header {
	if tok, ok := auth.TokenFromContext(ctx); ok {
		return http.Header{"Authorization": {"Bearer " + tok}}
	}
	return nil
}
