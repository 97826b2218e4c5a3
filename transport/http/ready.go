package http

import (
	"context"
	"fmt"
)

// WaitHosts blocks until the call path has an instance to call — its
// balancer has at least one host — or ctx ends, or c is closed. A service
// calls it before taking traffic, so that its first requests do not fail
// with no_instances while a dependency started together with it registers.
// It does not poll (see balancer.Balancer.WaitHosts). [NewClientEndpoint]
// waits only for the first view of the service, which may be empty.
func (c *ClientEndpoint) WaitHosts(ctx context.Context) error {
	if err := c.bal.WaitHosts(ctx); err != nil {
		return fmt.Errorf("http: %w", err)
	}
	return nil
}
