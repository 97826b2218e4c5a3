package catalog_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzRoute sends body to method path on the real handler (as an admin
// where a token is needed) and checks that the answer has a status from
// allowed and a JSON body, with an error code for failures.
//
// Seeds may name the product "PRODUCT", which is replaced with the id of a
// real product with plenty of stock, so that the fuzzer also reaches the
// paths where reservations and patches succeed.
func fuzzRoute(f *testing.F, method, path string, allowed map[int]bool, seeds ...string) {
	fx := newFixture(f)
	h, tok := newHandler(f, fx)
	id := fx.product(f, "Fuzzed", 1_000_000_000)
	path = strings.ReplaceAll(path, "PRODUCT", id)
	for _, s := range seeds {
		f.Add(strings.ReplaceAll(s, "PRODUCT", id))
	}
	f.Fuzz(func(t *testing.T, in string) {
		target, body := path, in
		if strings.Contains(path, "?") {
			target, body = path+in, ""
		}
		req, err := http.NewRequest(method, target, strings.NewReader(body))
		if err != nil {
			return // not a request a client can send
		}
		req.Header.Set("Authorization", "Bearer "+tok.admin)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("status %d for %q: %s", rec.Code, in, rec.Body)
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

// FuzzDecodeProduct: any body to POST /v1/products gets 201 or 400.
func FuzzDecodeProduct(f *testing.F) {
	fuzzRoute(f, "POST", "/v1/products", map[int]bool{201: true, 400: true},
		`{"name":"Mug","description":"","price_cents":100,"stock":1}`,
		`{"name":"Mug","price_cents":1e12}`, `{"name":"Mug","price_cents":-0}`, `{"name":"Mug","price_cents":1.5}`,
		`{"name":"\u0000","price_cents":1}`, `{"price_cents":9223372036854775808}`, `null`, `{`, ``)
}

// FuzzDecodePatch: any body to PATCH /v1/products/{id} gets 200, 400 or 404.
func FuzzDecodePatch(f *testing.F) {
	fuzzRoute(f, "PATCH", "/v1/products/PRODUCT", map[int]bool{200: true, 400: true, 404: true},
		`{"stock":1}`, `{"name":null}`, `{"name":"x","description":"y","price_cents":0,"stock":0}`, `{}`, `[]`)
}

// FuzzDecodeReservation: any body to POST /v1/reservations gets 200, 400,
// 404 or 409.
func FuzzDecodeReservation(f *testing.F) {
	fuzzRoute(f, "POST", "/v1/reservations", map[int]bool{200: true, 400: true, 404: true, 409: true},
		`{"order_id":"o1","items":[{"product_id":"PRODUCT","quantity":1}]}`,
		`{"order_id":"o2","items":[{"product_id":"PRODUCT","quantity":1},{"product_id":"PRODUCT","quantity":1000}]}`,
		`{"order_id":"o3","items":[{"product_id":"PRODUCT","quantity":1},{"product_id":"prd_x","quantity":1}]}`,
		`{"order_id":"o1","items":null}`, `{"order_id":1}`, `{"items":[{}]}`, ``)
}

// FuzzListQuery: any query string of GET /v1/products gets 200 or 400.
func FuzzListQuery(f *testing.F) {
	fuzzRoute(f, "GET", "/v1/products?", map[int]bool{200: true, 400: true},
		"limit=10", "limit=10&cursor=cHJkX2E", "cursor=", "limit=200&limit=1", "cursor=%00", "limit=9999999999999999999")
}
