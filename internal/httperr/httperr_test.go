package httperr_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/httperr"
)

func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		name          string
		status        int
		code, message string
		before        http.Header // set on the writer before Write
		body          string
		kept          http.Header // headers Write must leave alone
	}{
		{
			name: "plain", status: 503, code: "overloaded", message: "limit reached",
			body: `{"error":{"code":"overloaded","message":"limit reached"}}` + "\n",
		},
		{
			name: "extra headers are kept", status: 429, code: "rate_limited", message: "retry after 2s",
			before: http.Header{"Retry-After": {"2"}, "Www-Authenticate": {"Bearer"}},
			body:   `{"error":{"code":"rate_limited","message":"retry after 2s"}}` + "\n",
			kept:   http.Header{"Retry-After": {"2"}, "Www-Authenticate": {"Bearer"}},
		},
		{
			name: "the four headers are replaced", status: 500, code: "internal_server_error", message: "internal server error",
			before: http.Header{"Content-Type": {"text/html"}, "Cache-Control": {"max-age=60"}, "Content-Length": {"9999"}},
			body:   `{"error":{"code":"internal_server_error","message":"internal server error"}}` + "\n",
		},
		{
			name: "quotes, backslashes, control characters", status: 404, code: "not_found", message: "no route for GET /a\"b\\c\n",
			body: `{"error":{"code":"not_found","message":"no route for GET /a\"b\\c\n"}}` + "\n",
		},
		{
			name: "HTML and line separators escaped as encoding/json does", status: 400, code: "bad_request", message: "<script>&\u2028",
			body: `{"error":{"code":"bad_request","message":"\u003cscript\u003e\u0026\u2028"}}` + "\n",
		},
		{
			name: "invalid UTF-8 becomes U+FFFD", status: 400, code: "bad_path", message: "path \xff",
			body: `{"error":{"code":"bad_path","message":"path \ufffd"}}` + "\n",
		},
		{
			name: "UTF-8 passes", status: 409, code: "conflict", message: "déjà vu",
			body: `{"error":{"code":"conflict","message":"déjà vu"}}` + "\n",
		},
		{
			name: "empty strings", status: 499, code: "", message: "",
			body: `{"error":{"code":"","message":""}}` + "\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			for k, vs := range tc.before {
				w.Header()[k] = vs
			}
			httperr.Write(w, tc.status, tc.code, tc.message)
			if w.Code != tc.status {
				t.Errorf("status %d, want %d", w.Code, tc.status)
			}
			if got := w.Body.String(); got != tc.body {
				t.Errorf("body\n got %s\nwant %s", got, tc.body)
			}
			var decoded struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &decoded); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if decoded.Error.Code != tc.code {
				t.Errorf("decoded code %q, want %q", decoded.Error.Code, tc.code)
			}
			want := http.Header{
				"Content-Type":           {"application/json; charset=utf-8"},
				"X-Content-Type-Options": {"nosniff"},
				"Cache-Control":          {"no-store"},
				"Content-Length":         {strconv.Itoa(len(tc.body))},
			}
			for k, vs := range tc.kept {
				want[k] = vs
			}
			h := w.Result().Header
			if len(h) != len(want) {
				t.Errorf("headers %v, want %v", h, want)
			}
			for k, vs := range want {
				if got := h.Values(k); len(got) != len(vs) || got[0] != vs[0] {
					t.Errorf("%s = %q, want %q", k, got, vs)
				}
			}
		})
	}
}

// An Add after Write must not overwrite a neighbouring header that shares
// Write's backing array.
func TestWriteHeaderValuesAreSeparate(t *testing.T) {
	w := httptest.NewRecorder()
	httperr.Write(w, 503, "overloaded", "x")
	w.Header().Add("Content-Type", "text/plain")
	if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Fatalf("X-Content-Type-Options = %q after an Add to Content-Type", got)
	}
}

func TestAppendBodyMatchesEncodingJSON(t *testing.T) {
	for _, msg := range []string{"", "plain", `"quoted"`, "tab\there", "<&>", "\u2029", "\xfe\xff", "日本"} {
		type fields struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		want, _ := json.Marshal(struct {
			Error fields `json:"error"`
		}{fields{"some_code", msg}})
		if got := httperr.AppendBody(nil, "some_code", msg); string(got) != string(want) {
			t.Errorf("AppendBody(%q)\n got %s\nwant %s", msg, got, want)
		}
	}
}

type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

func BenchmarkWrite(b *testing.B) {
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		httperr.Write(w, 429, "rate_limited", "rate limit exceeded, retry after 1s")
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int64
	}{{0, 1}, {-time.Second, 1}, {time.Millisecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2}, {time.Minute, 60}} {
		if got := httperr.RetryAfterSeconds(c.d); got != c.want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}
