package random_test

import (
	"testing"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/balancertest"
	"github.com/switchyard/switchyard/balancer/random"
)

func TestConformance(t *testing.T) {
	balancertest.Run(t, func() balancer.Policy { return random.New() })
}
