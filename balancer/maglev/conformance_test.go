package maglev_test

import (
	"testing"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/balancertest"
	"github.com/switchyard/switchyard/balancer/maglev"
)

func TestConformance(t *testing.T) {
	balancertest.Run(t, func() balancer.Policy {
		p, err := maglev.New()
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
}
