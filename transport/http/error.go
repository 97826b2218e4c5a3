package http

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/internal/httperr"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/middleware/deadline"
	"github.com/switchyard/switchyard/outcome"
)

// StatusClientClosedRequest is the status recorded when the caller went
// away before the answer was ready (nginx's 499). Nobody reads the
// response; the code exists for logs and metrics.
const StatusClientClosedRequest = 499

// Error is an error meant for the caller: it chooses the HTTP status, a
// machine-readable code and a message that [EncodeError] sends as
// {"error":{"code":Code,"message":Message}}. Err, the cause, is kept for
// logs and errors.Is/As and is never sent.
//
// Build one with a constructor ([BadRequest], [NotFound], [Conflict], …) or
// as a literal when a service needs its own code:
//
//	return nil, &shttp.Error{Status: 409, Code: "out_of_stock", Message: "not enough stock"}
//
// An Error is a value once returned: do not modify it afterwards. It
// satisfies go-kit's StatusCoder and Headerer and outcome.StatusCoder, and
// marshals to the same JSON body, so go-kit's own DefaultErrorEncoder also
// answers with it.
type Error struct {
	// Status is the HTTP status, 400 to 599. Anything else is sent as 500.
	Status int
	// Code is a stable snake_case identifier such as "not_found". Empty
	// means the status text in snake case ("Not Found" → "not_found").
	Code string
	// Message is a human-readable explanation safe to show the caller.
	// Empty means the status text.
	Message string
	// Header holds extra response headers, such as Retry-After; they
	// replace headers of the same name already set. Optional.
	Header http.Header
	// Err is the underlying cause. Optional; never sent.
	Err error
}

var (
	_ kithttp.StatusCoder = (*Error)(nil)
	_ kithttp.Headerer    = (*Error)(nil)
	_ outcome.StatusCoder = (*Error)(nil)
	_ json.Marshaler      = (*Error)(nil)
)

// NewError returns an Error with status and message and the code derived
// from the status.
func NewError(status int, message string) *Error {
	return &Error{Status: status, Message: message}
}

// BadRequest returns a 400 Error ("bad_request").
func BadRequest(message string) *Error { return NewError(http.StatusBadRequest, message) }

// Unauthorized returns a 401 Error ("unauthorized").
func Unauthorized(message string) *Error { return NewError(http.StatusUnauthorized, message) }

// Forbidden returns a 403 Error ("forbidden").
func Forbidden(message string) *Error { return NewError(http.StatusForbidden, message) }

// NotFound returns a 404 Error ("not_found").
func NotFound(message string) *Error { return NewError(http.StatusNotFound, message) }

// Conflict returns a 409 Error ("conflict").
func Conflict(message string) *Error { return NewError(http.StatusConflict, message) }

// Unprocessable returns a 422 Error ("unprocessable_entity").
func Unprocessable(message string) *Error {
	return NewError(http.StatusUnprocessableEntity, message)
}

// TooManyRequests returns a 429 Error ("too_many_requests") that tells the
// caller to wait retryAfterSeconds (when positive) through Retry-After.
func TooManyRequests(message string, retryAfterSeconds int) *Error {
	e := NewError(http.StatusTooManyRequests, message)
	if retryAfterSeconds > 0 {
		e.Header = http.Header{"Retry-After": {strconv.Itoa(retryAfterSeconds)}}
	}
	return e
}

// Internal returns a 500 Error ("internal_server_error") with a generic
// message, keeping cause for logs only.
func Internal(cause error) *Error {
	return &Error{Status: http.StatusInternalServerError, Err: cause}
}

// Unavailable returns a 503 Error ("service_unavailable").
func Unavailable(message string) *Error {
	return NewError(http.StatusServiceUnavailable, message)
}

// Error returns "http <status> <code>: <message>", followed by the cause
// when there is one. It is for logs; the caller sees the JSON body.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("http ")
	b.WriteString(strconv.Itoa(e.StatusCode()))
	b.WriteByte(' ')
	b.WriteString(e.code())
	b.WriteString(": ")
	b.WriteString(e.message())
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// StatusCode returns Status, or 500 when Status is not an error status.
func (e *Error) StatusCode() int {
	if e.Status < 400 || e.Status > 599 {
		return http.StatusInternalServerError
	}
	return e.Status
}

// Headers returns Header, for go-kit's Headerer.
func (e *Error) Headers() http.Header { return e.Header }

// MarshalJSON returns the error body {"error":{"code":…,"message":…}}.
func (e *Error) MarshalJSON() ([]byte, error) {
	return httperr.AppendBody(nil, e.code(), e.message()), nil
}

func (e *Error) code() string {
	if e.Code != "" {
		return e.Code
	}
	return CodeForStatus(e.StatusCode())
}

func (e *Error) message() string {
	if e.Message != "" && e.Status >= 400 && e.Status <= 599 {
		return e.Message
	}
	return defaultMessage(e.StatusCode())
}

// errorBody is the wire shape of every error answer (internal/httperr
// writes it), for decoding a dependency's in [CheckResponse].
type errorBody struct {
	Error errorFields `json:"error"`
}

