package users_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/users"
)

// fuzzRoute posts body to path on the real handler and checks the answer: a
// status from allowed, and a JSON body, with an error code for failures.
func fuzzRoute(f *testing.F, path string, allowed map[int]bool, seeds ...string) {
	fx := newFixture(f)
	h, err := users.NewHandler(fx.svc, fx.key)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("answer is not JSON: %q", rec.Body)
		}
		if rec.Code >= 400 {
			e, _ := out["error"].(map[string]any)
			if c, _ := e["code"].(string); c == "" {
				t.Fatalf("error without a code: %s", rec.Body)
			}
		}
	})
}

// FuzzDecodeSignup: any body gets 201, 400 or 409 with a JSON answer,
// never a panic or a 500.
func FuzzDecodeSignup(f *testing.F) {
	fuzzRoute(f, "/v1/users", map[int]bool{201: true, 400: true, 409: true},
		`{"email":"a@b.io","password":"12345678","name":"A"}`,
		`{"email":"a@b.io","password":"12345678","name":"A","role":"admin"}`,
		`{"email":"A@B.IO ","password":"\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000","name":"\u2028"}`,
		`{"email":["x"]}`, `null`, `"x"`, `{`, ``, `{"email":"a@b.io"}{}`)
}

// FuzzDecodeLogin: any body gets 200, 400, 401 or 429 (the fuzzer's
// failures are throttled) with a JSON answer.
func FuzzDecodeLogin(f *testing.F) {
	fuzzRoute(f, "/v1/login", map[int]bool{200: true, 400: true, 401: true, 429: true},
		`{"email":"a@b.io","password":"12345678"}`, `{"email":"","password":""}`, `{"password":1}`, `[]`, ``)
}
