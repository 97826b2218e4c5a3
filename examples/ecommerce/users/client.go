package users

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr returns the address the login throttle keys a request by: the
// last element of X-Forwarded-For when it is an IP address, else the host
// of r.RemoteAddr. The service is reached through the gateway, whose
// reverse proxy appends its own view of the client (the peer it trusts,
// after its trusted-proxies rule) as the last element, so the last element
// is the one a client cannot choose; the elements before it are whatever
// the client or earlier proxies sent.
//
// IPv4 addresses (and IPv4-mapped IPv6 ones) are returned as they are; an
// IPv6 address is reduced to its /64 prefix ("2001:db8:1:2::/64"), since
// one subscriber usually holds a whole /64. Anything that does not parse is
// returned as it is, at most 64 bytes of it.
func ClientAddr(r *http.Request) string {
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		last := xff[len(xff)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		if a, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
			return keyAddr(a)
		}
	}
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return keyAddr(a)
	}
	return host[:min(len(host), 64)]
}

func keyAddr(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

type clientKey struct{}

// NewClientContext returns ctx carrying the client address addr (see
// [ClientAddr]) that [Service.Login] throttles by.
func NewClientContext(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientKey{}, addr)
}

// ClientFromContext returns the client address in ctx, or "" when there is
// none. Every login without an address counts as coming from one address.
func ClientFromContext(ctx context.Context) string {
	s, _ := ctx.Value(clientKey{}).(string)
	return s
}
