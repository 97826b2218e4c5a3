package gateway

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CORS configures cross-origin access to a route. The zero value allows no
// cross-origin request at all, which is the right default for an API
// served from the same origin as its pages.
type CORS struct {
	// AllowedOrigins lists the exact origins ("https://shop.example")
	// allowed to call the route. "*" allows any origin, and is refused
	// together with AllowCredentials, as browsers require.
	AllowedOrigins []string
	// AllowedMethods lists the methods a preflight may ask for. Empty
	// means GET, HEAD and POST.
	AllowedMethods []string
	// AllowedHeaders lists the request headers a preflight may ask for,
	// case-insensitively. Empty means Content-Type, Authorization and
	// Idempotency-Key.
	AllowedHeaders []string
	// ExposedHeaders lists response headers scripts may read.
	ExposedHeaders []string
	// AllowCredentials lets browsers send cookies and credentials.
	AllowCredentials bool
	// MaxAge is how long a browser may cache a preflight answer. Zero
	// means 10 minutes.
	MaxAge time.Duration
}

// Middleware returns the HTTP middleware that applies c: it answers
// preflight requests itself (204, without calling next) and adds the
// Access-Control-Allow-* headers to actual requests from allowed origins.
// Requests from other origins pass through without CORS headers, so the
// browser refuses to expose the answer to the calling script.
func (c CORS) Middleware() func(http.Handler) http.Handler {
	methods := c.AllowedMethods
	if len(methods) == 0 {
		methods = []string{http.MethodGet, http.MethodHead, http.MethodPost}
	}
	headers := c.AllowedHeaders
	if len(headers) == 0 {
		headers = []string{"Content-Type", "Authorization", "Idempotency-Key"}
	}
	canon := make([]string, len(headers))
	for i, h := range headers {
		canon[i] = http.CanonicalHeaderKey(h)
	}
	anyOrigin := slices.Contains(c.AllowedOrigins, "*") && !c.AllowCredentials
	maxAge := c.MaxAge
	if maxAge <= 0 {
		maxAge = 10 * time.Minute
	}
	allowMethods := strings.Join(methods, ", ")
	allowHeaders := strings.Join(canon, ", ")
	exposed := strings.Join(c.ExposedHeaders, ", ")
	age := strconv.Itoa(int(maxAge / time.Second))

	allowed := func(origin string) bool {
		return origin != "" && (anyOrigin || slices.Contains(c.AllowedOrigins, origin))
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			h := w.Header()
			h.Add("Vary", "Origin")
			preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			if !allowed(origin) {
				if preflight {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			if anyOrigin {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
			}
			if c.AllowCredentials {
				h.Set("Access-Control-Allow-Credentials", "true")
			}
			if !preflight {
				if exposed != "" {
					h.Set("Access-Control-Expose-Headers", exposed)
				}
				next.ServeHTTP(w, r)
				return
			}
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if !slices.Contains(methods, r.Header.Get("Access-Control-Request-Method")) {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			for _, asked := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
				asked = strings.TrimSpace(asked)
				if asked != "" && !slices.Contains(canon, http.CanonicalHeaderKey(asked)) {
					w.WriteHeader(http.StatusNoContent)
					return
				}
			}
			h.Set("Access-Control-Allow-Methods", allowMethods)
			h.Set("Access-Control-Allow-Headers", allowHeaders)
			h.Set("Access-Control-Max-Age", age)
			w.WriteHeader(http.StatusNoContent)
		})
	}
}
