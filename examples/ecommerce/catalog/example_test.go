package catalog_test

import (
	"fmt"

	"github.com/switchyard/switchyard/examples/ecommerce/catalog"
)

// A cursor is opaque to clients; the service reads the last id back out.
func ExampleEncodeCursor() {
	c := catalog.EncodeCursor("prd_k3j5v2m7q4w6abxzrbsc")
	id, _ := catalog.DecodeCursor(c)
	fmt.Println(c)
	fmt.Println(id)
	// Output:
	// cHJkX2szajV2Mm03cTR3NmFieHpyYnNj
	// prd_k3j5v2m7q4w6abxzrbsc
}

// Repeated products in one reservation are merged and sorted.
func ExampleMergeItems() {
	items, err := catalog.MergeItems([]catalog.Item{
		{ProductID: "prd_b", Quantity: 2},
		{ProductID: "prd_a", Quantity: 1},
		{ProductID: "prd_b", Quantity: 3},
	})
	fmt.Println(items, err)
	// Output:
	// [{prd_a 1} {prd_b 5}] <nil>
}
