package discovery

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
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
	ErrBadWeight = errors.New("discovery: instance weight is out of range")
)

// MaxWeight is the largest weight an instance may carry. It keeps the sums
// that weighted policies compute far from overflow.
const MaxWeight = 1 << 20

// Validate reports whether i can be registered: it needs an ID, a service
// name, an Addr of the form host:port and a weight in [0, MaxWeight].
//
// The host must be an IP address (IPv6 in brackets, optionally with a zone
// made of letters, digits, '-', '_' and '.') or a host name made of letters, digits, '-', '_' and dots, with at most
// one trailing dot as DNS SRV targets carry; the port must be a decimal
// number in [1, 65535] without sign or leading zeros. Addr must be in the
// canonical form net.JoinHostPort produces, so that one endpoint has one
// spelling. Errors wrap [ErrNoID], [ErrNoService], [ErrBadAddr] or
// [ErrBadWeight].
func (i Instance) Validate() error {
	if i.ID == "" {
		return ErrNoID
	}
	if i.Service == "" {
		return ErrNoService
	}
	if err := validAddr(i.Addr); err != nil {
		return err
	}
	if i.Weight < 0 || i.Weight > MaxWeight {
		return fmt.Errorf("%w: %d", ErrBadWeight, i.Weight)
	}
	return nil
}

func validAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fmt.Errorf("%w: %q", ErrBadAddr, addr)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 || port[0] == '0' {
		return fmt.Errorf("%w: bad port in %q", ErrBadAddr, addr)
	}
	// SplitHostPort accepts "[name]:80" and other spellings that
	// JoinHostPort would never produce; insist on the canonical one.
	if net.JoinHostPort(host, port) != addr {
		return fmt.Errorf("%w: %q is not in canonical host:port form", ErrBadAddr, addr)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		// netip accepts any zone; an interface name needs no more than
		// a host-name label's characters, and anything else would need
		// escaping in a URL.
		if z := ip.Zone(); z != "" && !validLabelChars(z) {
			return fmt.Errorf("%w: bad zone in %q", ErrBadAddr, addr)
		}
		return nil
	}
	if !validHostname(host) {
		return fmt.Errorf("%w: bad host in %q", ErrBadAddr, addr)
	}
	return nil
}

// validHostname reports whether h is a plausible DNS host name: labels of
// 1 to 63 letters, digits, '-' or '_', separated by single dots, with an
// optional trailing dot, 253 characters at most. It rejects the spaces,
// slashes, '@' and the like that would let an address smuggle a path or
// credentials into a URL built from it.
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || !validLabelChars(label) {
			return false
		}
	}
	return true
}

// validLabelChars reports whether s holds only letters, digits, '-', '_'
// and '.'.
func validLabelChars(s string) bool {
	for j := 0; j < len(s); j++ {
		c := s[j]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// EffectiveWeight returns Weight, or 1 when Weight is zero.
func (i Instance) EffectiveWeight() int {
	if i.Weight <= 0 {
		return 1
	}
	return i.Weight
}

// Equal reports whether i and o describe the same registration in every
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
