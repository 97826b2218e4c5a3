package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	shttp "github.com/switchyard/switchyard/transport/http"
)

type fuzzTarget struct {
	ID    string            `json:"id"`
	Count int32             `json:"count"`
	Price float64           `json:"price"`
	Tags  []string          `json:"tags"`
	Meta  map[string]string `json:"meta"`
	Items []struct {
		SKU string `json:"sku"`
		N   uint8  `json:"n"`
	} `json:"items"`
	Raw  json.RawMessage `json:"raw"`
	Flag *bool           `json:"flag"`
}

// FuzzDecodeJSON feeds arbitrary bodies through the decoder. It must never
// panic; it either decodes a body that is valid JSON within the limit or
// answers with an *Error that is a 400 or a 413 (the latter only for a
// body over the limit), whose JSON error body encodes cleanly.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","count":3,"price":9.5,"tags":["x"],"meta":{"k":"v"},"items":[{"sku":"s","n":2}],"raw":{"z":[1]},"flag":true}`,
		`{}`, `[]`, `null`, `"str"`, `1e999`, `{"count":"3"}`, `{"n":256}`, `{"id":"a"} trailing`,
		`{"id":"\ud800"}`, "\xef\xbb\xbf{}", `{"role":"admin"}`, `{"items":[{"n":-1}]}`, `{`, ``, ` `,
		`{"meta":{"a":1}}`, `{"id":"a","id":"b"}`, `{"ID":"case"}`, "{\"id\":\"a\x00\"}",
	} {
		f.Add([]byte(s), false, uint16(0), false)
		f.Add([]byte(s), true, uint16(16), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, strict bool, limit uint16, chunked bool) {
		d := shttp.JSONDecoder{MaxBytes: int64(limit), DisallowUnknownFields: strict}
		effective := int64(limit)
		if effective == 0 {
			effective = shttp.DefaultMaxBodyBytes
		}
		for _, target := range []any{new(fuzzTarget), new(any)} {
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			if chunked {
				r.ContentLength = -1
			}
			err := d.Decode(r, target)
			if err == nil {
				if int64(len(body)) > effective {
					t.Fatalf("accepted %d bytes over a limit of %d", len(body), effective)
				}
				if !json.Valid(body) {
					t.Fatalf("accepted invalid JSON %q", body)
				}
				continue
			}
			var e *shttp.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			switch e.StatusCode() {
			case http.StatusBadRequest:
			case http.StatusRequestEntityTooLarge:
				if int64(len(body)) <= effective {
					t.Fatalf("413 for %d bytes under a limit of %d", len(body), effective)
				}
			default:
				t.Fatalf("status %d for %q: %v", e.StatusCode(), body, err)
			}
			w := httptest.NewRecorder()
			shttp.EncodeError(context.Background(), err, w)
			if w.Code != e.StatusCode() || !json.Valid(w.Body.Bytes()) {
				t.Fatalf("error body %d %q", w.Code, w.Body.String())
			}
		}
	})
}
