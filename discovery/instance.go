package discovery

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
)

// Instance is one registered copy of a service, reachable at Addr.
//
// Instances are values: copy them freely, but treat Meta as read-only once
// an Instance has been registered, because snapshots share it.
type Instance struct {
	// ID is unique per registration. Two registrations of the same process
	// after a restart should use different IDs.
	ID string
	// Service is the logical service name, e.g. "catalog".
	Service string
	// Addr is host:port.
	Addr string
	// Weight is the relative share of traffic for weighted policies. Zero
	// means the default weight of 1; negative weights are invalid.
	Weight int
	// Zone is the failure domain (e.g. an availability zone); optional.
	Zone string
	// Version is the deployed version; optional.
	Version string
	// Meta holds free-form labels; optional.
	Meta map[string]string
}

// Errors returned by [Instance.Validate].
var (
	ErrNoID      = errors.New("discovery: instance has no ID")
	ErrNoService = errors.New("discovery: instance has no service name")
	ErrBadAddr   = errors.New("discovery: instance address is not host:port")
	ErrBadWeight = errors.New("discovery: instance weight is negative")
)

// MaxWeight is the largest weight an instance may carry. It keeps the sums
// that weighted policies compute far from overflow.
const MaxWeight = 1 << 20

// Validate reports whether i can be registered: it needs an ID, a service
// name, an Addr of the form host:port with a numeric port, and a weight in
// [0, MaxWeight].
func (i Instance) Validate() error {
	if i.ID == "" {
		return ErrNoID
	}
	if i.Service == "" {
		return ErrNoService
	}
	host, port, err := net.SplitHostPort(i.Addr)
	if err != nil || host == "" {
		return fmt.Errorf("%w: %q", ErrBadAddr, i.Addr)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("%w: bad port in %q", ErrBadAddr, i.Addr)
	}
	if i.Weight < 0 || i.Weight > MaxWeight {
		return fmt.Errorf("%w: %d", ErrBadWeight, i.Weight)
	}
	return nil
}

// EffectiveWeight returns Weight, or 1 when Weight is zero.
func (i Instance) EffectiveWeight() int {
	if i.Weight <= 0 {
		return 1
	}
	return i.Weight
}

// Equal reports whether a and b describe the same registration in every
// field.
func (i Instance) Equal(o Instance) bool {
	return i.ID == o.ID && i.Service == o.Service && i.Addr == o.Addr &&
		i.Weight == o.Weight && i.Zone == o.Zone && i.Version == o.Version &&
		maps.Equal(i.Meta, o.Meta)
}

// SortByID sorts instances in place by ID, the canonical snapshot order.
func SortByID(list []Instance) {
	slices.SortFunc(list, func(a, b Instance) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
}

// EqualSets reports whether a and b hold the same instances. Both must be
// sorted by ID.
func EqualSets(a, b []Instance) bool {
	return slices.EqualFunc(a, b, Instance.Equal)
}
