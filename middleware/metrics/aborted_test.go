package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/brokenreq"
	"github.com/switchyard/switchyard/middleware/metrics"
	"github.com/switchyard/switchyard/outcome"
)

// TestHandlerLabelsRequestsTheClientBrokeAborted sends requests with broken
// framing, truncated, oversized and abandoned bodies over raw sockets to a
// handler that answers 500 when it cannot read its body. None is recorded
// with outcome server_failure; the exposition shows them as aborted (or
// canceled, when the client was gone first), and a well-formed request as a
// success.
func TestHandlerLabelsRequestsTheClientBrokeAborted(t *testing.T) {
	for _, c := range brokenreq.Cases("/login") {
		t.Run(c.Name, func(t *testing.T) {
			p, err := metrics.NewPrometheus(metrics.PrometheusConfig{OmitRuntimeMetrics: true})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Shutdown(context.Background())
			var rec brokenreq.Recorder
			m, err := metrics.New(metrics.Config{MeterProvider: p.MeterProvider(), Classifier: rec.Classify})
			if err != nil {
				t.Fatal(err)
			}
			addr, wait := brokenreq.Serve(t, m.Operation("login").Handler(brokenreq.Naive))
			for range 3 {
				brokenreq.Send(t, addr, c)
			}
			wait(3)
			if status := brokenreq.Good(t, addr, "/login"); status != http.StatusOK {
				t.Fatalf("a well-formed request answered %d", status)
			}
			wait(4)
			if n := rec.Count(outcome.ServerFailure); n != 0 {
				t.Fatalf("%d broken requests classified as server failures (%v)", n, &rec)
			}
			if n := rec.Count(outcome.Aborted) + rec.Count(outcome.Canceled); n != 3 {
				t.Fatalf("%d of 3 broken requests recorded as the caller's (%v)", n, &rec)
			}
			w := httptest.NewRecorder()
			p.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			body := w.Body.String()
			if strings.Contains(body, `outcome="server_failure"`) {
				t.Fatalf("exposition holds a server failure:\n%s", body)
			}
			if !strings.Contains(body, `outcome="success"`) {
				t.Fatalf("the well-formed request is missing:\n%s", body)
			}
		})
	}
}
