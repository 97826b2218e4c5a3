package orders_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/orders"
)

// FuzzDecodePlaceOrderRequest feeds arbitrary keys and bodies to the
// create-order decoder and the item validation behind it: they never
// panic, refuse only with errors the transport answers 4xx, and accept
// only valid keys;
// accepted items normalize to valid lines whose hash ignores line order.
func FuzzDecodePlaceOrderRequest(f *testing.F) {
	f.Add("k", []byte(basketJSON))
	f.Add("", []byte(basketJSON))
	f.Add("a\tb", []byte(`{}`))
	f.Add("k", []byte(`{"items":[{"product_id":"p","quantity":1},{"product_id":"p","quantity":2}]}`))
	f.Add("k", []byte(`{"items":null,"role":"admin"}`))
	f.Add("k", []byte(`{"items":[{"product_id":"p","quantity":1e3}]}`))
	f.Add("k", []byte(`{"items":[{"product_id":"p","quantity":99999999999999999999}]}`))
	f.Add("k", []byte(`[1,2]`))
	f.Add("k", []byte(`{"items":[{"product_id":"\u0000","quantity":-1}]} trailing`))
	f.Fuzz(func(t *testing.T, key string, body []byte) {
		r := httptest.NewRequest("POST", "/v1/orders", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if key != "" {
			r.Header[orders.HeaderIdempotencyKey] = []string{key}
		}
		v, err := orders.DecodePlaceOrderRequest(context.Background(), r)
		if err != nil {
			if se := orders.HTTPError(err); se.Status < 400 || se.Status > 499 {
				t.Fatalf("decoder error %v (%T) is answered %d, not 4xx", err, err, se.Status)
			}
			return
		}
		req := v.(orders.PlaceOrderRequest)
		if req.Key != key || orders.ValidateKey(key) != nil {
			t.Fatalf("accepted key %q (request has %q)", key, req.Key)
		}
		items, err := orders.NormalizeItems(req.Items)
		if err != nil {
			if se := orders.HTTPError(err); se.Status != 400 || !errors.Is(err, orders.ErrInvalidArgument) {
				t.Fatalf("NormalizeItems error %v", err)
			}
			return
		}
		seen := map[string]bool{}
		total := 0
		for _, it := range items {
			if it.Quantity < 1 || it.ProductID == "" || seen[it.ProductID] {
				t.Fatalf("normalized items %v", items)
			}
			seen[it.ProductID] = true
			total += it.Quantity
		}
		want := 0
		for _, it := range req.Items {
			want += it.Quantity
		}
		if total != want {
			t.Fatalf("normalizing changed the total quantity: %d → %d", want, total)
		}
		rev := make([]orders.Item, len(items))
		for i, it := range items {
			rev[len(items)-1-i] = it
		}
		if orders.RequestHash(rev) != orders.RequestHash(items) {
			t.Fatal("the request hash depends on line order")
		}
	})
}

// FuzzValidateKey checks ValidateKey against the rule: 1 to 200 bytes, each
// printable ASCII.
func FuzzValidateKey(f *testing.F) {
	for _, k := range []string{"", "k", " ", "~", "a\tb", "\x7f", "é", string(bytes.Repeat([]byte("x"), 200)), string(bytes.Repeat([]byte("x"), 201))} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		ok := len(key) >= 1 && len(key) <= orders.MaxKeyLen
		for i := 0; i < len(key); i++ {
			if key[i] < ' ' || key[i] > '~' {
				ok = false
			}
		}
		err := orders.ValidateKey(key)
		if (err == nil) != ok {
			t.Fatalf("ValidateKey(%q) = %v, want ok=%v", key, err, ok)
		}
		if err != nil && orders.HTTPError(err).Status != 400 {
			t.Fatalf("ValidateKey(%q) = %v, not a 400", key, err)
		}
	})
}

// FuzzDecodeCursor checks that the cursor parser never panics, refuses with
// 400 invalid_cursor, and that what it accepts encodes back to a cursor
// that decodes to the same position.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(orders.Cursor{CreatedAt: t0, ID: "ord_1"}.Encode())
	f.Add("")
	f.Add("!!")
	f.Add("MTox")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := orders.DecodeCursor(s)
		if err != nil {
			if !errors.Is(err, orders.ErrInvalidCursor) || orders.HTTPError(err).Status != 400 {
				t.Fatalf("DecodeCursor(%q) = %v", s, err)
			}
			return
		}
		c2, err := orders.DecodeCursor(c.Encode())
		if err != nil || c2.ID != c.ID || !c2.CreatedAt.Equal(c.CreatedAt.Truncate(time.Millisecond)) {
			t.Fatalf("round trip of %q: %+v → %+v, %v", s, c, c2, err)
		}
	})
}
