package gateway

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func testIdentity() *identity {
	id := &identity{}
	id.trust([]netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("::ffff:192.168.0.0/112"), // mapped form of 192.168.0.0/16
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fd00::/8"),
	})
	return id
}

func TestResolveRule(t *testing.T) {
	long := []string{"203.0.113.7"}
	for i := 1; i <= 40; i++ {
		long = append(long, fmt.Sprintf("10.0.0.%d", i))
	}
	cases := []struct {
		name, peer string
		xff        []string
		forwarded  []string
		want       string
	}{
		{"untrusted peer", "198.51.100.1:1", []string{"203.0.113.7"}, nil, "198.51.100.1:1"},
		{"untrusted mapped peer", "[::ffff:198.51.100.1]:1", []string{"203.0.113.7"}, nil, "198.51.100.1:1"},
		{"trusted peer, no header", "10.0.0.1:1", nil, nil, "10.0.0.1:1"},
		{"trusted mapped peer", "[::ffff:192.168.1.1]:1", []string{"203.0.113.7"}, nil, "203.0.113.7:0"},
		{"rightmost untrusted", "10.0.0.1:1", []string{"6.6.6.6, 203.0.113.7, 10.0.0.2"}, nil, "203.0.113.7:0"},
		{"lines in order", "10.0.0.1:1", []string{"6.6.6.6", "203.0.113.7", "10.0.0.2"}, nil, "203.0.113.7:0"},
		{"all trusted: leftmost", "10.0.0.1:1", []string{"10.0.0.3, 10.0.0.2"}, nil, "10.0.0.3:0"},
		{"empty elements skipped", "10.0.0.1:1", []string{" , 203.0.113.7 ,, "}, nil, "203.0.113.7:0"},
		{"port kept", "10.0.0.1:1", []string{"[2001:db8::7]:4711"}, nil, "[2001:db8::7]:4711"},
		{"IPv4 with port", "10.0.0.1:1", []string{"203.0.113.7:80"}, nil, "203.0.113.7:80"},
		{"malformed stops at last trusted", "10.0.0.1:1", []string{"203.0.113.7, bogus, 10.0.0.2"}, nil, "10.0.0.2:0"},
		{"malformed right after the peer", "10.0.0.1:1", []string{"203.0.113.7, 300.1.1.1"}, nil, "10.0.0.1:1"},
		{"zone is malformed", "10.0.0.1:1", []string{"fe80::1%eth0"}, nil, "10.0.0.1:1"},
		{"only the last 32 are read", "10.0.0.1:1", []string{strings.Join(long, ",")}, nil, "10.0.0.9:0"},
		{"forwarded", "[::1]:1", nil, []string{`for=6.6.6.6, For="[2001:db8::7]:4711";proto=https`}, "[2001:db8::7]:4711"},
		{"forwarded quoted comma", "[::1]:1", nil, []string{`for=6.6.6.6;by="a,b", for=203.0.113.7`}, "203.0.113.7:0"},
		{"forwarded trusted hops", "[::1]:1", nil, []string{`for=203.0.113.7`, `for="[fd00::2]";proto=http`}, "203.0.113.7:0"},
		{"forwarded obfuscated port", "[::1]:1", nil, []string{`for="203.0.113.7:_abc"`}, "203.0.113.7:0"},
		{"forwarded unknown", "[::1]:1", nil, []string{`for=203.0.113.7, for=unknown`}, "[::1]:1"},
		{"forwarded hidden", "[::1]:1", nil, []string{`for=_hidden`}, "[::1]:1"},
		{"forwarded without for", "[::1]:1", nil, []string{`for=203.0.113.7, proto=https`}, "[::1]:1"},
		{"forwarded two fors", "[::1]:1", nil, []string{`for=203.0.113.7;for=198.51.100.1`}, "[::1]:1"},
		{"forwarded open quote", "[::1]:1", nil, []string{`for="203.0.113.7`}, "[::1]:1"},
		{"forwarded quote does not span lines", "[::1]:1", nil, []string{`for="6.6.6.6`, `for=203.0.113.7`}, "203.0.113.7:0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := testIdentity()
			h := http.Header{}
			if c.forwarded != nil {
				id.useHeader("Forwarded")
				h["Forwarded"] = c.forwarded
			} else if c.xff != nil {
				h["X-Forwarded-For"] = c.xff
			}
			got := id.resolve(netip.MustParseAddrPort(c.peer), h)
			if got.String() != c.want {
				t.Errorf("resolve = %s, want %s", got, c.want)
			}
		})
	}
}

