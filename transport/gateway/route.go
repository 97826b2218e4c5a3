package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Route sends the requests that match Pattern to Service.
type Route struct {
	// Pattern is a net/http ServeMux pattern: an optional method, an
	// optional host, and a path with {name} and {name...} wildcards. A
	// trailing slash matches the whole subtree.
	Pattern string
	// Service is the discovery name of the upstream service.
	Service string
	// Rewrite, if set, is the upstream path, built from literal segments
	// and the pattern's wildcards: Pattern "/api/v1/products/{id}" with
	// Rewrite "/products/{id}". Wildcard values are escaped again before
	// they are sent. Empty means the cleaned request path unchanged.
	Rewrite string
	// Middleware are the route's policies (auth, rate limit, deadline,
	// CORS, ...) as HTTP middleware; the first is outermost.
	Middleware []func(http.Handler) http.Handler
	// Timeout bounds the whole request, retries included. Zero means the
	// gateway's default (Config.DefaultTimeout).
	Timeout time.Duration
	// Retries is how many times an idempotent request — with no body, or
	// a body of at most 64 KiB, which the gateway then reads ahead and
	// keeps — is tried again on another instance, within the retry budget, when an
	// attempt failed before the upstream answered, timed out (see
	// Config.AttemptTimeout), or was answered 500, 502, 503 or 504 — that
	// answer is then held back and the client sees the retry's. Zero means
	// the gateway's default (Config.Retries); a negative value turns retries
	// off for the route.
	Retries int
	// Idempotent says which of the route's requests may be sent twice.
	// The zero value, IdempotentByMethod, means GET, HEAD, OPTIONS, PUT,
	// DELETE and TRACE, and any request with an Idempotency-Key header.
	Idempotent Idempotence
}

// Idempotence is a route's rule for which requests may be sent twice.
type Idempotence uint8

const (
	// IdempotentByMethod: safe and idempotent methods, and requests
	// carrying an Idempotency-Key header.
	IdempotentByMethod Idempotence = iota
	// IdempotentAlways: every request of the route (a POST that only
	// reads, for example).
	IdempotentAlways
	// IdempotentNever: no request of the route is retried or given a
	// per-attempt timeout.
	IdempotentNever
)

// ErrBadRoute is wrapped by every route validation error.
var ErrBadRoute = errors.New("gateway: invalid route")

// template is a compiled Rewrite: literal segments and wildcard names.
type template struct {
	segs []tmplSeg
	// trailing slash in the template
	slash bool
}

type tmplSeg struct {
	lit  string
	name string // wildcard name when non-empty
	rest bool   // {name...}
}

// wildcards returns the wildcard names of a ServeMux pattern, with whether
// each is a {name...} wildcard.
func wildcards(pattern string) map[string]bool {
	out := map[string]bool{}
	for {
		i := strings.IndexByte(pattern, '{')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(pattern[i:], '}')
		if j < 0 {
			return out
		}
		name := pattern[i+1 : i+j]
		rest := strings.HasSuffix(name, "...")
		name = strings.TrimSuffix(name, "...")
		if name != "$" {
			out[name] = rest
		}
		pattern = pattern[i+j+1:]
	}
}

func compileTemplate(rewrite, pattern string) (*template, error) {
	if rewrite == "" {
		return nil, nil
	}
	if !strings.HasPrefix(rewrite, "/") {
		return nil, fmt.Errorf("%w: rewrite %q must start with /", ErrBadRoute, rewrite)
	}
	known := wildcards(pattern)
	t := &template{slash: len(rewrite) > 1 && strings.HasSuffix(rewrite, "/")}
	parts := strings.Split(strings.Trim(rewrite, "/"), "/")
	for i, p := range parts {
		if p == "" {
			if len(parts) == 1 {
				break // the root path
			}
			return nil, fmt.Errorf("%w: rewrite %q has an empty segment", ErrBadRoute, rewrite)
		}
		if p == "." || p == ".." {
			return nil, fmt.Errorf("%w: rewrite %q has a dot segment", ErrBadRoute, rewrite)
		}
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			name := p[1 : len(p)-1]
			rest := strings.HasSuffix(name, "...")
			name = strings.TrimSuffix(name, "...")
			isRest, ok := known[name]
			if !ok {
				return nil, fmt.Errorf("%w: rewrite %q uses {%s}, which pattern %q does not define", ErrBadRoute, rewrite, name, pattern)
			}
			if rest && i != len(parts)-1 {
				return nil, fmt.Errorf("%w: rewrite %q: {%s...} must be last", ErrBadRoute, rewrite, name)
			}
			if isRest && !rest {
				return nil, fmt.Errorf("%w: rewrite %q: {%s} is a {%s...} wildcard in the pattern", ErrBadRoute, rewrite, name, name)
			}
			t.segs = append(t.segs, tmplSeg{name: name, rest: rest})
			continue
		}
		if strings.ContainsAny(p, "{}") {
			return nil, fmt.Errorf("%w: rewrite %q: wildcards must be whole segments", ErrBadRoute, rewrite)
		}
		if _, err := url.PathUnescape(p); err != nil {
			return nil, fmt.Errorf("%w: rewrite %q: %v", ErrBadRoute, rewrite, err)
		}
		t.segs = append(t.segs, tmplSeg{lit: p})
	}
	return t, nil
}

// errBadPath is returned when a request path cannot be forwarded safely.
var errBadPath = errors.New("gateway: path cannot be forwarded")

// upstreamPath returns the escaped upstream path for r.
func (t *template) upstreamPath(r *http.Request) (string, error) {
	if t == nil {
		p := r.URL.EscapedPath()
		if err := checkEscapedPath(p); err != nil {
			return "", err
		}
		return p, nil
	}
	var b strings.Builder
	for _, s := range t.segs {
		switch {
		case s.name == "":
			b.WriteByte('/')
			b.WriteString(s.lit)
		case s.rest:
			v := r.PathValue(s.name)
			if v == "" {
				b.WriteByte('/')
				continue
			}
			for seg := range strings.SplitSeq(v, "/") {
				if seg == "." || seg == ".." || strings.ContainsAny(seg, "\\\x00") {
					return "", errBadPath
				}
				b.WriteByte('/')
				b.WriteString(url.PathEscape(seg))
			}
		default:
			v := r.PathValue(s.name)
			if v == "" || v == "." || v == ".." || strings.ContainsAny(v, "/\\\x00") {
				return "", errBadPath
			}
			b.WriteByte('/')
			b.WriteString(url.PathEscape(v))
		}
	}
	if b.Len() == 0 || t.slash {
		b.WriteByte('/')
	}
	return b.String(), nil
}

// checkEscapedPath rejects paths that an upstream might resolve
// differently from the gateway: dot segments (plain or escaped), empty
// segments, and escaped slashes, backslashes or NULs.
func checkEscapedPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return errBadPath
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		u, err := url.PathUnescape(seg)
		if err != nil || u == "." || u == ".." {
			return errBadPath
		}
		if strings.ContainsAny(u, "/\\\x00") {
			return errBadPath
		}
	}
	if strings.Contains(p, "//") {
		return errBadPath
	}
	return nil
}
