package gateway

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzUpstreamPath drives arbitrary request paths through route matching
// and path rewriting, and checks that whatever is forwarded stays inside
// the route's upstream prefix and carries no segment an upstream could
// resolve differently.
func FuzzUpstreamPath(f *testing.F) {
	for _, s := range []string{
		"/api/x", "/img/a.png", "/img/..%2F..%2Fadmin", "/api/%2e%2e/x", "/files/a/b/../c",
		"/files/%00", "/api//x", "/files/a%5Cb", "/img/%2F", "/files/", "/api/a%2Fb",
	} {
		f.Add(s)
	}
	routes := []struct{ pattern, rewrite, prefix string }{
		{"/api/", "", "/api/"},
		{"/img/{name}", "/images/{name}", "/images/"},
		{"/files/{rest...}", "/static/{rest...}", "/static/"},
	}
	mux := http.NewServeMux()
	var got string
	var gotErr error
	var matched string
	for _, r := range routes {
		tmpl, err := compileTemplate(r.rewrite, r.pattern)
		if err != nil {
			f.Fatal(err)
		}
		prefix := r.prefix
		mux.HandleFunc(r.pattern, func(w http.ResponseWriter, req *http.Request) {
			got, gotErr = tmpl.upstreamPath(req)
			matched = prefix
		})
	}
	f.Fuzz(func(t *testing.T, path string) {
		u, err := url.ParseRequestURI(path)
		if err != nil || u.Host != "" || !strings.HasPrefix(path, "/") {
			return
		}
		req, err := http.NewRequest(http.MethodGet, "http://gw"+path, nil)
		if err != nil {
			return
		}
		got, gotErr, matched = "", nil, ""
		mux.ServeHTTP(httptest.NewRecorder(), req)
		if matched == "" || gotErr != nil {
			return // not routed, redirected to a clean path, or refused
		}
		if !strings.HasPrefix(got, matched) && got+"/" != matched {
			t.Fatalf("%q forwarded as %q, outside %q", path, got, matched)
		}
		if err := checkEscapedPath(got); err != nil {
			t.Fatalf("%q forwarded as unsafe path %q", path, got)
		}
		if _, err := url.PathUnescape(got); err != nil {
			t.Fatalf("%q forwarded with bad escaping %q", path, got)
		}
	})
}
