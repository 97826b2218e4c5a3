package gateway

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// web holds the storefront and the dashboard: plain HTML, CSS and
// JavaScript, no build step.
//
//go:embed web
var web embed.FS

// contentSecurityPolicy keeps the pages to their own origin: no inline
// script, no third-party script, style, font or connection.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// mountPages serves GET / (storefront), GET /admin/ (dashboard) and their
// assets under GET /static/.
func mountPages(mux *http.ServeMux) {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	static := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		files.ServeHTTP(w, r)
	})
	mux.Handle("GET /static/", pageHeaders(static))
	mux.Handle("GET /{$}", pageHeaders(file(sub, "index.html")))
	mux.Handle("GET /admin/{$}", pageHeaders(file(sub, "admin.html")))
	mux.Handle("GET /admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently))
}

func file(fsys fs.FS, name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, fsys, name)
	})
}

func pageHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}