func TestClientIPRequestPathAllocations(t *testing.T) {
	id := testIdentity()
	h := id.wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r, _ := http.NewRequest(http.MethodGet, "http://gw/x", nil)
	r.RemoteAddr = "198.51.100.1:1234"
	r.Header.Set("Accept", "application/json")
	r.Header.Set("User-Agent", "t")
	// The request copy, the context and the address in it; nothing for
	// a request without identity headers to strip.
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(nil, r) }); n > 3 {
		t.Errorf("%v allocations per request, want at most 3", n)
	}
}

// FuzzForwardingChain feeds arbitrary forwarding headers to the client
// address resolution. Whatever a client writes to the left, the address a
// trusted proxy appends is the one resolved (for Forwarded, when the
// client's text leaves a quote open on the same line, the walk may stop at
// the proxy instead, never anywhere else); an untrusted peer is always the
// client; and every entry the parser accepts is an address without a zone.
func FuzzForwardingChain(f *testing.F) {
	for _, s := range []string{
		"", "6.6.6.6", "6.6.6.6, 10.0.0.2", "unknown", `for="`, `for="\`, `for=6.6.6.6;for=1.1.1.1`,
		`for="[2001:db8::1]:4711";proto=https`, "[::1]:80", "fe80::1%eth0", "::ffff:10.0.0.1",
		`"a,b"`, ",,,", "\t", "[2001:db8::1", "1.2.3.4:99999", `for=_x;by="[::1]"`,
	} {
		f.Add(s, []byte{203, 0, 113, 7}, false)
		f.Add(s, []byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}, true)
	}
	id := testIdentity()
	trustedPeer := netip.MustParseAddrPort("10.0.0.1:5000")
	untrustedPeer := netip.MustParseAddrPort("198.51.100.1:5000")
	f.Fuzz(func(t *testing.T, clientText string, raw []byte, forwarded bool) {
		// The parser on its own.
		var c chain
		c.parse([]string{clientText}, forwarded)
		for i := range c.len() {
			if h := c.at(i); h.ok && (!h.addr.Addr().IsValid() || h.addr.Addr().Zone() != "" || h.addr.Addr().Is4In6()) {
				t.Fatalf("%q parsed to %v", clientText, h.addr)
			}
		}

		var client netip.Addr
		switch len(raw) {
		case 4:
			client = netip.AddrFrom4([4]byte(raw))
		case 16:
			client = netip.AddrFrom16([16]byte(raw)).Unmap()
		default:
			return
		}
		if id.isTrusted(client) {
			return
		}
		appended := client.String() // as a proxy writes X-Forwarded-For
		name := "X-Forwarded-For"
		rid := *id
		if forwarded {
			name = "Forwarded"
			rid.useHeader(name)
			appended = "for=" + client.String()
			if client.Is6() {
				appended = `for="[` + client.String() + `]"`
			}
		}
		want := netip.AddrPortFrom(client, 0)
		for _, lines := range [][]string{
			{clientText, appended},         // the proxy adds a line
			{clientText + ", " + appended}, // the proxy extends the line
		} {
			h := http.Header{name: lines}
			got := rid.resolve(trustedPeer, h)
			sameLine := len(lines) == 1
			if got != want && !(forwarded && sameLine && strings.Contains(clientText, `"`) && got == trustedPeer) {
				t.Fatalf("%s %q from a trusted proxy resolved to %v, want %v", name, lines, got, want)
			}
			if got := rid.resolve(untrustedPeer, h); got != untrustedPeer {
				t.Fatalf("%s %q from an untrusted peer resolved to %v", name, lines, got)
			}
		}
	})
}
