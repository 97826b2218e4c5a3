package httperr

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"
)

// The fixed parts of {"error":{"code":…,"message":…}}.
const (
	open    = `{"error":{"code":`
	middle  = `,"message":`
	closing = `}}`
)

// ContentType is the Content-Type of every error answer.
const ContentType = "application/json; charset=utf-8"

// Write answers status with the body {"error":{"code":code,"message":message}}
// and a newline, encoded once into a buffer of its exact size, and the
// headers Content-Type ([ContentType]), X-Content-Type-Options: nosniff,
// Cache-Control: no-store and Content-Length. An error answer is about one
// request and must never be cached, and the length lets the connection be
// reused. Headers already set on w (Retry-After, WWW-Authenticate, …) are
// kept, except these four, which are replaced: set extra headers before
// calling Write. message is escaped as encoding/json escapes strings, so
// it may hold anything, but it is sent to the caller: never put an
// internal error's text in it.
func Write(w http.ResponseWriter, status int, code, message string) {
	body := make([]byte, 0, len(open)+len(code)+len(middle)+len(message)+len(closing)+5)
	body = AppendBody(body, code, message)
	body = append(body, '\n')
	// One backing array for the four values instead of one per Header.Set;
	// each value is its own full slice, so an Add by a later writer
	// copies instead of overwriting a neighbour. The keys are canonical.
	v := make([]string, 4)
	v[0], v[1], v[2], v[3] = ContentType, "nosniff", "no-store", strconv.Itoa(len(body))
	h := w.Header()
	h["Content-Type"] = v[0:1:1]
	h["X-Content-Type-Options"] = v[1:2:2]
	h["Cache-Control"] = v[2:3:3]
	h["Content-Length"] = v[3:4:4]
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// AppendBody appends {"error":{"code":code,"message":message}}, without a
// newline, to dst: the body [Write] sends, for MarshalJSON methods.
func AppendBody(dst []byte, code, message string) []byte {
	dst = append(dst, open...)
	dst = appendString(dst, code)
	dst = append(dst, middle...)
	dst = appendString(dst, message)
	return append(dst, closing...)
}

// appendString appends s as a JSON string. Codes and most messages are
// plain ASCII and are copied as they are; anything else goes through
// encoding/json, so that the escaping (control characters, <, > and &,
// invalid UTF-8, U+2028) is exactly json.Marshal's.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string cannot fail to marshal
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// RetryAfterSeconds is d as a Retry-After header carries it: whole
// seconds, rounded up, and at least 1, so that a client never retries at
// once.
func RetryAfterSeconds(d time.Duration) int64 {
	return max(int64(math.Ceil(d.Seconds())), 1)
}
