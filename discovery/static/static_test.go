package static_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/static"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func addrs(list []discovery.Instance) []string {
	out := make([]string, len(list))
	for i, inst := range list {
		out[i] = inst.Addr
	}
	return out
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		service string
		in      string
		want    []string // addresses, in input order
		err     error
	}{
		{"empty", "catalog", "", nil, nil},
		{"only separators", "catalog", " , ,, ", nil, nil},
		{"one", "catalog", "10.0.0.1:80", []string{"10.0.0.1:80"}, nil},
		{"several with spaces", "catalog", " 10.0.0.1:80 ,h.example:443,, [::1]:8080 ",
			[]string{"10.0.0.1:80", "h.example:443", "[::1]:8080"}, nil},
		{"input order kept", "catalog", "b:2,a:1", []string{"b:2", "a:1"}, nil},
		{"duplicates kept", "catalog", "a:1,a:1", []string{"a:1", "a:1"}, nil},
		{"no port", "catalog", "10.0.0.1:80,10.0.0.2", nil, discovery.ErrBadAddr},
		{"no host", "catalog", ":80", nil, discovery.ErrBadAddr},
		{"port zero", "catalog", "h:0", nil, discovery.ErrBadAddr},
		{"port too big", "catalog", "h:70000", nil, discovery.ErrBadAddr},
		{"named port", "catalog", "h:http", nil, discovery.ErrBadAddr},
		{"URL", "catalog", "http://h:80", nil, discovery.ErrBadAddr},
		{"space inside", "catalog", "a b:80", nil, discovery.ErrBadAddr},
		{"semicolons", "catalog", "a:1;b:2", nil, discovery.ErrBadAddr},
		{"no service", "", "a:1", nil, discovery.ErrNoService},
		{"no service, no addresses", "", "", nil, discovery.ErrNoService},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := static.Parse(tt.service, tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Parse(%q, %q) error = %v, want %v", tt.service, tt.in, err, tt.err)
				}
				if got != nil {
					t.Fatalf("Parse returned %v beside an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q, %q) error = %v", tt.service, tt.in, err)
			}
			if !slices.Equal(addrs(got), tt.want) {
				t.Fatalf("Parse(%q) = %v, want %v", tt.in, addrs(got), tt.want)
			}
			for _, inst := range got {
				if inst.ID != inst.Addr || inst.Service != tt.service {
					t.Errorf("instance %+v: want ID == Addr and Service %q", inst, tt.service)
				}
			}
		})
	}
}

func TestNewRejectsInvalid(t *testing.T) {
	_, err := static.New(discovery.Instance{ID: "a", Service: "s", Addr: "h:1"}, discovery.Instance{ID: "b", Service: "s"})
	if !errors.Is(err, discovery.ErrBadAddr) {
		t.Fatalf("New with an invalid instance = %v, want ErrBadAddr", err)
	}
}

func TestWatch(t *testing.T) {
	list, err := static.Parse("catalog", "h:3,h:1,h:2,h:1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := static.New(list...)
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.Watch(context.Background(), "catalog")
	if err != nil {
		t.Fatal(err)
	}
	u := <-w.Updates()
	if got := addrs(u.Instances); !slices.Equal(got, []string{"h:1", "h:2", "h:3"}) || u.Err != nil {
		t.Fatalf("update %v err=%v, want [h:1 h:2 h:3] (sorted, deduplicated)", got, u.Err)
	}
	select {
	case u := <-w.Updates():
		t.Fatalf("second update %v from a static resolver", u)
	default:
	}
	w.Stop()
	if _, ok := <-w.Updates(); ok {
		t.Fatal("channel open after Stop")
	}
	w.Stop()

	var zero static.Resolver
	w, err = zero.Watch(context.Background(), "catalog")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if u := <-w.Updates(); len(u.Instances) != 0 || u.Err != nil {
		t.Fatalf("zero Resolver: %v err=%v", u.Instances, u.Err)
	}
}

// FuzzParse checks that Parse either fails with ErrBadAddr or returns
// valid instances, one per non-empty element, that parse again to the same
// list when joined back.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", ",", "10.0.0.1:80", "a:1, b:2", "[::1]:80,[fe80::1%eth0]:1", "h:0", "h:65536",
		"a:1,,b:2", " x.example.:53 ", "http://h:80", "[a]:1", "a b:1", "h:08",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		list, err := static.Parse("svc", in)
		if err != nil {
			if !errors.Is(err, discovery.ErrBadAddr) {
				t.Fatalf("Parse(%q) = %v, want ErrBadAddr", in, err)
			}
			return
		}
		n := 0
		for e := range strings.SplitSeq(in, ",") {
			if strings.TrimSpace(e) != "" {
				n++
			}
		}
		if len(list) != n {
			t.Fatalf("Parse(%q) gave %d instances for %d elements", in, len(list), n)
		}
		for _, inst := range list {
			if err := inst.Validate(); err != nil {
				t.Fatalf("Parse(%q) gave invalid %+v: %v", in, inst, err)
			}
			if inst.ID != inst.Addr || inst.Service != "svc" || strings.ContainsAny(inst.Addr, ", \t") {
				t.Fatalf("Parse(%q) gave %+v", in, inst)
			}
		}
		again, err := static.Parse("svc", strings.Join(addrs(list), ","))
		if err != nil || !slices.Equal(addrs(again), addrs(list)) {
			t.Fatalf("round trip of %q: %v, %v", in, addrs(again), err)
		}
		if _, err := static.New(list...); err != nil {
			t.Fatalf("New refused Parse's output: %v", err)
		}
	})
}
