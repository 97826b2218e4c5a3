package users_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/switchyard/switchyard/examples/ecommerce/internal/sqlite"
	"github.com/switchyard/switchyard/examples/ecommerce/users"
	"github.com/switchyard/switchyard/internal/clock"
)

func from(addr string) context.Context {
	return users.NewClientContext(context.Background(), addr)
}

// attackService fails logins to email through svc from a new address each
// time for d of clk's time, waiting out every refusal. It returns the
// failures that reached the password check.
func attackService(t *testing.T, svc users.Service, clk *clock.Fake, email string, d time.Duration) int {
	t.Helper()
	n := 0
	for end := clk.Now().Add(d); ; {
		_, err := svc.Login(from(manyAddresses(n+1000)), email, "guess "+strconv.Itoa(n))
		var te *users.ThrottledError
		switch {
		case errors.Is(err, users.ErrInvalidCredentials):
			n++
		case errors.As(err, &te):
			if !clk.Now().Add(te.RetryAfter).Before(end) {
				return n // stop while the last failure's delay runs
			}
			clk.Advance(te.RetryAfter)
		default:
			t.Fatalf("attack: %v", err)
		}
	}
}

// The owner logs in while an attacker fails logins to the account from
// many addresses: at once from an address they used before (on either
// replica: the known addresses are in the shared database), and within
// 5 minutes of the attack's end from a new one.
func TestLoginOwnerDuringAttack(t *testing.T) {
	clk := clock.NewFake(t0)
	f := newFixture(t, users.WithNow(clk.Now))
	ctx := context.Background()
	if _, err := f.svc.Signup(ctx, "ann@example.com", "correct horse", "Ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(from("192.0.2.10"), "ann@example.com", "correct horse"); err != nil {
		t.Fatal(err)
	}
	other, err := sqlite.Open(ctx, f.path, users.Migrations...)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	replica2, err := users.NewService(users.NewSQLiteStore(other), f.key, users.WithArgon2(cheap), users.WithNow(clk.Now))
	if err != nil {
		t.Fatal(err)
	}

	if n := attackService(t, f.svc, clk, "ann@example.com", time.Hour); n != 39 {
		t.Fatalf("%d failed logins in the attack's hour, want 39", n)
	}
	// The account is blocked now, and a right password does not help an
	// address the owner never used: no answer tells a guess is right.
	_, err = f.svc.Login(from("192.0.2.99"), "ann@example.com", "correct horse")
	var te *users.ThrottledError
	if !errors.As(err, &te) || te.RetryAfter <= 0 || te.RetryAfter > 5*time.Minute {
		t.Fatalf("new address during the attack: %v, want a ThrottledError of at most 5 min", err)
	}
	for name, svc := range map[string]users.Service{"replica 1": f.svc, "replica 2": replica2} {
		if _, err := svc.Login(from("192.0.2.10"), "ann@example.com", "correct horse"); err != nil {
			t.Fatalf("%s: the owner's known address during the attack: %v", name, err)
		}
	}
	// And at most 5 minutes after the attack stops, from anywhere.
	clk.Advance(te.RetryAfter)
	if _, err := f.svc.Login(from("192.0.2.99"), "ann@example.com", "correct horse"); err != nil {
		t.Fatalf("new address %v after the attack: %v", te.RetryAfter, err)
	}
}

