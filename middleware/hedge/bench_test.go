package hedge_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchyard/switchyard/middleware/hedge"
	"github.com/switchyard/switchyard/middleware/retry"
)

func noop(context.Context, any) (any, error) { return nil, nil }

// BenchmarkMiddleware measures a hedged call that answers at once (no
// backup is sent): the cost of arming and disarming the hedge.
func BenchmarkMiddleware(b *testing.B) {
	for _, mode := range []struct {
		name string
		cfg  hedge.Config
	}{
		{"fixed", hedge.Config{Delay: time.Second}},
		{"percentile", hedge.Config{Percentile: 0.95, InitialDelay: time.Second}},
	} {
		ep := newHedge(b, newBudget(b, retry.BudgetConfig{}), mode.cfg)(noop)
		b.Run(mode.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = ep(idem, nil)
			}
		})
		b.Run(mode.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, _ = ep(idem, nil)
				}
			})
		})
	}
	// Calls that are not idempotent pass straight through.
	ep := newHedge(b, newBudget(b, retry.BudgetConfig{}), hedge.Config{})(noop)
	b.Run("not-idempotent/serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = ep(context.Background(), nil)
		}
	})
}
