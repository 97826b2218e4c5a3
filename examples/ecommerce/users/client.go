package users

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// DefaultTrustedProxies are the peers whose X-Forwarded-For the users
// service believes unless [WithTrustedProxies] says otherwise: loopback
// (127.0.0.0/8 and ::1), where "ecommerce up" runs the gateway next to the
// replicas, which listen on 127.0.0.1 only.
var DefaultTrustedProxies = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
}

// ClientAddr returns the address the login throttle keys a request by.
// When the connection's peer (r.RemoteAddr) is in one of the trusted
// prefixes, it is the last element of X-Forwarded-For, if that is an IP
// address; otherwise, and for every peer that is not trusted, it is the
// peer itself, whatever X-Forwarded-For it sent. The gateway rebuilds
// X-Forwarded-For to hold the client it resolved (after its own
// trusted-proxies rule), so behind it the last element is the one a client
// cannot choose; a caller that reaches a replica directly cannot choose its
// key either, since it is not trusted. IPv4-mapped peers match IPv4
// prefixes. With no trusted prefixes the peer is always the client.
//
// Trust here is by network address: anything that can connect from a
// trusted prefix can name any client. Once the services authenticate each
// other with mutual TLS (issue 11), this check becomes a check of the
// caller's identity (only the gateway's certificate may name a client).
//
// IPv4 addresses (and IPv4-mapped IPv6 ones) are returned as they are; an
// IPv6 address is reduced to its /64 prefix ("2001:db8:1:2::/64"), since
// one subscriber usually holds a whole /64. Anything that does not parse is
// returned as it is, at most 64 bytes of it.
func ClientAddr(r *http.Request, trusted []netip.Prefix) string {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host[:min(len(host), 64)]
	}
	if isTrusted(peer, trusted) {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if a, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
				return keyAddr(a)
			}
		}
	}
	return keyAddr(peer)
}

func isTrusted(peer netip.Addr, trusted []netip.Prefix) bool {
	peer = peer.WithZone("")
	for _, p := range trusted {
		if p.Contains(peer) || p.Contains(peer.Unmap()) {
			return true
		}
	}
	return false
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
