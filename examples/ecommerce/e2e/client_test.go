package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// client talks to the shop's gateway the way the contract asks every
// client to: JSON bodies, and a 429 answered by waiting Retry-After
// seconds and trying again. It is safe for concurrent use.
type client struct {
	base string
	hc   *http.Client
	// throttled counts the 429 answers honoured.
	throttled atomic.Int64
}

func newClient(t *testing.T, base string) *client {
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 30 * time.Second}
	c := &client{base: base, hc: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
	t.Cleanup(tr.CloseIdleConnections)
	return c
}

// response is one answer of the gateway.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorCode returns the "code" of a JSON error body, or "".
func (r *response) errorCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (r *response) String() string {
	return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
}

// decode unmarshals the body into v.
func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r, err)
	}
}

// maxRetryAfter caps the wait for one 429, so that a bad Retry-After
// cannot stall a test.
const maxRetryAfter = 5 * time.Second

// call sends one request: body (nil, []byte sent as is, or a value encoded
// as JSON) with the bearer token (when not "") and the extra headers
// (name, value pairs). It waits and resends after 429 + Retry-After until
// ctx ends. It returns a transport error as an error.
func (c *client) call(ctx context.Context, method, path, token string, body any, headers ...string) (*response, error) {
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			return nil, err
		}
	}
	for {
		var rd io.Reader
		if raw != nil {
			rd = bytes.NewReader(raw)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
		if err != nil {
			return nil, err
		}
		if raw != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		r := &response{status: resp.StatusCode, header: resp.Header, body: data}
		if r.status != http.StatusTooManyRequests {
			return r, nil
		}
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || secs < 0 {
			return r, fmt.Errorf("e2e: 429 without a usable Retry-After (%q)", resp.Header.Get("Retry-After"))
		}
		c.throttled.Add(1)
		wait := min(time.Duration(secs)*time.Second, maxRetryAfter)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// must is call for the test goroutine: a transport error fails the test.
func (c *client) must(ctx context.Context, t *testing.T, method, path, token string, body any, headers ...string) *response {
	t.Helper()
	r, err := c.call(ctx, method, path, token, body, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// expect is must, failing the test unless the status is want.
func (c *client) expect(ctx context.Context, t *testing.T, want int, method, path, token string, body any, headers ...string) *response {
	t.Helper()
	r := c.must(ctx, t, method, path, token, body, headers...)
	if r.status != want {
		t.Fatalf("%s %s: got %s, want status %d", method, path, r, want)
	}
	return r
}

// The shapes of the REST API (DESIGN.md "examples/ecommerce — the contract").
type (
	user struct {
		ID    string `json:"id"`
		Email string `json:"email"`
		Name  string `json:"name"`
		Role  string `json:"role"`
	}
	product struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description"`
		PriceCents  int64  `json:"price_cents"`
		Stock       int64  `json:"stock"`
	}
	productPage struct {
		Products   []product `json:"products"`
		NextCursor string    `json:"next_cursor"`
	}
	item struct {
		ProductID  string `json:"product_id"`
		Quantity   int64  `json:"quantity"`
		PriceCents int64  `json:"price_cents,omitempty"`
	}
	order struct {
		ID         string `json:"id"`
		UserID     string `json:"user_id"`
		Status     string `json:"status"`
		Items      []item `json:"items"`
		TotalCents int64  `json:"total_cents"`
		CreatedAt  string `json:"created_at"`
	}
	orderPage struct {
		Orders     []order `json:"orders"`
		NextCursor string  `json:"next_cursor"`
	}
	loginAnswer struct {
		Token     string `json:"token"`
		ExpiresAt string `json:"expires_at"`
	}
)

// orderBody is the body of POST /api/v1/orders for one line.
func orderBody(productID string, quantity int64) map[string]any {
	return map[string]any{"items": []map[string]any{{"product_id": productID, "quantity": quantity}}}
}

// account is a user of the shop with its password and current token.
type account struct {
	user
	password string
	token    string
}

// signUp creates a user (201) and logs it in.
func (c *client) signUp(ctx context.Context, t *testing.T, email, name string) *account {
	t.Helper()
	a := &account{password: "pw-" + email + "-long enough"}
	r := c.expect(ctx, t, http.StatusCreated, "POST", "/api/v1/users", "",
		map[string]string{"email": email, "password": a.password, "name": name})
	r.decode(t, &a.user)
	c.logIn(ctx, t, a)
	return a
}

// logIn gets a fresh token for a.
func (c *client) logIn(ctx context.Context, t *testing.T, a *account) {
	t.Helper()
	r := c.expect(ctx, t, http.StatusOK, "POST", "/api/v1/login", "",
		map[string]string{"email": a.Email, "password": a.password})
	var l loginAnswer
	r.decode(t, &l)
	if l.Token == "" {
		t.Fatalf("login of %s: no token in %s", a.Email, r)
	}
	if exp, err := time.Parse(time.RFC3339, l.ExpiresAt); err != nil || !exp.After(time.Now()) {
		t.Fatalf("login of %s: expires_at %q is not a future RFC 3339 time", a.Email, l.ExpiresAt)
	}
	a.token = l.Token
}

// product reads one product.
func (c *client) product(ctx context.Context, t *testing.T, id string) product {
	t.Helper()
	var p product
	c.expect(ctx, t, http.StatusOK, "GET", "/api/v1/products/"+url.PathEscape(id), "", nil).decode(t, &p)
	return p
}

// createProduct creates a product as admin.
func (c *client) createProduct(ctx context.Context, t *testing.T, admin *account, name string, priceCents, stock int64) product {
	t.Helper()
	var p product
	c.expect(ctx, t, http.StatusCreated, "POST", "/api/v1/products", admin.token, map[string]any{
		"name": name, "description": "made by the end-to-end tests", "price_cents": priceCents, "stock": stock,
	}).decode(t, &p)
	if p.ID == "" || p.Stock != stock || p.PriceCents != priceCents || p.Name != name {
		t.Fatalf("created product %+v, want name %q, price %d, stock %d", p, name, priceCents, stock)
	}
	return p
}

// allProducts pages through GET /api/v1/products with the given limit.
func (c *client) allProducts(ctx context.Context, t *testing.T, limit int) []product {
	t.Helper()
	var all []product
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("GET /api/v1/products: more than 1000 pages; the cursor does not advance")
		}
		path := fmt.Sprintf("/api/v1/products?limit=%d", limit)
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page productPage
		c.expect(ctx, t, http.StatusOK, "GET", path, "", nil).decode(t, &page)
		if len(page.Products) > limit {
			t.Fatalf("GET %s: %d products, more than the limit", path, len(page.Products))
		}
		all = append(all, page.Products...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

// orders pages through the orders of a's token.
func (c *client) orders(ctx context.Context, t *testing.T, a *account) []order {
	t.Helper()
	var all []order
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("GET /api/v1/orders: more than 1000 pages; the cursor does not advance")
		}
		path := "/api/v1/orders?limit=200"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page orderPage
		c.expect(ctx, t, http.StatusOK, "GET", path, a.token, nil).decode(t, &page)
		all = append(all, page.Orders...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}
