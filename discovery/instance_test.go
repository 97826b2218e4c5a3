package discovery_test

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/discovery"
)

func TestInstanceValidate(t *testing.T) {
	ok := discovery.Instance{ID: "a", Service: "catalog", Addr: "10.0.0.1:8080"}
	with := func(f func(*discovery.Instance)) discovery.Instance {
		i := ok
		f(&i)
		return i
	}
	addr := func(a string) discovery.Instance {
		return with(func(i *discovery.Instance) { i.Addr = a })
	}
	tests := []struct {
		name string
		inst discovery.Instance
		want error // nil: valid
	}{
		{"minimal", ok, nil},
		{"all fields", with(func(i *discovery.Instance) {
			i.Weight, i.Zone, i.Version, i.Meta = 5, "z1", "v2", map[string]string{"k": "v"}
		}), nil},
		{"no ID", with(func(i *discovery.Instance) { i.ID = "" }), discovery.ErrNoID},
		{"no service", with(func(i *discovery.Instance) { i.Service = "" }), discovery.ErrNoService},
		{"host name", addr("catalog-0.catalog.default.svc:80"), nil},
		{"host name with trailing dot (SRV target)", addr("node1.example.com.:443"), nil},
		{"underscore label", addr("_svc.example:80"), nil},
		{"localhost", addr("localhost:1"), nil},
		{"IPv6", addr("[::1]:8080"), nil},
		{"IPv6 with zone", addr("[fe80::1%eth0]:8080"), nil},
		{"IPv6 with odd zone", addr("[fe80::1%a/b]:8080"), discovery.ErrBadAddr},
		{"IPv6 with empty zone", addr("[fe80::1%]:8080"), discovery.ErrBadAddr},
		{"max port", addr("h:65535"), nil},
		{"empty", addr(""), discovery.ErrBadAddr},
		{"no port", addr("10.0.0.1"), discovery.ErrBadAddr},
		{"empty port", addr("10.0.0.1:"), discovery.ErrBadAddr},
		{"empty host", addr(":8080"), discovery.ErrBadAddr},
		{"port zero", addr("h:0"), discovery.ErrBadAddr},
		{"port too big", addr("h:65536"), discovery.ErrBadAddr},
		{"named port", addr("h:http"), discovery.ErrBadAddr},
		{"signed port", addr("h:+80"), discovery.ErrBadAddr},
		{"leading zero port", addr("h:080"), discovery.ErrBadAddr},
		{"unbracketed IPv6", addr("::1:8080"), discovery.ErrBadAddr},
		{"bracketed name", addr("[example.com]:80"), discovery.ErrBadAddr},
		{"space in host", addr("bad host:80"), discovery.ErrBadAddr},
		{"path smuggled in host", addr("evil.example/#:80"), discovery.ErrBadAddr},
		{"credentials in host", addr("user@evil:80"), discovery.ErrBadAddr},
		{"empty label", addr("a..b:80"), discovery.ErrBadAddr},
		{"only a dot", addr(".:80"), discovery.ErrBadAddr},
		{"label too long", addr(strings.Repeat("a", 64) + ":80"), discovery.ErrBadAddr},
		{"name too long", addr(strings.Repeat("a.", 127) + "ab:80"), discovery.ErrBadAddr},
		{"URL", addr("http://h:80"), discovery.ErrBadAddr},
		{"weight zero", with(func(i *discovery.Instance) { i.Weight = 0 }), nil},
		{"max weight", with(func(i *discovery.Instance) { i.Weight = discovery.MaxWeight }), nil},
		{"negative weight", with(func(i *discovery.Instance) { i.Weight = -1 }), discovery.ErrBadWeight},
		{"weight too big", with(func(i *discovery.Instance) { i.Weight = discovery.MaxWeight + 1 }), discovery.ErrBadWeight},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.inst.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", tt.inst, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate(%+v) = %v, want an error wrapping %v", tt.inst, err, tt.want)
			}
		})
	}
}

func TestEffectiveWeight(t *testing.T) {
	for _, tt := range []struct{ weight, want int }{{0, 1}, {1, 1}, {7, 7}, {-3, 1}} {
		if got := (discovery.Instance{Weight: tt.weight}).EffectiveWeight(); got != tt.want {
			t.Errorf("EffectiveWeight() with Weight %d = %d, want %d", tt.weight, got, tt.want)
		}
	}
}

func TestInstanceEqualAndSets(t *testing.T) {
	a := discovery.Instance{ID: "a", Service: "s", Addr: "h:1", Meta: map[string]string{"k": "v"}}
	b := a
	b.Meta = map[string]string{"k": "v"}
	if !a.Equal(b) {
		t.Fatal("instances with equal fields and equal Meta maps are not Equal")
	}
	for name, f := range map[string]func(*discovery.Instance){
		"ID":      func(i *discovery.Instance) { i.ID = "x" },
		"Service": func(i *discovery.Instance) { i.Service = "x" },
		"Addr":    func(i *discovery.Instance) { i.Addr = "h:2" },
		"Weight":  func(i *discovery.Instance) { i.Weight = 2 },
		"Zone":    func(i *discovery.Instance) { i.Zone = "x" },
		"Version": func(i *discovery.Instance) { i.Version = "x" },
		"Meta":    func(i *discovery.Instance) { i.Meta = map[string]string{"k": "w"} },
	} {
		c := a
		f(&c)
		if a.Equal(c) {
			t.Errorf("instances differing in %s are Equal", name)
		}
	}
	list := []discovery.Instance{{ID: "c"}, {ID: "a"}, {ID: "b"}}
	discovery.SortByID(list)
	if list[0].ID != "a" || list[1].ID != "b" || list[2].ID != "c" {
		t.Fatalf("SortByID gave %v", list)
	}
	if !discovery.EqualSets(list, []discovery.Instance{{ID: "a"}, {ID: "b"}, {ID: "c"}}) {
		t.Error("EqualSets is false for equal sorted lists")
	}
	if discovery.EqualSets(list, list[:2]) {
		t.Error("EqualSets is true for lists of different length")
	}
}

// FuzzValidate checks, for arbitrary addresses, that an accepted Addr is
// one a dialer and a URL builder can use as is: canonical host:port, a
// port in range, and a host that is an IP or a clean host name.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		"10.0.0.1:8080", "[::1]:80", "[fe80::1%eth0]:1", "a.b.c.:53", "h:0", "h:080",
		"[a]:80", "x y:1", "h:65536", ":80", "user@h:80", "h/x:80", "", "::1:80", "é:80",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		inst := discovery.Instance{ID: "id", Service: "svc", Addr: addr}
		err := inst.Validate()
		if err != nil {
			if !errors.Is(err, discovery.ErrBadAddr) {
				t.Fatalf("Validate(%q) = %v, want ErrBadAddr or nil", addr, err)
			}
			return
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("accepted %q, which SplitHostPort refuses: %v", addr, err)
		}
		if net.JoinHostPort(host, port) != addr {
			t.Fatalf("accepted non-canonical %q", addr)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != port {
			t.Fatalf("accepted %q with port %q", addr, port)
		}
		for _, r := range host {
			ok := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-_.:%", r)
			if !ok {
				t.Fatalf("accepted %q, whose host has %q", addr, r)
			}
		}
		if strings.Contains(host, ":") && net.ParseIP(strings.SplitN(host, "%", 2)[0]) == nil {
			t.Fatalf("accepted %q, whose host has a colon but is not an IPv6 address", addr)
		}
	})
}
