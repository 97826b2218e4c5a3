package orders_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
	"github.com/switchyard/switchyard/examples/ecommerce/orders"
)

// Placing an order twice with one idempotency key places it once: the
// second call gets the first answer again. Another body under the same key
// is refused.
func ExampleNewService() {
	dir, _ := os.MkdirTemp("", "orders-example")
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "orders.db"), orders.Migrations...)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	svc := orders.NewService(orders.NewSQLiteStore(db), newFakeUsers("usr_a"), newFakeCatalog(),
		orders.WithOrderIDs(sequentialIDs()))

	ctx := context.Background()
	items := []orders.Item{{ProductID: "prd_apple", Quantity: 2}}
	first, _ := svc.PlaceOrder(ctx, "usr_a", "checkout-42", items)
	again, _ := svc.PlaceOrder(ctx, "usr_a", "checkout-42", items)
	fmt.Println(first.Order.ID, first.Order.TotalCents, first.Replayed)
	fmt.Println(again.Order.ID, again.Order.TotalCents, again.Replayed)

	_, err = svc.PlaceOrder(ctx, "usr_a", "checkout-42", []orders.Item{{ProductID: "prd_pear", Quantity: 1}})
	fmt.Println(errors.Is(err, orders.ErrKeyReused))
	// Output:
	// ord_1 250 false
	// ord_1 250 true
	// true
}

// Bodies that differ only in line order or in how a product's quantity is
// split are the same request for their idempotency key.
func ExampleRequestHash() {
	a, _ := orders.NormalizeItems([]orders.Item{{ProductID: "prd_b", Quantity: 1}, {ProductID: "prd_a", Quantity: 2}})
	b, _ := orders.NormalizeItems([]orders.Item{{ProductID: "prd_a", Quantity: 1}, {ProductID: "prd_b", Quantity: 1}, {ProductID: "prd_a", Quantity: 1}})
	fmt.Println(a)
	fmt.Println(orders.RequestHash(a) == orders.RequestHash(b))
	// Output:
	// [{prd_b 1} {prd_a 2}]
	// true
}

func ExampleValidateKey() {
	for _, k := range []string{"order-2031-05-06-0001", "", "tab\there"} {
		fmt.Printf("%q: %v\n", k, orders.ValidateKey(k))
	}
	// Output:
	// "order-2031-05-06-0001": <nil>
	// "": orders: missing idempotency key: key is required
	// "tab\there": orders: invalid idempotency key: key must be printable ASCII
}
