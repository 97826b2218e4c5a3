package identity_test

import (
	"context"
	"fmt"

	"github.com/switchyard/switchyard/identity"
)

func Example() {
	id, err := identity.ForService("shop.internal", "orders")
	if err != nil {
		panic(err)
	}
	fmt.Println(id, id.TrustDomain(), id.Service())

	// A server puts the caller's verified identity on the request context
	// (identity.HTTPToContext, middleware/authz); handlers read it there.
	ctx := identity.NewContext(context.Background(), id)
	if caller, ok := identity.FromContext(ctx); ok {
		fmt.Println("called by", caller.Service())
	}

	_, err = identity.Parse("spiffe://shop.internal/../admin")
	fmt.Println(err)
	// Output:
	// spiffe://shop.internal/orders shop.internal orders
	// called by orders
	// identity: invalid SPIFFE ID: "spiffe://shop.internal/../admin": path has a '.' or '..' segment
}
