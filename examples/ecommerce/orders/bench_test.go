package orders_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/orders"
)

// benchEnv is an env whose catalog never runs out.
func benchEnv(b *testing.B) *env {
	e := newEnv(b, nil)
	e.catalog.stock["prd_apple"] = 1 << 40
	e.catalog.stock["prd_pear"] = 1 << 40
	return e
}

// BenchmarkPlaceOrder measures placing a new order (claim, user check,
// reservation, order and answer stored) on SQLite in a temporary
// directory, with in-memory users and catalog: the service's own cost per
// order, without the network.
func BenchmarkPlaceOrder(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		e := benchEnv(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := e.svc.PlaceOrder(context.Background(), "usr_a", fmt.Sprint("k", i), basket); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		e := benchEnv(b)
		var n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := e.svc.PlaceOrder(context.Background(), "usr_a", fmt.Sprint("k", n.Add(1)), basket); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkReplay measures answering a retry of a completed key from the
// idempotency store.
func BenchmarkReplay(b *testing.B) {
	run := func(b *testing.B, parallel bool) {
		e := benchEnv(b)
		if _, err := e.svc.PlaceOrder(context.Background(), "usr_a", "k", basket); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		replay := func() {
			res, err := e.svc.PlaceOrder(context.Background(), "usr_a", "k", basket)
			if err != nil || !res.Replayed {
				b.Error(err)
			}
		}
		if !parallel {
			for range b.N {
				replay()
			}
			return
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				replay()
			}
		})
	}
	b.Run("serial", func(b *testing.B) { run(b, false) })
	b.Run("parallel", func(b *testing.B) { run(b, true) })
}

// BenchmarkRequestHash measures validating and hashing a 10-line request.
func BenchmarkRequestHash(b *testing.B) {
	items := make([]orders.Item, 10)
	for i := range items {
		items[i] = orders.Item{ProductID: fmt.Sprintf("prd_%020d", i), Quantity: i + 1}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n, _ := orders.NormalizeItems(items)
			_ = orders.RequestHash(n)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				n, _ := orders.NormalizeItems(items)
				_ = orders.RequestHash(n)
			}
		})
	})
}
