package p2c_test

import (
	"testing"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/balancertest"
	"github.com/switchyard/switchyard/balancer/p2c"
)

func TestConformance(t *testing.T) {
	balancertest.Run(t, func() balancer.Policy { return p2c.New() })
}
