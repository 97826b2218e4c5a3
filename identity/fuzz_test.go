package identity_test

import (
	"errors"
	"testing"

	"github.com/switchyard/switchyard/identity"
)

// FuzzParse checks that Parse either rejects its input with ErrInvalid or
// returns an ID that prints back as the input and re-parses to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"spiffe://shop.internal/orders", "spiffe://a", "spiffe://a/b/c", "spiffe://a//b", "spiffe://A/b", "spiffe://a/%41", "spiffe://a/b/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := identity.Parse(s)
		if err != nil {
			if !errors.Is(err, identity.ErrInvalid) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if id.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, id)
		}
		if u := id.URL(); u.String() != s {
			t.Fatalf("Parse(%q).URL() = %q", s, u)
		}
		again, err := identity.Parse(id.String())
		if err != nil || again != id {
			t.Fatalf("re-parse of %q = %q, %v", id, again, err)
		}
		if back, err := identity.New(id.TrustDomain(), id.Path()); err != nil || back != id {
			t.Fatalf("New(%q, %q) = %q, %v", id.TrustDomain(), id.Path(), back, err)
		}
	})
}
