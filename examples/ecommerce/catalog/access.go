package catalog

import "github.com/switchyard/switchyard/examples/ecommerce/internal/secure"

// Policy says which services may call each route of the catalog when the
// shop runs on mutual TLS: the gateway reads products for the shop's
// clients and forwards the admin's edits (whose tokens the catalog still
// checks); only orders reserves and releases stock, so that nothing else
// on the machine can release a confirmed order's items; and any shop
// service that asks for an unknown path gets the JSON 404.
func Policy() secure.Policy {
	return secure.Policy{
		"GET /v1/products":                   {secure.Gateway},
		"GET /v1/products/{id}":              {secure.Gateway},
		"POST /v1/products":                  {secure.Gateway},
		"PATCH /v1/products/{id}":            {secure.Gateway},
		"POST /v1/reservations":              {secure.Orders},
		"DELETE /v1/reservations/{order_id}": {secure.Orders},
		"/":                                  secure.Services,
	}
}
