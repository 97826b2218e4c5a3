package gateway_test

import (
	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/transport/gateway"
)

// balancerConfigNoEjection keeps a dead instance in the pool so that a test
// exercises retries rather than ejection.
func balancerConfigNoEjection() balancer.OutlierConfig {
	return balancer.OutlierConfig{DisableConsecutive: true, DisableSuccessRate: true, DisableFailurePercentage: true}
}

// The retry middleware's budget is the one the gateway draws on.
var _ gateway.Budget = (*retry.Budget)(nil)

// ptr returns a pointer to v, for Config's pointer fields.
func ptr[T any](v T) *T { return &v }
