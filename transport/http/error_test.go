package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/middleware/deadline"
	"github.com/switchyard/switchyard/outcome"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// rejection is a middleware-style error: a status and a header, no
// knowledge of this package.
type rejection struct{}

func (rejection) Error() string        { return "ratelimit: limited (bucket user:42)" }
func (rejection) StatusCode() int      { return 429 }
func (rejection) Headers() http.Header { return http.Header{"Retry-After": {"3"}} }

func TestErrorFor(t *testing.T) {
	cases := []struct {
		name    string
		err     error
		status  int
		code    string
		message string
		header  [2]string
	}{
		{"not found", shttp.NotFound("no such product"), 404, "not_found", "no such product", [2]string{}},
		{"wrapped", fmt.Errorf("catalog: get: %w", shttp.Conflict("sku taken")), 409, "conflict", "sku taken", [2]string{}},
		{"custom code", &shttp.Error{Status: 409, Code: "out_of_stock", Message: "not enough stock"}, 409, "out_of_stock", "not enough stock", [2]string{}},
		{"bad request", shttp.BadRequest("email is required"), 400, "bad_request", "email is required", [2]string{}},
		{"unauthorized", shttp.Unauthorized(""), 401, "unauthorized", "unauthorized", [2]string{}},
		{"forbidden", shttp.Forbidden("admins only"), 403, "forbidden", "admins only", [2]string{}},
		{"unprocessable", shttp.Unprocessable("key reused"), 422, "unprocessable_entity", "key reused", [2]string{}},
		{"too many", shttp.TooManyRequests("slow down", 2), 429, "too_many_requests", "slow down", [2]string{"Retry-After", "2"}},
		{"unavailable", shttp.Unavailable("maintenance"), 503, "service_unavailable", "maintenance", [2]string{}},
		{"internal keeps cause private", shttp.Internal(errors.New("disk /dev/sda1 full")), 500, "internal_server_error", "internal server error", [2]string{}},
		{"non-error status", &shttp.Error{Status: 200, Message: "fine"}, 500, "internal_server_error", "internal server error", [2]string{}},
		{"unknown error", errors.New("sql: no rows in table users_secret"), 500, "internal_server_error", "internal server error", [2]string{}},
		{"deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), 504, "deadline_exceeded", "deadline exceeded", [2]string{}},
		{"canceled", context.Canceled, 499, "client_closed_request", "client closed request", [2]string{}},
		{"no hosts", balancer.ErrNoHosts, 503, "no_instances", "no instance is available", [2]string{}},
		{"max bytes", &http.MaxBytesError{Limit: 10}, 413, "request_entity_too_large", "request body is larger than 10 bytes", [2]string{}},
		{"status coder", rejection{}, 429, "too_many_requests", "too many requests", [2]string{"Retry-After", "3"}},
		{"deadline error", fmt.Errorf("call: %w", &deadline.Error{Status: 504, Code: "deadline_exceeded", Message: "no time left"}), 504, "deadline_exceeded", "no time left", [2]string{}},
		{"bad deadline header", &deadline.Error{Status: 400, Code: "bad_deadline", Message: "malformed header"}, 400, "bad_deadline", "malformed header", [2]string{}},
		{"breaker open", &circuitbreaker.RejectedError{Name: "users@10.0.0.1", RetryAfter: 2500 * time.Millisecond}, 503, "circuit_open", "a dependency is failing; try again later", [2]string{"Retry-After", "3"}},
		{"dependency 404", &shttp.ResponseError{Status: 404, Code: "not_found", Message: "user 7 not found"}, 502, "bad_gateway", "a dependency failed", [2]string{}},
		{"dependency 401", &shttp.ResponseError{Status: 401}, 502, "bad_gateway", "a dependency failed", [2]string{}},
		{"dependency 503", &shttp.ResponseError{Status: 503}, 503, "service_unavailable", "a dependency is unavailable", [2]string{}},
		{"dependency 504", &shttp.ResponseError{Status: 504}, 504, "gateway_timeout", "a dependency timed out", [2]string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := shttp.StatusOf(c.err); got != c.status {
				t.Errorf("StatusOf = %d, want %d", got, c.status)
			}
			w := httptest.NewRecorder()
			shttp.EncodeError(context.Background(), c.err, w)
			if w.Code != c.status {
				t.Errorf("status %d, want %d", w.Code, c.status)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("content type %q", ct)
			}
			var eb struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil {
				t.Fatalf("body %q: %v", w.Body.String(), err)
			}
			if eb.Error.Code != c.code || eb.Error.Message != c.message {
				t.Errorf("body %s, want code %q message %q", w.Body.String(), c.code, c.message)
			}
			if c.header[0] != "" && w.Header().Get(c.header[0]) != c.header[1] {
				t.Errorf("header %s = %q", c.header[0], w.Header().Get(c.header[0]))
			}
			for _, secret := range []string{"sda1", "users_secret", "user 7", "bucket", "10.0.0.1"} {
				if strings.Contains(w.Body.String(), secret) {
					t.Errorf("body leaks %q: %s", secret, w.Body.String())
				}
			}
		})
	}
	if shttp.StatusOf(nil) != 200 || shttp.ErrorFor(nil) != nil {
		t.Error("nil is not an error")
	}
}

// The typed errors classify the way the rest of the library expects.
func TestErrorsClassify(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		err  error
		want outcome.Class
	}{
		{shttp.NotFound("x"), outcome.CallerFault},
		{shttp.Unavailable("x"), outcome.ServerFailure},
		{&shttp.ResponseError{Status: 500}, outcome.ServerFailure},
		{&shttp.ResponseError{Status: 429}, outcome.CallerFault},
		{&shttp.ResponseError{Status: 409}, outcome.CallerFault},
		{fmt.Errorf("wrapped: %w", &shttp.ResponseError{Status: 502}), outcome.ServerFailure},
	}
	for _, c := range cases {
		if got := outcome.Default(ctx, c.err); got != c.want {
			t.Errorf("%v: %v, want %v", c.err, got, c.want)
		}
	}
}

// go-kit's own DefaultErrorEncoder writes the same body for an *Error,
// because it implements json.Marshaler, StatusCoder and Headerer.
func TestErrorWithKitEncoder(t *testing.T) {
	w := httptest.NewRecorder()
	kithttp.DefaultErrorEncoder(context.Background(), shttp.TooManyRequests("wait", 1), w)
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" ||
		w.Body.String() != `{"error":{"code":"too_many_requests","message":"wait"}}` {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body.String())
	}
}

func TestErrorText(t *testing.T) {
	err := &shttp.Error{Status: 404, Message: "no such user", Err: errors.New("sql: no rows")}
	if got := err.Error(); got != "http 404 not_found: no such user: sql: no rows" {
		t.Fatalf("%q", got)
	}
	if !strings.Contains(err.Error(), "sql: no rows") || errors.Unwrap(err).Error() != "sql: no rows" {
		t.Fatal("cause lost")
	}
}

func TestCodeForStatus(t *testing.T) {
	cases := map[int]string{
		400: "bad_request", 404: "not_found", 415: "unsupported_media_type",
		418: "im_a_teapot", 431: "request_header_fields_too_large", 500: "internal_server_error",
		499: "client_closed_request", 599: "status_599",
	}
	for status, want := range cases {
		if got := shttp.CodeForStatus(status); got != want {
			t.Errorf("%d: %q, want %q", status, got, want)
		}
	}
}
