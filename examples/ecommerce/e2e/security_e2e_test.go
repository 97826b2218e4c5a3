package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// testStrangers: the services' own routes and the registry refuse a
// caller without a shop certificate — in plain HTTP and in TLS without a
// client certificate alike — and a shop service that a route's policy
// does not name, while the services that a route names are served. The
// rest of the REST contract passing through the gateway (the other
// scenarios) is the other half of the claim.
func testStrangers(t *testing.T, w *world) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := w.state(ctx, t)
	first := func(service string) string {
		addrs := st.instanceAddrs(service)
		if len(addrs) == 0 {
			t.Fatalf("no instance of %s", service)
		}
		return addrs[0]
	}
	users, catalog, orders := first("users"), first("catalog"), first("orders")
	stranger := stranger(t)
	plain := &http.Client{Timeout: 5 * time.Second}
	defer plain.CloseIdleConnections()
	asGateway, asOrders := w.shop.clientAs(t, "gateway"), w.shop.clientAs(t, "orders")

	reservation := `{"order_id":"ord_stranger","items":[{"product_id":"prd_none","quantity":1}]}`
	routes := []struct {
		name, method, addr, path, body string
		// member is a shop service the route's policy does not name.
		member *http.Client
	}{
		{"user lookup", "GET", users, "/v1/users/usr_0000000000000000", "", asGateway},
		{"JWKS", "GET", users, "/v1/jwks", "", nil},
		{"reserve stock", "POST", catalog, "/v1/reservations", reservation, asGateway},
		{"release stock", "DELETE", catalog, "/v1/reservations/ord_stranger", "", asGateway},
		{"product list", "GET", catalog, "/v1/products", "", asOrders},
		{"orders list", "GET", orders, "/v1/orders", "", asOrders},
	}
	for _, r := range routes {
		if status, code, err := send(ctx, plain, r.method, "http://"+r.addr+r.path, r.body); err == nil && status != http.StatusBadRequest {
			t.Errorf("%s in plain HTTP: %d %q, want 400 (a TLS listener)", r.name, status, code)
		}
		if status, code, err := send(ctx, stranger, r.method, "https://"+r.addr+r.path, r.body); err != nil || status != 403 || code != "no_identity" {
			t.Errorf("%s in TLS without a certificate: %d %q, %v; want 403 no_identity", r.name, status, code, err)
		}
		if r.member != nil {
			if status, code, err := send(ctx, r.member, r.method, "https://"+r.addr+r.path, r.body); err != nil || status != 403 || code != "forbidden" {
				t.Errorf("%s by a service its policy does not name: %d %q, %v; want 403 forbidden", r.name, status, code, err)
			}
		}
	}
	// The control: a service a route names is served.
	if status, _, err := send(ctx, asOrders, "GET", "https://"+users+"/v1/jwks", ""); err != nil || status != 200 {
		t.Errorf("the JWKS to orders: %d, %v; want 200", status, err)
	}

	// The registry: etcd's JSON gateway answers a range query only to a
	// caller with a shop certificate.
	rangeQuery := `{"key":"Lw==","range_end":"MA=="}` // every key under "/"
	reg := w.shop.registry
	if status, _, err := send(ctx, plain, "POST", "http://"+reg+"/v3/kv/range", rangeQuery); err == nil && status == 200 {
		t.Errorf("the registry answered a range query in plain HTTP")
	}
	if status, _, err := send(ctx, stranger, "POST", "https://"+reg+"/v3/kv/range", rangeQuery); err == nil {
		t.Errorf("the registry answered %d to TLS without a certificate, want a refused handshake", status)
	}
	if status, _, err := send(ctx, asGateway, "POST", "https://"+reg+"/v3/kv/range", rangeQuery); err != nil || status != 200 {
		t.Errorf("a range query with the gateway's certificate: %d, %v; want 200", status, err)
	}
}

// send makes one request and returns the status and the code of the
// shop's JSON error body, if any.
func send(ctx context.Context, hc *http.Client, method, url, body string) (status int, code string, err error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Error.Code, nil
}
