package outcome

import (
	"net/http"
	"strconv"
)

// StatusError is an HTTP status observed as an error: an upstream's or a
// handler's answer that a middleware reports to its classifier (a circuit
// breaker, an adaptive limit, a retry's CheckRetry, the gateway's
// balancer). It is the library's one status-only error; users return it
// too, from a hand-written client or a test fake:
//
//	return nil, &outcome.StatusError{Status: resp.StatusCode}
//
// It implements [StatusCoder], so [Default] classifies it by its status:
// 5xx is ServerFailure, 4xx (429 included) CallerFault. Err, optional, is
// the cause or a sentinel for errors.Is (fault.ErrInjected, say). Test
// for it with errors.As and a *StatusError target.
//
// The field is Status, as in shttp.Error and shttp.ResponseError, where
// Code is the string code of the JSON error body. Those two stay separate
// types: they carry that body's code and message (an answer to write, a
// dependency's answer decoded), which a bare status does not have.
type StatusError struct {
	// Status is the HTTP status code.
	Status int
	// Err is the cause, or nil.
	Err error
}

var _ StatusCoder = (*StatusError)(nil)

// Error returns "status <n> <text>" ("status 503 Service Unavailable"),
// followed by ": " and the cause when there is one.
func (e *StatusError) Error() string {
	s := "status " + strconv.Itoa(e.Status)
	if t := http.StatusText(e.Status); t != "" {
		s += " " + t
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// StatusCode returns Status.
func (e *StatusError) StatusCode() int { return e.Status }

// Unwrap returns Err.
func (e *StatusError) Unwrap() error { return e.Err }
