package retry_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/switchyard/switchyard/middleware/retry"
)

// TestFinalAttempt records retry.FinalAttempt on every attempt of calls
// that always fail with a retryable error: only the last allowed attempt
// is final, with a retry layer of any size in front of the endpoint or
// inside the HTTP client, and every attempt is final without one.
func TestFinalAttempt(t *testing.T) {
	if !retry.FinalAttempt(context.Background()) {
		t.Fatal("an attempt with no retry layer on its path is not final")
	}
	for _, tt := range []struct {
		attempts int
		want     []bool
	}{
		{1, []bool{true}},
		{3, []bool{false, false, true}},
		{5, []bool{false, false, false, false, true}},
	} {
		t.Run(fmt.Sprintf("endpoint/%d attempts", tt.attempts), func(t *testing.T) {
			var got []bool
			ep := newMiddleware(t, newBudget(t, retry.BudgetConfig{}), retry.Config{MaxAttempts: tt.attempts, Backoff: retry.NoBackoff})(
				func(ctx context.Context, _ any) (any, error) {
					got = append(got, retry.FinalAttempt(ctx))
					return nil, err503
				})
			_, _ = ep(retry.MarkIdempotent(context.Background()), nil)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("%d attempts: FinalAttempt %v, want %v", tt.attempts, got, tt.want)
			}
		})
		t.Run(fmt.Sprintf("http/%d attempts", tt.attempts), func(t *testing.T) {
			u := newUpstream(t, 503)
			var (
				mu  sync.Mutex // guards got
				got []bool
			)
			base := &http.Transport{}
			t.Cleanup(base.CloseIdleConnections)
			rec := roundTripFunc(func(req *http.Request) (*http.Response, error) {
				mu.Lock()
				got = append(got, retry.FinalAttempt(req.Context()))
				mu.Unlock()
				return base.RoundTrip(req)
			})
			c := newClientOn(t, newBudget(t, retry.BudgetConfig{}), rec, retry.Config{MaxAttempts: tt.attempts})
			req, _ := http.NewRequest(http.MethodGet, u.URL, nil)
			if code, _ := do(t, c, req); code != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503", code)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(got, tt.want) {
				t.Fatalf("%d attempts: FinalAttempt %v, want %v", tt.attempts, got, tt.want)
			}
		})
	}
}

// TestFinalAttemptUnderAnOuterLayer nests two retry layers: the inner one
// makes a single attempt per outer attempt, and whether it is final is the
// outer layer's to say.
func TestFinalAttemptUnderAnOuterLayer(t *testing.T) {
	b := newBudget(t, retry.BudgetConfig{})
	var got []bool
	probe := func(ctx context.Context, _ any) (any, error) {
		got = append(got, retry.FinalAttempt(ctx))
		return nil, err503
	}
	outer := newMiddleware(t, b, retry.Config{MaxAttempts: 2, Backoff: retry.NoBackoff})
	inner := newMiddleware(t, b, retry.Config{MaxAttempts: 1})
	_, _ = outer(inner(probe))(retry.MarkIdempotent(context.Background()), nil)
	if want := []bool{false, true}; !slices.Equal(got, want) {
		t.Fatalf("FinalAttempt %v, want %v", got, want)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