// From one address: 5 failures free, then 1 s, 2 s, 4 s…; a right password
// while blocked is refused too; a success clears the address's count.
func TestLoginThrottledFromOneAddress(t *testing.T) {
	clk := clock.NewFake(t0)
	f := newFixture(t, users.WithNow(clk.Now))
	if _, err := f.svc.Signup(context.Background(), "ann@example.com", "correct horse", "Ann"); err != nil {
		t.Fatal(err)
	}
	ctx := from("203.0.113.7")
	for i := range 5 {
		if _, err := f.svc.Login(ctx, "ann@example.com", "wrong"+strconv.Itoa(i)); !errors.Is(err, users.ErrInvalidCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	for _, pw := range []string{"wrong", "correct horse"} {
		_, err := f.svc.Login(ctx, "ann@example.com", pw)
		var te *users.ThrottledError
		if !errors.As(err, &te) || te.RetryAfter != time.Second || !errors.Is(err, users.ErrThrottled) {
			t.Fatalf("6th attempt (%s): %v, want ThrottledError of 1s", pw, err)
		}
	}
	clk.Advance(time.Second)
	if _, err := f.svc.Login(ctx, "ann@example.com", "correct horse"); err != nil {
		t.Fatalf("after 1 s: %v", err)
	}
	for i := range 5 {
		if _, err := f.svc.Login(ctx, "ann@example.com", "wrong"); !errors.Is(err, users.ErrInvalidCredentials) {
			t.Fatalf("failure %d after a success: %v", i+1, err)
		}
	}
	// Unknown accounts are throttled alike, so a 429 tells nothing about
	// whether an account exists.
	for i := range 6 {
		_, err := f.svc.Login(ctx, "nobody@example.com", "wrong")
		if want := i < 5; errors.Is(err, users.ErrInvalidCredentials) != want {
			t.Fatalf("unknown account, attempt %d: %v", i+1, err)
		}
	}
}

func TestClientAddr(t *testing.T) {
	private := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	loopback := users.DefaultTrustedProxies
	tests := []struct {
		name    string
		trusted []netip.Prefix
		remote  string
		xff     []string
		want    string
	}{
		{"remote IPv4", loopback, "192.0.2.1:5000", nil, "192.0.2.1"},
		{"remote IPv6 by /64", loopback, "[2001:db8:1:2:3:4:5:6]:5000", nil, "2001:db8:1:2::/64"},
		{"remote IPv6 zone", loopback, "[fe80::1%eth0]:5000", nil, "fe80::/64"},
		{"remote mapped IPv4", loopback, "[::ffff:192.0.2.1]:5000", nil, "192.0.2.1"},
		{"remote without port", loopback, "192.0.2.1", nil, "192.0.2.1"},
		{"unparsable remote", loopback, "@pipe", []string{"198.51.100.4"}, "@pipe"},

		// A trusted peer names the client: the last element, the one
		// the gateway appends.
		{"trusted: gateway's element last", private, "10.0.0.2:4000", []string{"6.6.6.6, 198.51.100.4"}, "198.51.100.4"},
		{"trusted: several header lines", private, "10.0.0.2:4000", []string{"6.6.6.6", "7.7.7.7,198.51.100.4"}, "198.51.100.4"},
		{"trusted: forwarded IPv6", private, "10.0.0.2:4000", []string{"2001:db8:aa:bb:1::1"}, "2001:db8:aa:bb::/64"},
		{"trusted: same /64, same key", private, "10.0.0.2:4000", []string{"2001:db8:aa:bb:ffff::2"}, "2001:db8:aa:bb::/64"},
		{"trusted: garbage last element", private, "10.0.0.2:4000", []string{"198.51.100.4, unknown"}, "10.0.0.2"},
		{"trusted: empty last element", private, "10.0.0.2:4000", []string{"198.51.100.4,"}, "10.0.0.2"},
		{"trusted IPv6 peer", private, "[fd00::7]:4000", []string{"198.51.100.4"}, "198.51.100.4"},
		{"default: IPv4 loopback", loopback, "127.0.0.1:4000", []string{"198.51.100.4"}, "198.51.100.4"},
		{"default: another 127/8 address", loopback, "127.0.0.2:4000", []string{"2001:db8::1"}, "2001:db8::/64"},
		{"default: IPv6 loopback", loopback, "[::1]:4000", []string{"198.51.100.4"}, "198.51.100.4"},
		{"default: mapped IPv4 loopback", loopback, "[::ffff:127.0.0.1]:4000", []string{"198.51.100.4"}, "198.51.100.4"},

		// Anybody else is the client, whatever it claims.
		{"untrusted IPv4 peer", private, "192.0.2.1:5000", []string{"198.51.100.4"}, "192.0.2.1"},
		{"untrusted IPv6 peer", private, "[2001:db8:1:2::9]:5000", []string{"198.51.100.4"}, "2001:db8:1:2::/64"},
		{"untrusted peer spoofing loopback", private, "192.0.2.1:5000", []string{"127.0.0.1"}, "192.0.2.1"},
		{"default: not loopback", loopback, "10.0.0.2:4000", []string{"198.51.100.4"}, "10.0.0.2"},
		{"default: IPv6 not loopback", loopback, "[::2]:4000", []string{"198.51.100.4"}, "::/64"},
		{"none trusted", nil, "127.0.0.1:4000", []string{"198.51.100.4"}, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/login", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := users.ClientAddr(r, tt.trusted); got != tt.want {
				t.Fatalf("ClientAddr = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "2001:db8::1", "a, b", "", ",", "::ffff:1.2.3.4%x"} {
		f.Add(s, "192.0.2.1:1")
		f.Add(s, "127.0.0.1:1")
	}
	f.Fuzz(func(t *testing.T, xff, remote string) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		got := users.ClientAddr(r, users.DefaultTrustedProxies)
		if len(got) > 64 {
			t.Fatalf("ClientAddr = %q: longer than 64 bytes", got)
		}
		// Trusting nobody, the header never matters.
		if untrusted, bare := users.ClientAddr(r, nil), users.ClientAddr(stripXFF(r), nil); untrusted != bare {
			t.Fatalf("untrusted peer %q: X-Forwarded-For %q changed the key from %q to %q", remote, xff, bare, untrusted)
		}
	})
}

func stripXFF(r *http.Request) *http.Request {
	r = r.Clone(r.Context())
	r.Header.Del("X-Forwarded-For")
	return r
}

// Over real HTTP, from a peer on 127.0.0.1: with the default trusted
// proxies (loopback) each X-Forwarded-For client has its own budget; a
// replica that trusts no peer keys every attempt by the peer, so a caller
// that varies X-Forwarded-For is still held after 5 failures.
func TestHTTPClientAddrTrust(t *testing.T) {
	for _, tt := range []struct {
		name      string
		hopts     []users.HandlerOption
		throttled bool
	}{
		{"loopback trusted by default", nil, false},
		{"no peer trusted", []users.HandlerOption{users.WithTrustedProxies()}, true},
		{"only another network trusted", []users.HandlerOption{users.WithTrustedProxies(netip.MustParsePrefix("10.0.0.0/8"))}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			h, err := users.NewHandler(f.svc, f.key, tt.hopts...)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			var last answer
			for i := range 6 {
				last = do(t, "POST", srv.URL+"/v1/login", `{"email":"ann@example.com","password":"wrong password"}`,
					"X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i))
				if i < 5 && last.status != 401 {
					t.Fatalf("attempt %d: %d %v, want 401", i+1, last.status, last.body)
				}
			}
			if got := last.status == 429; got != tt.throttled {
				t.Fatalf("6th attempt from a 6th X-Forwarded-For address: %d %v; throttled %v, want %v",
					last.status, last.body, got, tt.throttled)
			}
		})
	}
}

// Over real HTTP: the last X-Forwarded-For element is the address; 401
// until the budget is spent, then 429 login_throttled with Retry-After,
// and the owner's known address still gets in.
func TestHTTPLoginThrottle(t *testing.T) {
	clk := clock.NewFake(t0)
	_, base := server(t, users.WithNow(clk.Now))
	do(t, "POST", base+"/v1/users", `{"email":"ann@example.com","password":"correct horse","name":"Ann"}`)
	login := func(pw, client string) answer {
		return do(t, "POST", base+"/v1/login", `{"email":"ann@example.com","password":"`+pw+`"}`,
			"X-Forwarded-For", "6.6.6."+strconv.Itoa(int(clk.Now().Unix()%200))+", "+client)
	}
	if a := login("correct horse", "192.0.2.10"); a.status != 200 {
		t.Fatalf("owner: %d %v", a.status, a.body)
	}

	// One address: 5 × 401, then 429 for 1 s, however the client varies
	// the elements before the gateway's.
	for i := range 5 {
		if a := login("wrong", "203.0.113.7"); a.status != 401 {
			t.Fatalf("attempt %d: %d %v", i+1, a.status, a.body)
		}
	}
	a := login("correct horse", "203.0.113.7")
	if a.status != 429 || a.code() != "login_throttled" || a.header.Get("Retry-After") != "1" {
		t.Fatalf("6th attempt: %d %v Retry-After %q, want 429 login_throttled, 1", a.status, a.body, a.header.Get("Retry-After"))
	}

	// Many addresses: 20 failures in all (5 spent above), then 429.
	for i := range 15 {
		if a := login("wrong", fmt.Sprintf("198.51.100.%d", i)); a.status != 401 {
			t.Fatalf("address %d: %d %v", i, a.status, a.body)
		}
	}
	a = login("wrong", "198.51.100.200")
	if a.status != 429 || a.header.Get("Retry-After") != "1" {
		t.Fatalf("21st failure: %d Retry-After %q, want 429, 1", a.status, a.header.Get("Retry-After"))
	}
	if a := login("correct horse", "192.0.2.10"); a.status != 200 {
		t.Fatalf("owner's known address while the account is throttled: %d %v", a.status, a.body)
	}
	if a := login("correct horse", "[2001:db8::1]"); a.status != 429 {
		t.Fatalf("a new address while the account is throttled: %d", a.status)
	}
	clk.Advance(time.Second)
	if a := login("correct horse", "2001:db8::1"); a.status != 200 {
		t.Fatalf("a new address after the delay: %d %v", a.status, a.body)
	}
}
