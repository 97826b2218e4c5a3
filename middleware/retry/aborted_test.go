package retry_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/outcome"
)

// failingBody fails after giving some bytes, like a caller's upload that
// breaks halfway.
type failingBody struct{ sent bool }

func (b *failingBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, `{"email":`), nil
	}
	return 0, io.ErrUnexpectedEOF
}

func (b *failingBody) Close() error { return nil }

// seekableFailing is a body that can be rewound (so go-retryablehttp reads
// it during each attempt rather than up front) and fails to read.
type seekableFailing struct{ *os.File }

func (seekableFailing) Read([]byte) (int, error) { return 0, errors.New("disk read error") }

// TestHTTPClientDoesNotRetryBodyErrors sends idempotent PUTs whose body
// cannot be read, to a server that would answer 503 and so be retried:
// the call fails with an error marked as the caller's (outcome.Aborted),
// is sent at most once, and deposits nothing into the budget.
func TestHTTPClientDoesNotRetryBodyErrors(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "body"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests := []struct {
		name      string
		body      func() io.ReadCloser
		wantDepos bool
	}{
		{"broken stream", func() io.ReadCloser { return &failingBody{} }, false},
		{"broken seekable body", func() io.ReadCloser { return seekableFailing{f} }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			defer srv.Close()
			b, err := retry.NewBudget(retry.BudgetConfig{MinPerSecond: -1, Ratio: 1})
			if err != nil {
				t.Fatal(err)
			}
			c := newClient(t, b, retry.Config{})
			req, _ := http.NewRequest(http.MethodPut, srv.URL, tt.body())
			req.ContentLength = -1
			resp, err := c.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("answered %d, want the body's error", resp.StatusCode)
			}
			if !errors.Is(err, outcome.ErrAborted) || outcome.Default(req.Context(), err) != outcome.Aborted {
				t.Fatalf("error %v is not the caller's", err)
			}
			if n := hits.Load(); n > 1 {
				t.Fatalf("the server saw %d attempts, want at most one", n)
			}
			if got := b.Balance() > 0; got != tt.wantDepos {
				t.Fatalf("budget balance %v after a broken body, want a deposit: %v", b.Balance(), tt.wantDepos)
			}
			if strings.Contains(err.Error(), "giving up") {
				t.Fatalf("retried: %v", err)
			}
		})
	}
}
