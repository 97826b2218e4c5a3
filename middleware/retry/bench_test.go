package retry_test

import (
	"context"
	"testing"

	"github.com/switchyard/switchyard/middleware/retry"
)

func noop(context.Context, any) (any, error) { return nil, nil }

func BenchmarkMiddleware(b *testing.B) {
	budget := newBudget(b, retry.BudgetConfig{})
	ep := newMiddleware(b, budget, retry.Config{})(noop)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = ep(ctx, nil)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = ep(ctx, nil)
			}
		})
	})
}

func BenchmarkBudgetDeposit(b *testing.B) {
	budget := newBudget(b, retry.BudgetConfig{})
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			budget.Deposit()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				budget.Deposit()
			}
		})
	})
}

func BenchmarkBudgetTryWithdraw(b *testing.B) {
	budget := newBudget(b, retry.BudgetConfig{})
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			budget.Deposit()
			budget.TryWithdraw()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				budget.Deposit()
				budget.TryWithdraw()
			}
		})
	})
}
