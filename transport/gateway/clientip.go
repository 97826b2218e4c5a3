package gateway

import (
	"context"
	"net/http"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
)

// identity is the gateway's outermost layer: it resolves the client's
// address once, from the connection's peer and, when the peer is a trusted
// proxy, from the forwarding header that proxy writes, and removes every
// client-supplied identity header before anything else sees the request.
// It is immutable after New.
type identity struct {
	trusted []netip.Prefix      // peers whose forwarding header is believed
	header  string              // canonical name of that header; "" means X-Forwarded-For
	extra   map[string]struct{} // stripped besides the defaults, canonical names
}

// strippedByDefault are the identity headers removed from every request,
// besides every X-Forwarded-* header. They are the names proxies, CDNs and
// frameworks use to carry a client's address; an upstream that read one a
// client had set would believe that client about who it is.
var strippedByDefault = map[string]struct{}{
	"Forwarded":                {},
	"X-Real-Ip":                {},
	"X-Client-Ip":              {},
	"Client-Ip":                {},
	"True-Client-Ip":           {},
	"X-Cluster-Client-Ip":      {},
	"Cf-Connecting-Ip":         {},
	"Fastly-Client-Ip":         {},
	"X-Original-Forwarded-For": {},
}

// maxHops bounds the forwarding chain kept for the walk: the rightmost
// maxHops entries. A chain of more trusted proxies than this is not a
// real deployment, and the bound keeps a huge header from costing memory.
const maxHops = 32

func (id *identity) trust(cidrs []netip.Prefix) {
	for _, p := range cidrs {
		if !p.IsValid() {
			continue
		}
		// An IPv4 range written as IPv4-mapped IPv6 (::ffff:10.0.0.0/104)
		// must match the unmapped peers the walk compares.
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		id.trusted = append(id.trusted, p.Masked())
	}
}

func (id *identity) strip(names []string) {
	if id.extra == nil {
		id.extra = map[string]struct{}{}
	}
	for _, n := range names {
		id.extra[headerName(n)] = struct{}{}
	}
}

// useHeader makes name the forwarding header read from trusted proxies.
// It is stripped like every identity header: an untrusted client's value
// must never reach an upstream.
func (id *identity) useHeader(name string) {
	id.header = headerName(name)
	id.strip([]string{name})
}

// headerName is the canonical form of a header name with '_' read as '-':
// several servers and frameworks (CGI, PHP, some WSGI setups) map
// X_Real_Ip and X-Real-Ip to the same variable, so both are identity
// headers.
func headerName(name string) string {
	if strings.IndexByte(name, '_') >= 0 {
		name = strings.ReplaceAll(name, "_", "-")
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

func (id *identity) stripped(key string) bool {
	name := headerName(key)
	if strings.HasPrefix(name, "X-Forwarded-") {
		return true
	}
	if _, ok := strippedByDefault[name]; ok {
		return true
	}
	_, ok := id.extra[name]
	return ok
}

func (id *identity) isTrusted(a netip.Addr) bool {
	for _, p := range id.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// wrap returns next behind the identity layer. next sees the client's
// address in RemoteAddr ("host:port", port 0 when the forwarding header
// gave none) and through [ClientAddrFromContext], and none of the
// stripped headers. The caller's request is not modified.
func (id *identity) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			// Not an IP connection (a Unix socket, a hand-made request):
			// there is no address to resolve, but the headers still go.
			r = r.WithContext(r.Context())
			r.Header = id.clean(r.Header)
			next.ServeHTTP(w, r)
			return
		}
		client := id.resolve(peer, r.Header)
		r = r.WithContext(NewClientAddrContext(r.Context(), client.Addr()))
		if client != peer {
			r.RemoteAddr = client.String()
		}
		r.Header = id.clean(r.Header)
		next.ServeHTTP(w, r)
	})
}

// clean returns h without the stripped headers: h itself when it has none
// (the common case costs nothing), a copy otherwise.
func (id *identity) clean(h http.Header) http.Header {
	var out http.Header
	for k := range h {
		if !id.stripped(k) {
			continue
		}
		if out == nil {
			out = h.Clone()
		}
		delete(out, k)
	}
	if out == nil {
		return h
	}
	return out
}

// resolve applies the rightmost-untrusted rule. An untrusted peer is the
// client, whatever it sent. A trusted peer's forwarding header is walked
// from the right, each entry being the peer of the hop to its right: the
// first entry that is not a trusted proxy is the client. A malformed,
// obfuscated or "unknown" entry stops the walk, and the client is the last
// trusted hop, the furthest address the chain vouches for. When every
// entry is trusted the leftmost is the client (a request from inside the
// trusted network).
func (id *identity) resolve(peer netip.AddrPort, h http.Header) netip.AddrPort {
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	if !id.isTrusted(peer.Addr()) {
		return peer
	}
	name := id.header
	if name == "" {
		name = "X-Forwarded-For"
	}
	var c chain
	c.parse(h[name], name == "Forwarded")
	client := peer
	for i := c.len() - 1; i >= 0; i-- {
		hop := c.at(i)
		if !hop.ok {
			break
		}
		client = hop.addr
		if !id.isTrusted(client.Addr()) {
			break
		}
	}
	return client
}

// hop is one entry of a forwarding chain; ok is false for an entry that
// names no usable address.
type hop struct {
	addr netip.AddrPort
	ok   bool
}

// chain holds the rightmost maxHops entries of a forwarding header, in
// order, in a ring.
type chain struct {
	buf [maxHops]hop
	n   int // entries seen; the ring holds the last min(n, maxHops)
}

