package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	shttp "github.com/switchyard/switchyard/transport/http"
)

type createUser struct {
	Email string `json:"email"`
	Name  string `json:"name"`
	Age   int    `json:"age"`
}

func newRequest(body, contentType string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/users", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func TestJSONDecoder(t *testing.T) {
	cases := []struct {
		name        string
		decoder     shttp.JSONDecoder
		body        string
		contentType string
		want        createUser
		status      int // 0: success
		code        string
	}{
		{name: "valid", body: `{"email":"a@b.c","name":"A","age":3}`, contentType: "application/json",
			want: createUser{Email: "a@b.c", Name: "A", Age: 3}},
		{name: "charset parameter", body: `{"name":"A"}`, contentType: "application/json; charset=utf-8",
			want: createUser{Name: "A"}},
		{name: "+json type", body: `{"name":"A"}`, contentType: "application/merge-patch+json",
			want: createUser{Name: "A"}},
		{name: "no content type", body: `{"name":"A"}`, want: createUser{Name: "A"}},
		{name: "unknown fields ignored (no mass assignment)", body: `{"name":"A","role":"admin","id":"x"}`,
			want: createUser{Name: "A"}},
		{name: "surrounding whitespace", body: " \n{\"name\":\"A\"}\n\t", want: createUser{Name: "A"}},
		{name: "unknown field refused when strict", decoder: shttp.JSONDecoder{DisallowUnknownFields: true},
			body: `{"name":"A","role":"admin"}`, status: 400, code: "unknown_field"},
		{name: "strict accepts known fields", decoder: shttp.JSONDecoder{DisallowUnknownFields: true},
			body: `{"name":"A"} `, want: createUser{Name: "A"}},
		{name: "strict refuses trailing data", decoder: shttp.JSONDecoder{DisallowUnknownFields: true},
			body: `{"name":"A"} {}`, status: 400, code: "malformed_json"},
		{name: "empty", body: "", status: 400, code: "bad_request"},
		{name: "whitespace only", body: "  \n", status: 400, code: "bad_request"},
		{name: "syntax error", body: `{"name":}`, status: 400, code: "malformed_json"},
		{name: "truncated", body: `{"name":"A"`, status: 400, code: "malformed_json"},
		{name: "trailing data", body: `{"name":"A"} x`, status: 400, code: "malformed_json"},
		{name: "two values", body: `{"name":"A"}{"name":"B"}`, status: 400, code: "malformed_json"},
		{name: "wrong type", body: `{"age":"old"}`, status: 400, code: "invalid_field"},
		{name: "overflow", body: `{"age":1e400}`, status: 400},
		{name: "not an object", body: `[1,2]`, status: 400, code: "invalid_field"},
		{name: "form content type", body: `name=A`, contentType: "application/x-www-form-urlencoded",
			status: 415, code: "unsupported_media_type"},
		{name: "text/plain (CSRF-able) refused", body: `{"name":"A"}`, contentType: "text/plain", status: 415},
		{name: "over decoder limit", decoder: shttp.JSONDecoder{MaxBytes: 10}, body: `{"name":"ABCDEFGH"}`,
			status: 413, code: "request_entity_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got createUser
			err := c.decoder.Decode(newRequest(c.body, c.contentType), &got)
			if c.status == 0 {
				if err != nil {
					t.Fatalf("err %v", err)
				}
				if got != c.want {
					t.Fatalf("got %+v, want %+v", got, c.want)
				}
				return
			}
			var e *shttp.Error
			if !errors.As(err, &e) {
				t.Fatalf("err %v (%T), want *Error", err, err)
			}
			if e.StatusCode() != c.status {
				t.Errorf("status %d, want %d (%v)", e.StatusCode(), c.status, err)
			}
			if c.code != "" {
				body, _ := e.MarshalJSON()
				if !strings.Contains(string(body), `"code":"`+c.code+`"`) {
					t.Errorf("body %s, want code %s", body, c.code)
				}
			}
		})
	}
}

// A body exactly at the limit is accepted: the limit is inclusive.
func TestJSONDecoderLimitIsInclusive(t *testing.T) {
	body := `{"name":"AB"}`
	var got createUser
	if err := (shttp.JSONDecoder{MaxBytes: int64(len(body))}).Decode(newRequest(body, ""), &got); err != nil {
		t.Fatal(err)
	}
	err := (shttp.JSONDecoder{MaxBytes: int64(len(body) - 1)}).Decode(newRequest(body, ""), &got)
	if shttp.StatusOf(err) != 413 {
		t.Fatalf("one byte over: %v", err)
	}
}

