package e2e_test

import (
	"strings"
	"testing"
)

// The checks the scenarios rely on must be able to fail: these tests feed
// them broken states without a shop.

func TestInvariantProblem(t *testing.T) {
	ok := func() lines { l := lines{}; l.add("ord_1", "prd_a", 2); l.add("ord_1", "prd_b", 1); return l }
	tests := []struct {
		name  string
		state invariantState
		want  string // substring of the problem; "" for none
	}{
		{"consistent", invariantState{reserved: ok(), confirmed: ok()}, ""},
		{"both empty", invariantState{reserved: lines{}, confirmed: lines{}}, ""},
		{"reservation without an order", invariantState{reserved: func() lines { l := ok(); l.add("ord_2", "prd_a", 1); return l }(), confirmed: ok()}, "order ord_2"},
		{"order without a reservation", invariantState{reserved: ok(), confirmed: func() lines { l := ok(); l.add("ord_3", "prd_a", 1); return l }()}, "order ord_3"},
		{"quantity differs", invariantState{reserved: ok(), confirmed: func() lines { l := ok(); l.add("ord_1", "prd_a", 1); return l }()}, "order ord_1"},
		{"claim in flight", invariantState{reserved: ok(), confirmed: ok(), inFlight: 1}, "1 idempotency claims still in flight"},
		{"release pending", invariantState{reserved: ok(), confirmed: ok(), pending: 2}, "2 releases pending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.state.problem()
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("problem() = %q, want one containing %q", got, tt.want)
			}
		})
	}
}

func TestSumRequests(t *testing.T) {
	const exposition = `# HELP switchyard_requests_total Calls and requests handled, by operation.
# TYPE switchyard_requests_total counter
switchyard_requests_total{operation="GET /v1/jwks"} 7
switchyard_requests_total{operation="GET /v1/me"} 2
switchyard_requests_total{operation="POST /v1/orders",otel_scope_name="x"} 3
switchyard_requests_total{operation="users.jwks"} 4
switchyard_request_duration_seconds_count{operation="GET /v1/me",outcome="success"} 2
`
	got, err := sumRequests(strings.NewReader(exposition))
	if err != nil || got != 5 {
		t.Errorf("sumRequests = %d, %v; want 5 (JWKS left out)", got, err)
	}
	if got, err := sumRequests(strings.NewReader("go_goroutines 3\n")); err != nil || got != 0 {
		t.Errorf("sumRequests of an instance that served nothing = %d, %v; want 0", got, err)
	}
	if _, err := sumRequests(strings.NewReader(`switchyard_requests_total{operation="x"} many` + "\n")); err == nil {
		t.Error("sumRequests of a bad sample: no error")
	}
}
