package outcome_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/outcome"
)

type temporary bool

func (t temporary) Error() string   { return "temporary?" }
func (t temporary) Temporary() bool { return bool(t) }

func TestDefault(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	bg := context.Background()
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	cases := []struct {
		name string
		ctx  context.Context
		err  error
		want outcome.Class
	}{
		{"nil", bg, nil, outcome.Success},
		{"500", bg, &outcome.StatusError{Status: 500}, outcome.ServerFailure},
		{"503 wrapped", bg, fmt.Errorf("call catalog: %w", &outcome.StatusError{Status: 503}), outcome.ServerFailure},
		{"429 is the caller's limit, not the instance's health", bg, &outcome.StatusError{Status: 429}, outcome.CallerFault},
		{"404", bg, &outcome.StatusError{Status: 404}, outcome.CallerFault},
		{"409 wrapped twice", bg, fmt.Errorf("a: %w", fmt.Errorf("b: %w", &outcome.StatusError{Status: 409})), outcome.CallerFault},
		{"400 inside a join", bg, errors.Join(errors.New("x"), &outcome.StatusError{Status: 400}), outcome.CallerFault},
		{"3xx is not a verdict", bg, &outcome.StatusError{Status: 302}, outcome.ServerFailure},
		{"caller canceled wins over 500", canceled, &outcome.StatusError{Status: 500}, outcome.Canceled},
		{"context.Canceled", bg, fmt.Errorf("wrapped: %w", context.Canceled), outcome.Canceled},
		{"per-try timeout", bg, fmt.Errorf("try: %w", context.DeadlineExceeded), outcome.ServerFailure},
		{"i/o deadline", bg, os.ErrDeadlineExceeded, outcome.ServerFailure},
		{"connection refused", bg, opErr, outcome.ServerFailure},
		{"connection reset", bg, fmt.Errorf("read: %w", syscall.ECONNRESET), outcome.ServerFailure},
		{"unexpected EOF", bg, io.ErrUnexpectedEOF, outcome.ServerFailure},
		{"not temporary", bg, temporary(false), outcome.CallerFault},
		{"temporary", bg, temporary(true), outcome.ServerFailure},
		{"unknown", bg, errors.New("mystery"), outcome.ServerFailure},
		{"nil ctx", nil, &outcome.StatusError{Status: 502}, outcome.ServerFailure},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := outcome.Default(c.ctx, c.err); got != c.want {
				t.Fatalf("Default(%v) = %v, want %v", c.err, got, c.want)
			}
		})
	}
}

func TestDefaultDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	errs := []error{
		fmt.Errorf("call: %w", &outcome.StatusError{Status: 503}),
		errors.Join(errors.New("x"), &outcome.StatusError{Status: 404}),
		&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED},
		errors.New("mystery"),
	}
	for _, err := range errs {
		if n := testing.AllocsPerRun(100, func() { outcome.Default(ctx, err) }); n != 0 {
			t.Errorf("Default(%v) allocates %v times", err, n)
		}
	}
}

func TestOr(t *testing.T) {
	if outcome.Or(nil)(context.Background(), &outcome.StatusError{Status: 500}) != outcome.ServerFailure {
		t.Fatal("Or(nil) is not Default")
	}
	always := func(context.Context, error) outcome.Class { return outcome.CallerFault }
	if outcome.Or(always)(context.Background(), &outcome.StatusError{Status: 500}) != outcome.CallerFault {
		t.Fatal("Or(c) is not c")
	}
}

func TestClassString(t *testing.T) {
	for c, want := range map[outcome.Class]string{
		outcome.Success: "success", outcome.ServerFailure: "server_failure",
		outcome.CallerFault: "caller_fault", outcome.Canceled: "canceled", 99: "unknown",
	} {
		if c.String() != want {
			t.Errorf("%d.String() = %q, want %q", c, c.String(), want)
		}
	}
}

func BenchmarkDefault(b *testing.B) {
	ctx := context.Background()
	err := fmt.Errorf("call: %w", &outcome.StatusError{Status: 503})
	b.ReportAllocs()
	for b.Loop() {
		outcome.Default(ctx, err)
	}
}

func TestNewClasses(t *testing.T) {
	bg := context.Background()
	budget, cancel := outcome.WithTimeout(bg, time.Nanosecond)
	defer cancel()
	<-budget.Done()
	own, cancelOwn := context.WithTimeout(bg, time.Nanosecond)
	defer cancelOwn()
	<-own.Done()
	// A budget whose parent (the caller's own deadline) ran out first
	// keeps the parent's cause: the caller gave up.
	parentFirst, cancelPF := outcome.WithTimeout(own, time.Hour)
	defer cancelPF()
	cases := []struct {
		name string
		ctx  context.Context
		err  error
		want outcome.Class
	}{
		{"aborted body", bg, outcome.Abort(io.ErrUnexpectedEOF), outcome.Aborted},
		{"aborted wrapped", bg, fmt.Errorf("proxy: %w", outcome.Abort(errors.New("chunked framing"))), outcome.Aborted},
		{"aborted wins over a done context", own, outcome.Abort(io.ErrUnexpectedEOF), outcome.Aborted},
		{"budget ran out", budget, context.DeadlineExceeded, outcome.ServerFailure},
		{"budget ran out, any error", budget, errors.New("read tcp: use of closed connection"), outcome.ServerFailure},
		{"caller's own deadline", own, context.DeadlineExceeded, outcome.Canceled},
		{"caller's deadline under a budget", parentFirst, &outcome.StatusError{Status: 504}, outcome.Canceled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := outcome.Default(c.ctx, c.err); got != c.want {
				t.Fatalf("Default(%v) = %v, want %v", c.err, got, c.want)
			}
		})
	}
	if outcome.Abort(nil) != nil {
		t.Fatal("Abort(nil) is not nil")
	}
	inner := io.ErrUnexpectedEOF
	if e := outcome.Abort(outcome.Abort(inner)); !errors.Is(e, inner) || errors.Unwrap(errors.Unwrap(e)) == inner {
		t.Fatalf("Abort twice wraps twice or loses the error: %v", e)
	}
	for c := range outcome.Class(outcome.NumClasses) {
		if c.String() == "unknown" {
			t.Fatalf("class %d has no name", c)
		}
		want := c == outcome.Canceled || c == outcome.Aborted || c == outcome.Skipped
		if c.Neutral() != want {
			t.Fatalf("%v.Neutral() = %v", c, c.Neutral())
		}
	}
}

func TestStatusError(t *testing.T) {
	sentinel := errors.New("injected")
	for _, tc := range []struct {
		name string
		err  *outcome.StatusError
		text string
		is   error
	}{
		{"bare", &outcome.StatusError{Status: 503}, "status 503 Service Unavailable", nil},
		{"with a cause", &outcome.StatusError{Status: 404, Err: sentinel}, "status 404 Not Found: injected", sentinel},
		{"unknown status", &outcome.StatusError{Status: 599}, "status 599", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.text {
				t.Errorf("Error() = %q, want %q", got, tc.text)
			}
			if got := tc.err.StatusCode(); got != tc.err.Status {
				t.Errorf("StatusCode() = %d, want %d", got, tc.err.Status)
			}
			if tc.is != nil && !errors.Is(tc.err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", tc.err, tc.is)
			}
			var se *outcome.StatusError
			if !errors.As(fmt.Errorf("wrapped: %w", tc.err), &se) || se != tc.err {
				t.Errorf("errors.As did not find the StatusError")
			}
		})
	}
}
