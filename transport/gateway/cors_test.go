package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchyard/switchyard/transport/gateway"
)

func TestCORS(t *testing.T) {
	called := 0
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called++ })
	h := gateway.CORS{
		AllowedOrigins: []string{"https://shop.example"},
		AllowedMethods: []string{"GET", "POST"},
		ExposedHeaders: []string{"Retry-After"},
	}.Middleware()(next)

	cases := []struct {
		name, method, origin, reqMethod, reqHeaders string
		wantOrigin, wantMethods                     string
		wantCalled                                  bool
	}{
		{"same origin", "GET", "", "", "", "", "", true},
		{"allowed actual", "GET", "https://shop.example", "", "", "https://shop.example", "", true},
		{"other origin actual", "GET", "https://evil.example", "", "", "", "", true},
		{"allowed preflight", "OPTIONS", "https://shop.example", "POST", "content-type, idempotency-key", "https://shop.example", "GET, POST", false},
		{"preflight bad method", "OPTIONS", "https://shop.example", "DELETE", "", "https://shop.example", "", false},
		{"preflight bad header", "OPTIONS", "https://shop.example", "POST", "X-Admin", "https://shop.example", "", false},
		{"preflight other origin", "OPTIONS", "https://evil.example", "POST", "", "", "", false},
		{"plain OPTIONS", "OPTIONS", "", "", "", "", "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			called = 0
			r := httptest.NewRequest(c.method, "/api/v1/products", nil)
			if c.origin != "" {
				r.Header.Set("Origin", c.origin)
			}
			if c.reqMethod != "" {
				r.Header.Set("Access-Control-Request-Method", c.reqMethod)
			}
			if c.reqHeaders != "" {
				r.Header.Set("Access-Control-Request-Headers", c.reqHeaders)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if got := w.Header().Get("Access-Control-Allow-Origin"); got != c.wantOrigin {
				t.Errorf("Allow-Origin = %q, want %q", got, c.wantOrigin)
			}
			if got := w.Header().Get("Access-Control-Allow-Methods"); got != c.wantMethods {
				t.Errorf("Allow-Methods = %q, want %q", got, c.wantMethods)
			}
			if (called == 1) != c.wantCalled {
				t.Errorf("next called %d times, want called=%v", called, c.wantCalled)
			}
			if w.Header().Values("Vary")[0] != "Origin" {
				t.Errorf("Vary = %q, want Origin first", w.Header().Values("Vary"))
			}
		})
	}
	star := gateway.CORS{AllowedOrigins: []string{"*"}}.Middleware()(next)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Origin", "https://anyone.example")
	w := httptest.NewRecorder()
	star.ServeHTTP(w, r)
	if got := w.Header().Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("wildcard: Allow-Origin = %q", got)
	}
	creds := gateway.CORS{AllowedOrigins: []string{"*"}, AllowCredentials: true}.Middleware()(next)
	w = httptest.NewRecorder()
	creds.ServeHTTP(w, r)
	if got := w.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("wildcard with credentials must not allow any origin, got %q", got)
	}
}