// The decoder reads at most limit+1 bytes, whatever the body's length.
func TestJSONDecoderReadsAtMostLimitPlusOne(t *testing.T) {
	const limit = 100
	src := &countingReader{r: strings.NewReader(strings.Repeat(" ", 1<<20))}
	r := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(src))
	r.ContentLength = -1 // unknown, as for a chunked body
	var v any
	err := (shttp.JSONDecoder{MaxBytes: limit}).Decode(r, &v)
	if shttp.StatusOf(err) != 413 {
		t.Fatalf("err %v", err)
	}
	if src.n > limit+1 {
		t.Fatalf("read %d bytes, want ≤ %d", src.n, limit+1)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestDecodeJSONRequestIsAKitDecoder(t *testing.T) {
	v, err := shttp.DecodeJSONRequest[createUser](context.Background(), newRequest(`{"name":"A"}`, ""))
	if err != nil || v.(createUser).Name != "A" {
		t.Fatalf("%v %v", v, err)
	}
	_, err = shttp.DecodeJSONRequest[createUser](context.Background(), newRequest(`{`, ""))
	if shttp.StatusOf(err) != 400 {
		t.Fatalf("err %v", err)
	}
}

type created struct {
	ID string `json:"id"`
}

func (created) StatusCode() int      { return http.StatusCreated }
func (created) Headers() http.Header { return http.Header{"Location": {"/users/1"}} }

type failed struct{ err error }

func (f failed) Failed() error { return f.err }

func TestEncodeJSONResponse(t *testing.T) {
	cases := []struct {
		name     string
		response any
		status   int
		body     string
		header   [2]string
	}{
		{"plain", map[string]int{"a": 1}, 200, `{"a":1}` + "\n", [2]string{"Content-Type", "application/json; charset=utf-8"}},
		{"status and headers", created{ID: "1"}, 201, `{"id":"1"}` + "\n", [2]string{"Location", "/users/1"}},
		{"nil", nil, 204, "", [2]string{}},
		{"failer", failed{shttp.NotFound("no such user")}, 404,
			`{"error":{"code":"not_found","message":"no such user"}}` + "\n", [2]string{}},
		{"failer hides internals", failed{errors.New("pq: password authentication failed for db 10.0.0.5")}, 500,
			`{"error":{"code":"internal_server_error","message":"internal server error"}}` + "\n", [2]string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			if err := shttp.EncodeJSONResponse(context.Background(), w, c.response); err != nil {
				t.Fatal(err)
			}
			if w.Code != c.status || w.Body.String() != c.body {
				t.Fatalf("got %d %q, want %d %q", w.Code, w.Body.String(), c.status, c.body)
			}
			if c.header[0] != "" && w.Header().Get(c.header[0]) != c.header[1] {
				t.Fatalf("header %s = %q", c.header[0], w.Header().Get(c.header[0]))
			}
		})
	}
	// A value that cannot be encoded is an error before anything is
	// written, so the handler's error encoder can still answer 500.
	w := httptest.NewRecorder()
	if err := shttp.EncodeJSONResponse(context.Background(), w, math.Inf(1)); err == nil {
		t.Fatal("want an error")
	}
	if w.Body.Len() != 0 || w.Code != 200 || len(w.Header()) != 0 {
		t.Fatalf("wrote %d %q before failing", w.Code, w.Body.String())
	}
}

// NewHandler answers every failure with the JSON error body.
func TestNewHandlerErrors(t *testing.T) {
	h := shttp.NewHandler(
		func(_ context.Context, req any) (any, error) {
			switch req.(createUser).Name {
			case "missing":
				return nil, shttp.NotFound("user not found")
			case "secret":
				return nil, errors.New("dial tcp 10.1.2.3:5432: connection refused")
			case "inf":
				return math.Inf(1), nil
			}
			return created{ID: "1"}, nil
		},
		shttp.DecodeJSONRequest[createUser],
		shttp.EncodeJSONResponse,
	)
	cases := []struct {
		body   string
		status int
		code   string
	}{
		{`{"name":"ok"}`, 201, ""},
		{`{"name":"missing"}`, 404, "not_found"},
		{`{"name":"secret"}`, 500, "internal_server_error"},
		{`{"name":"inf"}`, 500, "internal_server_error"},
		{`{"name":`, 400, "malformed_json"},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, newRequest(c.body, "application/json"))
		if w.Code != c.status {
			t.Errorf("%s: status %d, want %d", c.body, w.Code, c.status)
		}
		if strings.Contains(w.Body.String(), "10.1.2.3") {
			t.Errorf("%s: internals leaked: %s", c.body, w.Body.String())
		}
		if c.code == "" {
			continue
		}
		var eb struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error.Code != c.code || eb.Error.Message == "" {
			t.Errorf("%s: body %s", c.body, w.Body.String())
		}
	}
}
