package authz_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/middleware/authz"
)

// FuzzHandler sends random requests (method, request target, Host) from
// random callers through Handler in front of a ServeMux that registers
// the rules' patterns, and checks the decision against ServeMux itself:
// the handler is reached exactly when ServeMux routes the request to a
// rule's pattern and that rule admits the caller, and then it is that
// pattern's handler that runs. Everything else is a 403.
//
//	go test -run '^$' -fuzz FuzzHandler -fuzztime 5000x ./middleware/authz/
func FuzzHandler(f *testing.F) {
	orders, gateway, users := id(f, "orders"), id(f, "gateway"), id(f, "users")
	callers := []identity.ID{{}, orders, gateway, users}
	rules := []authz.Rule{
		{Route: "GET /healthz", Anyone: true},
		{Route: "GET /{$}", Anyone: true},
		{Route: "DELETE /v1/reservations/{id}", Callers: []identity.ID{orders}},
		{Route: "POST /v1/reservations/{id}/confirm", Callers: []identity.ID{orders}},
		{Route: "GET /v1/users/{id}", Callers: []identity.ID{gateway, orders}},
		{Route: "/v1/users/", Callers: []identity.ID{gateway}},
		{Route: "/static/{path...}", Anyone: true},
		{Route: "/debug/", Nobody: true},
		{Route: "admin.shop.test/", Callers: []identity.ID{users}},
		{Route: "CONNECT /tunnel", Callers: []identity.ID{gateway}},
	}
	a, err := authz.New(authz.Config{Rules: rules})
	if err != nil {
		f.Fatal(err)
	}
	// The service: one handler per pattern, recording which ran.
	var ran string
	mux := http.NewServeMux()
	byPattern := make(map[string]authz.Rule)
	for _, r := range rules {
		byPattern[r.Route] = r
		mux.HandleFunc(r.Route, func(http.ResponseWriter, *http.Request) { ran = r.Route })
	}
	var passed bool
	h := a.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		passed = true
		mux.ServeHTTP(w, r)
	}))
	admits := func(r authz.Rule, c identity.ID) bool {
		return r.Anyone || !c.IsZero() && slices.Contains(r.Callers, c)
	}

	for _, s := range []struct{ method, target, host string }{
		{"GET", "/healthz", "shop.test"},
		{"HEAD", "/healthz", "shop.test"},
		{"GET", "/v1/../healthz", "shop.test"},
		{"DELETE", "/v1/reservations/1", "shop.test"},
		{"DELETE", "/v1/reservations/1/", "shop.test"},
		{"POST", "/v1/reservations/1/confirm", "shop.test"},
		{"GET", "/v1/users/7", "shop.test"},
		{"PUT", "/v1/users/7", "shop.test"},
		{"GET", "/v1/users", "shop.test"},
		{"GET", "/static/../debug/x", "shop.test"},
		{"GET", "/static/a%2F..%2F..%2Fdebug", "shop.test"},
		{"GET", "/debug/pprof", "admin.shop.test"},
		{"GET", "http://admin.shop.test/x", "shop.test"},
		{"GET", "/", "admin.shop.test:8443"},
		{"CONNECT", "/tunnel", "shop.test"},
		{"CONNECT", "shop.test:443", "shop.test"},
		{"OPTIONS", "*", "shop.test"},
		{"GET", "//healthz", "shop.test"},
		{"GET", "/%2e%2e/healthz", "shop.test"},
	} {
		for c := range callers {
			f.Add(s.method, s.target, s.host, uint8(c))
		}
	}

	f.Fuzz(func(t *testing.T, method, target, host string, who uint8) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http's server would not serve it either
		}
		caller := callers[int(who)%len(callers)]
		if !caller.IsZero() {
			req = req.WithContext(identity.NewContext(req.Context(), caller))
		}
		// What ServeMux routes the request to: a pattern's handler, or
		// (pattern "" or a handler of its own) a 404, 405 or redirect.
		want := false
		_, pattern := mux.Handler(req)
		rule, routed := byPattern[pattern]
		if routed {
			// Handler also reports the redirect target's pattern: run the
			// mux to see whether the pattern's handler is what serves.
			ran = ""
			mux.ServeHTTP(httptest.NewRecorder(), req)
			routed = ran == pattern
		}
		if routed {
			want = admits(rule, caller)
		}

		passed, ran = false, ""
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch {
		case passed != want:
			t.Fatalf("%q from %q (ServeMux routes it to %q, routed %v): passed %v, want %v", raw, caller, pattern, routed, passed, want)
		case passed && ran != pattern:
			t.Fatalf("%q from %q: judged by %q but served by %q", raw, caller, pattern, ran)
		case !passed && w.Code != http.StatusForbidden:
			t.Fatalf("%q from %q: refused with %d", raw, caller, w.Code)
		}
	})
}
