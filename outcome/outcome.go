package outcome

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
)

// Class is what an outcome says about the server.
type Class uint8

const (
	// Success: the call worked.
	Success Class = iota
	// ServerFailure: the server or the path to it is unhealthy (timeout,
	// refused or reset connection, 5xx). It counts against the instance and
	// may be retried when the call is idempotent.
	ServerFailure
	// CallerFault: the request was wrong (4xx, validation). It says nothing
	// about the server's health and is never retried.
	CallerFault
	// Canceled: the caller gave up (its context was canceled or its
	// deadline passed before the server answered). It is neither counted
	// nor retried.
	Canceled
)

// String returns the class's name.
func (c Class) String() string {
	switch c {
	case Success:
		return "success"
	case ServerFailure:
		return "server_failure"
	case CallerFault:
		return "caller_fault"
	case Canceled:
		return "canceled"
	}
	return "unknown"
}

// Classifier classifies the result of a call. ctx is the caller's context,
// so a classifier can tell a caller's cancellation from a server timeout.
type Classifier func(ctx context.Context, err error) Class

// StatusCoder is implemented by errors that carry an HTTP status code.
// go-kit's transport/http client returns such errors through
// switchyard's transport helpers.
type StatusCoder interface {
	StatusCode() int
}

// Temporary is implemented by errors that know whether they are worth
// retrying regardless of status (for example a server's own overload
// signal).
type Temporary interface {
	Temporary() bool
}

// Default is the library's classification rule:
//
//   - nil is Success;
//   - if the caller's ctx is done, the error is Canceled, whatever it says;
//   - context.Canceled is Canceled;
//   - an error with a status code: 5xx (and 429, which means "this instance
//     is overloaded") is ServerFailure, other 4xx is CallerFault;
//   - context.DeadlineExceeded (a per-try timeout), net.Error, syscall
//     connection errors and io errors are ServerFailure;
//   - an error reporting Temporary() == false is CallerFault;
//   - anything else is ServerFailure, so that unknown trouble is noticed.
func Default(ctx context.Context, err error) Class {
	if err == nil {
		return Success
	}
	if ctx != nil && ctx.Err() != nil {
		return Canceled
	}
	if errors.Is(err, context.Canceled) {
		return Canceled
	}
	if code, ok := statusOf(err); ok {
		switch {
		case code >= 500 || code == 429:
			return ServerFailure
		case code >= 400:
			return CallerFault
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return ServerFailure
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || isNetError(err) {
		return ServerFailure
	}
	if t, ok := temporaryOf(err); ok && !t {
		return CallerFault
	}
	return ServerFailure
}

// statusOf, isNetError and temporaryOf walk the error tree the way
// errors.As does, but with type switches: errors.As needs a pointer to an
// interface variable, which escapes and costs an allocation on every
// failed call.
func statusOf(err error) (int, bool) {
	for err != nil {
		if sc, ok := err.(StatusCoder); ok {
			return sc.StatusCode(), true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if code, ok := statusOf(e); ok {
					return code, true
				}
			}
			return 0, false
		default:
			return 0, false
		}
	}
	return 0, false
}

func isNetError(err error) bool {
	for err != nil {
		if _, ok := err.(net.Error); ok {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if isNetError(e) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

func temporaryOf(err error) (temporary, ok bool) {
	for err != nil {
		if t, ok := err.(Temporary); ok {
			return t.Temporary(), true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if t, ok := temporaryOf(e); ok {
					return t, true
				}
			}
			return false, false
		default:
			return false, false
		}
	}
	return false, false
}

// Or returns c, or [Default] when c is nil.
func Or(c Classifier) Classifier {
	if c == nil {
		return Default
	}
	return c
}
