package users

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
)

// Endpoints are the users service's operations as go-kit endpoints, one per
// route. Each takes the request type its decoder produces.
type Endpoints struct {
	Signup  endpoint.Endpoint // SignupRequest → created user (201)
	Login   endpoint.Endpoint // LoginRequest → Token
	Me      endpoint.Endpoint // nil request; user id from the token in ctx
	GetUser endpoint.Endpoint // GetUserRequest → User
	JWKS    endpoint.Endpoint // nil request → JWKS document
}

// SignupRequest is the body of POST /v1/users. It holds only what a caller
// may set: a "role" in the body is ignored.
type SignupRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

// LoginRequest is the body of POST /v1/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// GetUserRequest names the user of GET /v1/users/{id}.
type GetUserRequest struct {
	ID string
}

// created is a User answered with 201.
type created struct{ User }

func (created) StatusCode() int { return http.StatusCreated }

// MakeEndpoints returns the endpoints of s.
func MakeEndpoints(s Service) Endpoints {
	return Endpoints{
		Signup: func(ctx context.Context, request any) (any, error) {
			req := request.(SignupRequest)
			u, err := s.Signup(ctx, req.Email, req.Password, req.Name)
			if err != nil {
				return nil, err
			}
			return created{u}, nil
		},
		Login: func(ctx context.Context, request any) (any, error) {
			req := request.(LoginRequest)
			return s.Login(ctx, req.Email, req.Password)
		},
		Me: func(ctx context.Context, _ any) (any, error) {
			id := authn.UserID(ctx)
			if id == "" {
				return nil, ErrNotFound
			}
			return s.User(ctx, id)
		},
		GetUser: func(ctx context.Context, request any) (any, error) {
			return s.User(ctx, request.(GetUserRequest).ID)
		},
		JWKS: func(ctx context.Context, _ any) (any, error) {
			doc, err := s.JWKS(ctx)
			if err != nil {
				return nil, err
			}
			return json.RawMessage(doc), nil
		},
	}
}
