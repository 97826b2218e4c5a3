package orders

import (
	"context"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
)

// Endpoints collects the service's go-kit endpoints, one per operation.
// Each reads the caller's user id from the token claims in the context
// (authn.UserID), which the transport's authentication puts there.
type Endpoints struct {
	PlaceOrder  endpoint.Endpoint // PlaceOrderRequest → Placement
	GetOrder    endpoint.Endpoint // GetOrderRequest → Order
	ListOrders  endpoint.Endpoint // ListOrdersRequest → Page
	CancelOrder endpoint.Endpoint // CancelOrderRequest → Order
}

// PlaceOrderRequest is the request of Endpoints.PlaceOrder.
type PlaceOrderRequest struct {
	Key   string // the Idempotency-Key header
	Items []Item
}

// GetOrderRequest is the request of Endpoints.GetOrder.
type GetOrderRequest struct{ ID string }

// ListOrdersRequest is the request of Endpoints.ListOrders. Limit 0 means
// DefaultLimit; Cursor "" means the first page.
type ListOrdersRequest struct {
	Limit  int
	Cursor string
}

// CancelOrderRequest is the request of Endpoints.CancelOrder.
type CancelOrderRequest struct{ ID string }

// MakeEndpoints returns the endpoints of s.
func MakeEndpoints(s Service) Endpoints {
	return Endpoints{
		PlaceOrder: func(ctx context.Context, request any) (any, error) {
			req := request.(PlaceOrderRequest)
			return s.PlaceOrder(ctx, authn.UserID(ctx), req.Key, req.Items)
		},
		GetOrder: func(ctx context.Context, request any) (any, error) {
			return s.Order(ctx, authn.UserID(ctx), request.(GetOrderRequest).ID)
		},
		ListOrders: func(ctx context.Context, request any) (any, error) {
			req := request.(ListOrdersRequest)
			return s.Orders(ctx, authn.UserID(ctx), req.Limit, req.Cursor)
		},
		CancelOrder: func(ctx context.Context, request any) (any, error) {
			return s.Cancel(ctx, authn.UserID(ctx), request.(CancelOrderRequest).ID)
		},
	}
}