type errorFields struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// CodeForStatus returns the default code for status: its text in
// snake_case ("Not Found" → "not_found"), or "status_<n>" when net/http
// knows no text for it.
func CodeForStatus(status int) string {
	switch status { // the common ones without building a string
	case 400:
		return "bad_request"
	case 401:
		return "unauthorized"
	case 403:
		return "forbidden"
	case 404:
		return "not_found"
	case 409:
		return "conflict"
	case 413:
		return "request_entity_too_large"
	case 422:
		return "unprocessable_entity"
	case 429:
		return "too_many_requests"
	case 500:
		return "internal_server_error"
	case 502:
		return "bad_gateway"
	case 503:
		return "service_unavailable"
	case 504:
		return "gateway_timeout"
	case StatusClientClosedRequest:
		return "client_closed_request"
	}
	text := http.StatusText(status)
	if text == "" {
		return "status_" + strconv.Itoa(status)
	}
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-':
			b.WriteByte('_')
		}
	}
	return b.String()
}

func defaultMessage(status int) string {
	if status == StatusClientClosedRequest {
		return "client closed request"
	}
	if t := http.StatusText(status); t != "" {
		return strings.ToLower(t)
	}
	return "error"
}

// ErrorFor returns the Error that [EncodeError] sends for err. The rules,
// first match wins:
//
//   - an [*Error] in err's chain is sent as it is;
//   - an error marked with outcome.Abort (the caller broke its request:
//     its body failed to read, as every body read under [LimitBody] does)
//     is 413 when a body limit was hit, 408 when reading it timed out,
//     and 400 otherwise;
//   - a [*ResponseError] (a dependency answered with an error status that
//     the service did not handle) becomes 503 when the dependency said 429
//     or 503, 504 when it said 504, and 502 otherwise; its message is not
//     passed on;
//   - context.DeadlineExceeded is 504 "deadline_exceeded";
//     context.Canceled is 499 "client_closed_request";
//   - balancer.ErrNoHosts is 503 "no_instances";
//   - an *http.MaxBytesError is 413;
//   - a circuit breaker's *RejectedError is 503 "circuit_open" with
//     Retry-After;
//   - any other error with a StatusCode() method returning 400–599 (a
//     middleware's rejection, for example) gets that status, the derived
//     code and the status text as message, plus its Headers() when it has
//     them;
//   - anything else is 500 with the message "internal server error": an
//     unknown error's text may hold internals and is never sent.
func ErrorFor(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var de *deadline.Error
	if errors.As(err, &de) {
		return &Error{Status: de.Status, Code: de.Code, Message: de.Message, Err: err}
	}
	var re *ResponseError
	if errors.As(err, &re) {
		switch re.Status {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			return &Error{Status: http.StatusServiceUnavailable, Message: "a dependency is unavailable", Err: err}
		case http.StatusGatewayTimeout:
			return &Error{Status: http.StatusGatewayTimeout, Message: "a dependency timed out", Err: err}
		}
		return &Error{Status: http.StatusBadGateway, Message: "a dependency failed", Err: err}
	}
	if errors.Is(err, outcome.ErrAborted) {
		// The caller broke its own request (outcome.Aborted): its body
		// failed to read, or a handler passed on such an error unwrapped.
		return bodyError(err, 0)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusGatewayTimeout, Code: "deadline_exceeded", Message: "deadline exceeded", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Status: StatusClientClosedRequest, Err: err}
	case errors.Is(err, balancer.ErrNoHosts):
		return &Error{Status: http.StatusServiceUnavailable, Code: "no_instances", Message: "no instance is available", Err: err}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(mbe.Limit, err)
	}
	var rej *circuitbreaker.RejectedError
	if errors.As(err, &rej) {
		e := &Error{Status: http.StatusServiceUnavailable, Code: "circuit_open", Message: "a dependency is failing; try again later", Err: err}
		if rej.RetryAfter > 0 {
			e.Header = http.Header{"Retry-After": {strconv.FormatInt(httperr.RetryAfterSeconds(rej.RetryAfter), 10)}}
		}
		return e
	}
	var sc kithttp.StatusCoder
	if errors.As(err, &sc) {
		if s := sc.StatusCode(); s >= 400 && s <= 599 {
			e := &Error{Status: s, Err: err}
			var h kithttp.Headerer
			if errors.As(err, &h) {
				e.Header = h.Headers()
			}
			return e
		}
	}
	return Internal(err)
}

// StatusOf returns the status [EncodeError] would send for err, or 200 for
// nil.
func StatusOf(err error) int {
	if err == nil {
		return http.StatusOK
	}
	return ErrorFor(err).StatusCode()
}

// EncodeError writes err as a JSON error body, choosing status, code and
// message by [ErrorFor], with the headers of every error answer of the
// library: Content-Type: application/json; charset=utf-8,
// X-Content-Type-Options: nosniff, Cache-Control: no-store and
// Content-Length, plus the Error's own Header. It is a go-kit ErrorEncoder; [NewHandler] installs
// it. It never writes an unknown error's text.
func EncodeError(_ context.Context, err error, w http.ResponseWriter) {
	e := ErrorFor(err)
	if e == nil {
		e = Internal(nil)
	}
	h := w.Header()
	for k, vs := range e.Header {
		h.Del(k)
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	httperr.Write(w, e.StatusCode(), e.code(), e.message())
}

// WriteError is EncodeError for plain http.Handlers: it writes err to w as
// a JSON error body. It is the way for users to answer with the same body
// and headers as the library's own middleware and gateway.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	EncodeError(r.Context(), err, w)
}
