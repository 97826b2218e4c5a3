package orders

import "github.com/switchyard/switchyard/examples/ecommerce/internal/secure"

// Policy says which services may call each route of orders when the shop
// runs on mutual TLS: every order route is the gateway's (the buyer's
// token, checked here, says whose orders they are), and any shop service
// that asks for an unknown path gets the JSON 404.
func Policy() secure.Policy {
	return secure.Policy{
		"POST /v1/orders":             {secure.Gateway},
		"GET /v1/orders":              {secure.Gateway},
		"GET /v1/orders/{id}":         {secure.Gateway},
		"POST /v1/orders/{id}/cancel": {secure.Gateway},
		"/":                           secure.Services,
	}
}
