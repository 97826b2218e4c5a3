package orders_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/authn"
	"github.com/switchyard/switchyard/examples/ecommerce/orders"
	"github.com/switchyard/switchyard/middleware/auth"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// httpEnv serves an env's service over HTTP on 127.0.0.1 behind a real
// token validator, and signs tokens for usr_a and usr_b.
type httpEnv struct {
	*env
	srv    *httptest.Server
	client *http.Client
	key    ed25519.PrivateKey
}

func newHTTPEnv(t *testing.T, wrap func(orders.Store) orders.Store) *httpEnv {
	t.Helper()
	e := newEnv(t, wrap)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := authn.NewValidator(auth.StaticKeys(auth.Key{ID: authn.KeyID(pub), Alg: authn.Algorithm, Public: pub}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(shttp.LimitBody(0, orders.NewHTTPHandler(orders.MakeEndpoints(e.svc), v)))
	tr := &http.Transport{}
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server on %s, want loopback", srv.URL)
	}
	return &httpEnv{env: e, srv: srv, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, key: priv}
}

func (h *httpEnv) token(t *testing.T, user string) string {
	t.Helper()
	tok, err := authn.SignToken(h.key, authn.TokenClaims{UserID: user, Email: user + "@example.com", Role: authn.RoleUser}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// errCode returns the code of a JSON error body, or "".
func (a answer) errCode() string {
	var b struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(a.body, &b) != nil || b.Error.Message == "" {
		return ""
	}
	return b.Error.Code
}

// do sends a request as user ("" for none) with the given headers
// (name, value pairs; a name may repeat).
func (h *httpEnv) do(t *testing.T, method, path, user string, body []byte, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+h.token(t, user))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

const basketJSON = `{"items":[{"product_id":"prd_apple","quantity":3},{"product_id":"prd_pear","quantity":2}]}`

func TestHTTPOrderLifecycle(t *testing.T) {
	h := newHTTPEnv(t, nil)
	// Fields a client may not set are ignored.
	body := `{"items":[{"product_id":"prd_apple","quantity":3,"price_cents":1},{"product_id":"prd_pear","quantity":2}],
	          "user_id":"usr_b","status":"cancelled","total_cents":0,"id":"ord_mine"}`
	a := h.do(t, "POST", "/v1/orders", "usr_a", []byte(body), "Idempotency-Key", "order-1")
	if a.status != http.StatusCreated || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") || a.header.Get(orders.HeaderReplayed) != "" {
		t.Fatalf("create = %d %v %s", a.status, a.header, a.body)
	}
	o := decodeOrder(t, a.body)
	if o.UserID != "usr_a" || o.Status != orders.StatusConfirmed || o.ID != "ord_1" || o.TotalCents != 3*125+2*990 ||
		o.Items[0].PriceCents != 125 || o.CreatedAt.IsZero() {
		t.Fatalf("created order %+v", o)
	}

	rep := h.do(t, "POST", "/v1/orders", "usr_a", []byte(basketJSON), "Idempotency-Key", "order-1")
	if rep.status != a.status || !bytes.Equal(rep.body, a.body) || rep.header.Get(orders.HeaderReplayed) != "true" {
		t.Fatalf("replay = %d %q %v, want %d %q", rep.status, rep.body, rep.header, a.status, a.body)
	}

	g := h.do(t, "GET", "/v1/orders/"+o.ID, "usr_a", nil)
	if g.status != http.StatusOK || !bytes.Equal(g.body, a.body) {
		t.Fatalf("get = %d %s, want the created order %s", g.status, g.body, a.body)
	}
	l := h.do(t, "GET", "/v1/orders?limit=10", "usr_a", nil)
	var page orders.Page
	if l.status != http.StatusOK || json.Unmarshal(l.body, &page) != nil || len(page.Orders) != 1 || page.Orders[0].ID != o.ID {
		t.Fatalf("list = %d %s", l.status, l.body)
	}
	if !bytes.Contains(l.body, []byte(`"next_cursor":""`)) {
		t.Fatalf("list body %s lacks next_cursor", l.body)
	}

	// usr_b sees nothing of it.
	for _, req := range [][2]string{{"GET", "/v1/orders/" + o.ID}, {"POST", "/v1/orders/" + o.ID + "/cancel"}} {
		b := h.do(t, req[0], req[1], "usr_b", nil)
		if b.status != http.StatusNotFound || b.errCode() != "not_found" {
			t.Fatalf("usr_b %s %s = %d %s", req[0], req[1], b.status, b.body)
		}
	}
	if lb := h.do(t, "GET", "/v1/orders", "usr_b", nil); lb.status != http.StatusOK || !bytes.Contains(lb.body, []byte(`"orders":[]`)) {
		t.Fatalf("usr_b list = %d %s", lb.status, lb.body)
	}

	c := h.do(t, "POST", "/v1/orders/"+o.ID+"/cancel", "usr_a", nil)
	var co orders.Order
	if c.status != http.StatusOK || json.Unmarshal(c.body, &co) != nil || co.Status != orders.StatusCancelled || co.ID != o.ID {
		t.Fatalf("cancel = %d %s", c.status, c.body)
	}
	c2 := h.do(t, "POST", "/v1/orders/"+o.ID+"/cancel", "usr_a", nil)
	if c2.status != http.StatusOK || !bytes.Equal(c2.body, c.body) {
		t.Fatalf("second cancel = %d %s, want %s", c2.status, c2.body, c.body)
	}
	if h.catalog.stockOf("prd_apple") != 100 {
		t.Fatal("stock not back after cancel")
	}
}

func TestHTTPErrors(t *testing.T) {
	h := newHTTPEnv(t, nil)
	// A completed key to reuse, and an order to look for.
	if a := h.do(t, "POST", "/v1/orders", "usr_a", []byte(basketJSON), "Idempotency-Key", "used"); a.status != http.StatusCreated {
		t.Fatalf("setup: %d %s", a.status, a.body)
	}
	huge := append([]byte(`{"items":[],"pad":"`), bytes.Repeat([]byte("x"), 1<<20)...)
	huge = append(huge, `"}`...)
	tests := []struct {
		name    string
		method  string
		path    string
		user    string
		body    string
		headers []string
		status  int
		code    string
	}{
		{"no token", "POST", "/v1/orders", "", basketJSON, []string{"Idempotency-Key", "k"}, 401, "unauthorized"},
		{"no token on list", "GET", "/v1/orders", "", "", nil, 401, "unauthorized"},
		{"no token on get", "GET", "/v1/orders/ord_1", "", "", nil, 401, "unauthorized"},
		{"no token on cancel", "POST", "/v1/orders/ord_1/cancel", "", "", nil, 401, "unauthorized"},
		{"missing key", "POST", "/v1/orders", "usr_a", basketJSON, nil, 400, "missing_idempotency_key"},
		{"empty key", "POST", "/v1/orders", "usr_a", basketJSON, []string{"Idempotency-Key", ""}, 400, "missing_idempotency_key"},
		{"two keys", "POST", "/v1/orders", "usr_a", basketJSON, []string{"Idempotency-Key", "a", "Idempotency-Key", "b"}, 400, "invalid_idempotency_key"},
		{"key of 201", "POST", "/v1/orders", "usr_a", basketJSON, []string{"Idempotency-Key", strings.Repeat("k", 201)}, 400, "invalid_idempotency_key"},
		{"tab in key", "POST", "/v1/orders", "usr_a", basketJSON, []string{"Idempotency-Key", "a\tb"}, 400, "invalid_idempotency_key"},
		{"non-ASCII key", "POST", "/v1/orders", "usr_a", basketJSON, []string{"Idempotency-Key", "clé"}, 400, "invalid_idempotency_key"},
		{"malformed JSON", "POST", "/v1/orders", "usr_a", `{"items":[`, []string{"Idempotency-Key", "k"}, 400, "malformed_json"},
		{"wrong type", "POST", "/v1/orders", "usr_a", `{"items":[{"product_id":"prd_apple","quantity":"3"}]}`, []string{"Idempotency-Key", "k"}, 400, "invalid_field"},
		{"fractional quantity", "POST", "/v1/orders", "usr_a", `{"items":[{"product_id":"prd_apple","quantity":1.5}]}`, []string{"Idempotency-Key", "k"}, 400, "invalid_field"},
		{"empty body", "POST", "/v1/orders", "usr_a", "", []string{"Idempotency-Key", "k"}, 400, "bad_request"},
		{"no items", "POST", "/v1/orders", "usr_a", `{"items":[]}`, []string{"Idempotency-Key", "k"}, 400, "invalid_argument"},
		{"quantity 0", "POST", "/v1/orders", "usr_a", `{"items":[{"product_id":"prd_apple","quantity":0}]}`, []string{"Idempotency-Key", "k"}, 400, "invalid_argument"},
		{"quantity 1001", "POST", "/v1/orders", "usr_a", `{"items":[{"product_id":"prd_apple","quantity":1001}]}`, []string{"Idempotency-Key", "k"}, 400, "invalid_argument"},
		{"body over 1 MiB", "POST", "/v1/orders", "usr_a", string(huge), []string{"Idempotency-Key", "k"}, 413, "request_entity_too_large"},
		{"unknown product", "POST", "/v1/orders", "usr_a", `{"items":[{"product_id":"prd_kiwi","quantity":1}]}`, []string{"Idempotency-Key", "k"}, 400, "product_not_found"},
		{"out of stock", "POST", "/v1/orders", "usr_a", `{"items":[{"product_id":"prd_plum","quantity":4}]}`, []string{"Idempotency-Key", "oos"}, 409, "out_of_stock"},
		{"key reused", "POST", "/v1/orders", "usr_a", `{"items":[{"product_id":"prd_plum","quantity":1}]}`, []string{"Idempotency-Key", "used"}, 422, "idempotency_key_reused"},
		{"limit 0", "GET", "/v1/orders?limit=0", "usr_a", "", nil, 400, "invalid_argument"},
		{"limit 201", "GET", "/v1/orders?limit=201", "usr_a", "", nil, 400, "invalid_argument"},
		{"limit word", "GET", "/v1/orders?limit=ten", "usr_a", "", nil, 400, "invalid_argument"},
		{"bad cursor", "GET", "/v1/orders?cursor=%25%25", "usr_a", "", nil, 400, "invalid_cursor"},
		{"unknown order", "GET", "/v1/orders/ord_404", "usr_a", "", nil, 404, "not_found"},
		{"cancel unknown order", "POST", "/v1/orders/ord_404/cancel", "usr_a", "", nil, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.body != "" || tt.method == "POST" {
				body = []byte(tt.body)
			}
			a := h.do(t, tt.method, tt.path, tt.user, body, tt.headers...)
			if a.status != tt.status || a.errCode() != tt.code {
				t.Fatalf("%s %s = %d %s, want %d %s", tt.method, tt.path, a.status, a.body, tt.status, tt.code)
			}
			if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("error with Content-Type %q", ct)
			}
		})
	}
	// None of the refused requests made an order.
	list, _ := h.store.Orders(context.Background(), "usr_a", nil, 100)
	if len(list) != 1 {
		t.Fatalf("%d orders, want the setup's one", len(list))
	}
	// The out_of_stock answer is final and replayed.
	a := h.do(t, "POST", "/v1/orders", "usr_a", []byte(`{"items":[{"product_id":"prd_plum","quantity":4}]}`), "Idempotency-Key", "oos")
	if a.status != http.StatusConflict || a.errCode() != "out_of_stock" || a.header.Get(orders.HeaderReplayed) != "true" {
		t.Fatalf("out_of_stock replay = %d %s %v", a.status, a.body, a.header)
	}
}

