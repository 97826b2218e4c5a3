package users

import "github.com/switchyard/switchyard/examples/ecommerce/internal/secure"

// Policy says which services may call each route of users when the shop
// runs on mutual TLS: sign-up, login and the caller's own profile come
// through the gateway; a lookup by ID is orders' (an order names its
// buyer); the token-signing keys go to the gateway and to the services
// that verify tokens themselves, catalog and orders; and any shop service
// that asks for an unknown path gets the JSON 404.
func Policy() secure.Policy {
	return secure.Policy{
		"POST /v1/users":     {secure.Gateway},
		"POST /v1/login":     {secure.Gateway},
		"GET /v1/me":         {secure.Gateway},
		"GET /v1/users/{id}": {secure.Orders},
		"GET /v1/jwks":       {secure.Gateway, secure.Catalog, secure.Orders},
		"/":                  secure.Services,
	}
}
