// Package clock lets the library's timing logic run on real time in
// production and on a hand-driven fake in tests.
//
// Library packages accept a [Clock] through an option; tests pass a [Fake]
// and call [Fake.Advance] instead of sleeping. The interface uses only
// standard-library types so that users may supply their own implementation.
package clock

import "time"

// Clock is the source of time for timing logic.
//
// Implementations must be safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine (or, for a fake, synchronously
	// from Advance) once d has elapsed. The returned stop function cancels
	// the call and reports whether it did so before f ran.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// Real is the [Clock] backed by package time. The zero value is ready to use.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// OrReal returns c, or [Real] when c is nil.
func OrReal(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}
