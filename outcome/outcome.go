package outcome

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// Class is what an outcome says about the server.
type Class uint8

// The classes, in the order [Class.String]'s names and metric labels use.
// Three say something about the instance that served the call (Success,
// ServerFailure, CallerFault); three are neutral: the call reached no
// verdict on the instance, so outlier detection, breakers, adaptive
// concurrency and latency learning ignore it ([Class.Neutral]).
const (
	// Success: the call worked.
	Success Class = iota
	// ServerFailure: the server or the path to it is unhealthy (timeout,
	// refused or reset connection, 5xx). It counts against the
	// instance and may be retried on another when the call is idempotent.
	ServerFailure
	// CallerFault: the server answered that the request is wrong (a 4xx,
	// a validation error), or that this caller must slow down (429: a limit
	// any client can run into on purpose, so it says nothing against the
	// instance; an overloaded server answers 503). The server is healthy — outlier detection counts
	// it as an answer — and the call is never retried.
	CallerFault
	// Canceled: the caller gave up before the server answered: its context
	// was canceled, or a deadline the caller set itself ran out. Neutral,
	// never retried.
	Canceled
	// Aborted: the caller's side broke the request before the server could
	// judge it — its body could not be read (a read error, broken chunked
	// framing), was over the size limit, or the client hung up mid-upload.
	// Neutral, never retried; a server answers it 400 or 413 (a hang-up
	// has nobody left to answer). Errors marked with [Abort] are Aborted.
	Aborted
	// Skipped: the call was never sent because a local guard refused it
	// (an open circuit breaker, a load shedder). Neutral for the instance
	// it would have gone to — the failures that closed the guard were
	// already counted — and an idempotent call may try another instance.
	Skipped

	// NumClasses is the number of classes, for tables indexed by Class.
	NumClasses = int(Skipped) + 1
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
	case Aborted:
		return "aborted"
	case Skipped:
		return "skipped"
	}
	return "unknown"
}

// Neutral reports whether c says nothing about the instance's health:
// Canceled, Aborted and Skipped. A neutral outcome is neither a failure
// nor a success for outlier detection and breakers, and not a latency
// sample.
func (c Class) Neutral() bool { return c >= Canceled }

// ErrAborted is matched (with errors.Is) by every error [Abort] returns.
var ErrAborted = errors.New("outcome: the caller aborted the request")

// Abort marks err as the caller's own failure (see [Aborted]): a request
// body that failed to read, broke its framing or exceeded a limit. The
// result unwraps to err and matches [ErrAborted]; Abort(nil) is nil.
// Transports mark the errors of reading a client's body with it, so that
// no layer above mistakes them for the upstream's failure.
func Abort(err error) error {
	if err == nil || errors.Is(err, ErrAborted) {
		return err
	}
	return &abortError{err}
}

type abortError struct{ err error }

func (e *abortError) Error() string        { return "request aborted by the caller: " + e.err.Error() }
func (e *abortError) Unwrap() error        { return e.err }
func (e *abortError) Is(target error) bool { return target == ErrAborted }

// ErrTimeout is the cause of a context that ended because a budget the
// call path gave its callee ran out — a gateway route's timeout, a
// per-attempt timeout, a server's own default deadline — rather than a
// deadline the caller chose. [Default] counts a call whose context ended
// with this cause as a ServerFailure: the callee was too slow, and the
// caller had not given up. It wraps context.DeadlineExceeded.
var ErrTimeout = fmt.Errorf("outcome: the callee did not answer within its budget: %w", context.DeadlineExceeded)

// WithTimeout is context.WithTimeout for a budget given to a callee: when
// it runs out, context.Cause of the result is [ErrTimeout]. A parent that
// is canceled or runs out first keeps its own cause.
func WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(parent, d, ErrTimeout)
}

// WithDeadline is [WithTimeout] with an absolute deadline.
func WithDeadline(parent context.Context, d time.Time) (context.Context, context.CancelFunc) {
	return context.WithDeadlineCause(parent, d, ErrTimeout)
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
//   - an error marked with [Abort] is Aborted;
//   - if ctx is done, the error is a ServerFailure when ctx's cause is
//     [ErrTimeout] (a budget given to the callee ran out) and Canceled
//     otherwise (the caller canceled, or its own deadline passed),
//     whatever the error says;
//   - context.Canceled is Canceled;
//   - an error with a status code: 5xx is ServerFailure, 4xx (429
//     included: a client can exceed its own limit at will) is CallerFault;
//   - context.DeadlineExceeded (a per-try timeout), net.Error, syscall
//     connection errors and io errors are ServerFailure;
//   - an error reporting Temporary() == false is CallerFault;
//   - anything else is ServerFailure, so that unknown trouble is noticed.
func Default(ctx context.Context, err error) Class {
	if err == nil {
		return Success
	}
	if errors.Is(err, ErrAborted) {
		return Aborted
	}
	if ctx != nil && ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), ErrTimeout) {
			return ServerFailure
		}
		return Canceled
	}
	if errors.Is(err, context.Canceled) {
		return Canceled
	}
	if code, ok := statusOf(err); ok {
		switch {
		case code >= 500:
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
