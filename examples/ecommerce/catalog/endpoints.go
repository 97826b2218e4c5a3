package catalog

import (
	"context"
	"net/http"

	"github.com/go-kit/kit/endpoint"
)

// Endpoints are the catalog's operations as go-kit endpoints, one per route.
// Each takes the request type its decoder produces.
type Endpoints struct {
	List    endpoint.Endpoint // ListRequest → Page
	Get     endpoint.Endpoint // GetRequest → Product
	Create  endpoint.Endpoint // NewProduct → created Product (201)
	Update  endpoint.Endpoint // UpdateRequest → Product
	Reserve endpoint.Endpoint // ReserveRequest → Reservation
	Release endpoint.Endpoint // ReleaseRequest → ReleaseResponse
}

// ListRequest is GET /v1/products?limit=&cursor=. Limit 0 means the default.
type ListRequest struct {
	Limit  int
	Cursor string
}

// GetRequest names the product of GET /v1/products/{id}.
type GetRequest struct{ ID string }

// UpdateRequest is PATCH /v1/products/{id}: the id from the path, the fields
// from the body.
type UpdateRequest struct {
	ID    string
	Patch Patch
}

// ReserveRequest is the body of POST /v1/reservations.
type ReserveRequest struct {
	OrderID string `json:"order_id"`
	Items   []Item `json:"items"`
}

// ReleaseRequest names the order of DELETE /v1/reservations/{order_id}.
type ReleaseRequest struct{ OrderID string }

// ReleaseResponse answers a release.
type ReleaseResponse struct {
	Released bool `json:"released"`
}

type createdProduct struct{ Product }

func (createdProduct) StatusCode() int { return http.StatusCreated }

// MakeEndpoints returns the endpoints of s.
func MakeEndpoints(s Service) Endpoints {
	return Endpoints{
		List: func(ctx context.Context, request any) (any, error) {
			req := request.(ListRequest)
			return s.List(ctx, req.Limit, req.Cursor)
		},
		Get: func(ctx context.Context, request any) (any, error) {
			return s.Product(ctx, request.(GetRequest).ID)
		},
		Create: func(ctx context.Context, request any) (any, error) {
			p, err := s.Create(ctx, request.(NewProduct))
			if err != nil {
				return nil, err
			}
			return createdProduct{p}, nil
		},
		Update: func(ctx context.Context, request any) (any, error) {
			req := request.(UpdateRequest)
			return s.Update(ctx, req.ID, req.Patch)
		},
		Reserve: func(ctx context.Context, request any) (any, error) {
			req := request.(ReserveRequest)
			return s.Reserve(ctx, req.OrderID, req.Items)
		},
		Release: func(ctx context.Context, request any) (any, error) {
			if err := s.Release(ctx, request.(ReleaseRequest).OrderID); err != nil {
				return nil, err
			}
			return ReleaseResponse{Released: true}, nil
		},
	}
}
