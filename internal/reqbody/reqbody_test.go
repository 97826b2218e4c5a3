package reqbody_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/reqbody"
	"github.com/switchyard/switchyard/outcome"
)

type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }
func (failing) Close() error               { return nil }

func TestWatch(t *testing.T) {
	broken := errors.New("invalid byte in chunk length")
	tests := []struct {
		name        string
		body        io.ReadCloser
		status      int
		wantErr     bool
		wantAborted bool
	}{
		{"no body", http.NoBody, 500, false, false},
		{"clean body, 200", io.NopCloser(strings.NewReader("{}")), 200, false, false},
		{"clean body, 500", io.NopCloser(strings.NewReader("{}")), 500, false, false},
		{"clean body, 413", io.NopCloser(strings.NewReader("{}")), 413, false, true},
		{"clean body, 408", io.NopCloser(strings.NewReader("{}")), 408, false, true},
		{"broken body, 500", failing{broken}, 500, true, true},
		{"truncated body, 200", failing{io.ErrUnexpectedEOF}, 200, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			r.Body = tt.body
			b := reqbody.Watch(r)
			if again := reqbody.Watch(r); again != b {
				t.Fatal("a second Watch did not reuse the first Body")
			}
			_, err := io.ReadAll(r.Body)
			if (err != nil) != tt.wantErr {
				t.Fatalf("read error %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, outcome.ErrAborted) {
				t.Fatalf("read error %v is not marked aborted", err)
			}
			if got := b.Aborted(tt.status); got != tt.wantAborted {
				t.Fatalf("Aborted(%d) = %v, want %v", tt.status, got, tt.wantAborted)
			}
			class := outcome.Default(r.Context(), b.Abort(tt.status, errors.New("handler failed")))
			if tt.wantAborted != (class == outcome.Aborted) {
				t.Fatalf("class %v, want aborted %v", class, tt.wantAborted)
			}
		})
	}
}

// TestUnwrap: the Body gives back the body it watches, so that layers
// further out can still reach a body of their own beneath it.
func TestUnwrap(t *testing.T) {
	inner := io.NopCloser(strings.NewReader("{}"))
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Body = inner
	b := reqbody.Watch(r)
	if got := b.Unwrap(); got != inner {
		t.Fatalf("Unwrap() = %v, want the watched body", got)
	}
}
