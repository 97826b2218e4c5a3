package static_test

import (
	"testing"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/discoverytest"
	"github.com/switchyard/switchyard/discovery/static"
)

// TestConformance runs the cases that apply to a resolver without a
// registrar: first updates, fixed snapshots, Stop and goroutine release.
func TestConformance(t *testing.T) {
	discoverytest.Run(t, discoverytest.Harness{
		Setup: func(t *testing.T) discoverytest.Backend {
			return discoverytest.Backend{
				NewResolver: func() discovery.Resolver { return new(static.Resolver) },
				NewFixedResolver: func(list []discovery.Instance) discovery.Resolver {
					r, err := static.New(list...)
					if err != nil {
						t.Fatalf("static.New: %v", err)
					}
					return r
				},
			}
		},
	})
}