func (c *chain) add(h hop) {
	c.buf[c.n%maxHops] = h
	c.n++
}

func (c *chain) len() int { return min(c.n, maxHops) }

// at returns the i-th retained entry, 0 being the leftmost.
func (c *chain) at(i int) hop {
	start := 0
	if c.n > maxHops {
		start = c.n % maxHops
	}
	return c.buf[(start+i)%maxHops]
}

// parse appends the entries of every line of a forwarding header to c.
// X-Forwarded-For style lines are comma-separated addresses ("203.0.113.7,
// 10.0.0.2"; an address with a port, "[2001:db8::1]:443", is accepted).
// Forwarded (RFC 7239) lines are comma-separated elements of
// semicolon-separated pairs; an element's for= parameter is its address
// and an element without exactly one is malformed. Empty list elements
// are skipped, as HTTP's list syntax allows. A quoted string does not
// continue past the end of its line.
func (c *chain) parse(lines []string, forwarded bool) {
	for _, line := range lines {
		if !forwarded {
			for elem := range strings.SplitSeq(line, ",") {
				elem = strings.Trim(elem, " \t")
				if elem == "" {
					continue
				}
				a, ok := parseNode(elem)
				c.add(hop{a, ok})
			}
			continue
		}
		for len(line) > 0 {
			var elem string
			elem, line = nextElement(line)
			if strings.Trim(elem, " \t") == "" {
				continue
			}
			a, ok := forwardedFor(elem)
			c.add(hop{a, ok})
		}
	}
}

// nextElement splits s at the first comma outside a quoted string.
func nextElement(s string) (elem, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch {
		case quoted && s[i] == '\\':
			i++
		case s[i] == '"':
			quoted = !quoted
		case !quoted && s[i] == ',':
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// forwardedFor returns the address of one Forwarded element's for=
// parameter.
func forwardedFor(elem string) (netip.AddrPort, bool) {
	var (
		node  string
		found bool
	)
	for len(elem) > 0 {
		var pair string
		pair, elem = nextPair(elem)
		pair = strings.Trim(pair, " \t")
		if pair == "" {
			continue
		}
		name, value, ok := strings.Cut(pair, "=")
		if !ok || name == "" || strings.ContainsAny(name, " \t\"") {
			return netip.AddrPort{}, false
		}
		if !strings.EqualFold(name, "for") {
			continue
		}
		if found {
			return netip.AddrPort{}, false
		}
		v, ok := unquote(value)
		if !ok {
			return netip.AddrPort{}, false
		}
		node, found = v, true
	}
	if !found {
		return netip.AddrPort{}, false
	}
	return parseNode(node)
}

// nextPair splits s at the first semicolon outside a quoted string.
func nextPair(s string) (pair, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch {
		case quoted && s[i] == '\\':
			i++
		case s[i] == '"':
			quoted = !quoted
		case !quoted && s[i] == ';':
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// unquote returns a token as it is and a quoted string without its quotes
// and escapes. Anything else (an unterminated quote, text after the
// closing quote, a quote inside a token) is malformed.
func unquote(v string) (string, bool) {
	if !strings.HasPrefix(v, `"`) {
		return v, v != "" && !strings.ContainsAny(v, "\" \t")
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '\\':
			if i+1 == len(v) {
				return "", false
			}
			i++
			b.WriteByte(v[i])
		case '"':
			return b.String(), i == len(v)-1
		default:
			b.WriteByte(v[i])
		}
	}
	return "", false
}

// parseNode parses one hop's address: an IPv4 or IPv6 address, either
// optionally with a port ("192.0.2.1:80", "[2001:db8::1]:80", or
// "[2001:db8::1]"). RFC 7239's obfuscated ports ("_x") are dropped;
// obfuscated identifiers, "unknown" and addresses with an IPv6 zone are
// malformed. IPv4-mapped IPv6 addresses are unmapped.
func parseNode(s string) (netip.AddrPort, bool) {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.AddrPort{}, false
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			if port[0] != ':' {
				return netip.AddrPort{}, false
			}
			port = port[1:]
			if port == "" {
				return netip.AddrPort{}, false
			}
		}
	} else if i := strings.IndexByte(s, ':'); i >= 0 && strings.Count(s, ":") == 1 {
		host, port = s[:i], s[i+1:]
		if port == "" {
			return netip.AddrPort{}, false
		}
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.AddrPort{}, false
	}
	if strings.HasPrefix(s, "[") && !a.Is6() {
		return netip.AddrPort{}, false // "[192.0.2.1]" is not an address
	}
	var p uint64
	if port != "" && port[0] != '_' {
		if p, err = strconv.ParseUint(port, 10, 16); err != nil {
			return netip.AddrPort{}, false
		}
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(p)), true
}

type clientAddrKey struct{}

// NewClientAddrContext returns a copy of ctx that carries the client's
// address, as the gateway resolved it.
func NewClientAddrContext(ctx context.Context, client netip.Addr) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, client)
}

// ClientAddrFromContext returns the client address the [Gateway] resolved
// for the request whose context is ctx (see Config.TrustedProxies), and
// false outside a gateway or when the connection had no IP address.
// Inside the gateway the same address, with port 0 when the client's port
// is unknown, is the request's RemoteAddr.
func ClientAddrFromContext(ctx context.Context) (netip.Addr, bool) {
	a, ok := ctx.Value(clientAddrKey{}).(netip.Addr)
	return a, ok
}
