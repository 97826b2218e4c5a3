package catalog_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/catalog"
)

// BenchmarkReserve measures one reservation (one IMMEDIATE transaction with
// a guarded decrement and two inserts) on a SQLite file, and, in parallel,
// how writers of one process queue for the write lock.
func BenchmarkReserve(b *testing.B) {
	f := newFixture(b)
	id := f.product(b, "Bench", catalog.MaxStock)
	ctx := context.Background()
	var n atomic.Int64
	reserve := func(b *testing.B) {
		if _, err := f.svc.Reserve(ctx, fmt.Sprint("ord_", n.Add(1)), []catalog.Item{{ProductID: id, Quantity: 1}}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			reserve(b)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				reserve(b)
			}
		})
	})
}

// BenchmarkList measures a page of 50 products.
func BenchmarkList(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	for i := range 100 {
		f.product(b, fmt.Sprint("p", i), 1)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.svc.List(ctx, 50, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := f.svc.List(ctx, 50, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