// The same key and body sent 10 times at once: one order, one
// reservation; every answer is the first response or 409
// request_in_progress, and every later replay is the first response.
func TestHTTPIdempotentConcurrentRequests(t *testing.T) {
	for _, gated := range []bool{true, false} {
		t.Run(fmt.Sprintf("gated=%v", gated), func(t *testing.T) {
			h := newHTTPEnv(t, nil)
			const n = 10
			want409 := -1 // any number: requests race the first to completion
			var conflicts atomic.Int32
			gate := make(chan struct{})
			if gated {
				// The first attempt waits in the catalog until the nine
				// others have been answered, so they all meet it in flight.
				// (Were one of them not a 409, the first would wait until
				// its own deadline and the checks below would fail.)
				want409 = n - 1
				h.catalog.beforeReserve = func(ctx context.Context, _ string) error {
					select {
					case <-gate:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			}
			var (
				wg  sync.WaitGroup
				mu  sync.Mutex
				all []answer
			)
			start := make(chan struct{})
			for range n {
				wg.Go(func() {
					<-start
					a := h.do(t, "POST", "/v1/orders", "usr_a", []byte(basketJSON), "Idempotency-Key", "same")
					if a.status == http.StatusConflict && conflicts.Add(1) == n-1 {
						close(gate)
					}
					mu.Lock()
					all = append(all, a)
					mu.Unlock()
				})
			}
			close(start)
			wg.Wait()
			checkConcurrentAnswers(t, h, all, want409)
		})
	}
}

// checkConcurrentAnswers checks the answers of the concurrent requests
// (want409 of them 409, or any number when negative) and then replays.
func checkConcurrentAnswers(t *testing.T, h *httpEnv, all []answer, want409 int) {
	t.Helper()
	var first *answer
	for i, a := range all {
		if a.status == http.StatusCreated && a.header.Get(orders.HeaderReplayed) == "" {
			if first != nil {
				t.Fatalf("two first answers: %s and %s", first.body, a.body)
			}
			first = &all[i]
		}
	}
	if first == nil {
		t.Fatalf("no request created the order: %v", all)
	}
	conflicts := 0
	for _, a := range all {
		switch {
		case a.status == http.StatusConflict && a.errCode() == "request_in_progress":
			conflicts++
			if a.header.Get("Retry-After") == "" {
				t.Error("409 request_in_progress without Retry-After")
			}
		case a.status == first.status && bytes.Equal(a.body, first.body):
		default:
			t.Errorf("answer %d %s is neither the first response nor request_in_progress", a.status, a.body)
		}
	}
	if want409 >= 0 && conflicts != want409 {
		t.Errorf("%d answers were 409, want %d", conflicts, want409)
	}
	for range 5 {
		a := h.do(t, "POST", "/v1/orders", "usr_a", []byte(basketJSON), "Idempotency-Key", "same")
		if a.status != first.status || !bytes.Equal(a.body, first.body) {
			t.Fatalf("replay = %d %s, want %d %s", a.status, a.body, first.status, first.body)
		}
	}
	reserves, _ := h.catalog.counts()
	if len(reserves) != 1 {
		t.Fatalf("reservation calls = %v, want exactly one", reserves)
	}
	list, _ := h.store.Orders(context.Background(), "usr_a", nil, 100)
	if len(list) != 1 {
		t.Fatalf("%d orders, want exactly one", len(list))
	}
	checkConsistent(t, h.store, h.catalog, "usr_a")
}

func TestHTTPKeysArePerUser(t *testing.T) {
	h := newHTTPEnv(t, nil)
	var ids []string
	for _, u := range []string{"usr_a", "usr_b"} {
		a := h.do(t, "POST", "/v1/orders", u, []byte(basketJSON), "Idempotency-Key", "shared-key")
		if a.status != http.StatusCreated || a.header.Get(orders.HeaderReplayed) != "" {
			t.Fatalf("%s: %d %s", u, a.status, a.body)
		}
		o := decodeOrder(t, a.body)
		if o.UserID != u {
			t.Fatalf("%s got an order of %s", u, o.UserID)
		}
		ids = append(ids, o.ID)
	}
	if ids[0] == ids[1] {
		t.Fatalf("both users got order %s", ids[0])
	}
	if reserves, _ := h.catalog.counts(); !slices.Equal(reserves, ids) {
		t.Fatalf("reservations %v, want %v", reserves, ids)
	}
}
