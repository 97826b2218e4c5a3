package ringhash_test

import (
	"testing"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/balancertest"
	"github.com/switchyard/switchyard/balancer/ringhash"
)

func TestConformance(t *testing.T) {
	balancertest.Run(t, func() balancer.Policy {
		p, err := ringhash.New()
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
}
