package discovery

import (
	"context"
	"errors"
)

// Registrar announces instances to a registry.
//
// Implementations keep a registration alive on their own (renewing leases,
// re-registering after the registry lost it) until Deregister is called.
// They must be safe for concurrent use.
type Registrar interface {
	// Register announces inst. It returns once the registry has accepted it
	// or ctx ends.
	Register(ctx context.Context, inst Instance) error
	// Deregister withdraws inst and stops keeping it alive.
	Deregister(ctx context.Context, inst Instance) error
}

// Resolver finds the instances of a service.
type Resolver interface {
	// Watch starts following service. The returned [Watch] delivers a first
	// update as soon as the backend has read the registry once (an empty
	// list with a nil Err when the service has no instances), then one
	// update per change. ctx bounds the call only: the watch lives until
	// its Stop, which releases its resources. An empty service name fails
	// with [ErrNoService].
	Watch(ctx context.Context, service string) (Watch, error)
}

// Watch delivers complete snapshots of one service's instances.
type Watch interface {
	// Updates returns the channel on which snapshots arrive. It is
	// conflated: a reader that falls behind skips to the newest update.
	// The channel is closed after Stop.
	Updates() <-chan Update
	// Stop ends the watch and releases every goroutine it started. It is
	// safe to call more than once.
	Stop()
}

// Update is one snapshot of a service.
type Update struct {
	// Instances is the complete list, sorted by ID. When Err is non-nil it
	// is the last known good list. Treat it as read-only: it is shared by
	// every reader.
	Instances []Instance
	// Err is the registry's latest error, or nil once it answers again.
	Err error
}

// StateReporter is implemented by registrars whose registrations can be in
// trouble (a lost lease, a registry that does not answer). Readiness probes
// use it.
type StateReporter interface {
	// RegistrationErr returns nil when every registration is live in the
	// registry, and otherwise the reason one is not.
	RegistrationErr() error
}

// ErrStopped is returned by operations on a stopped watch or closed
// registry.
var ErrStopped = errors.New("discovery: stopped")
