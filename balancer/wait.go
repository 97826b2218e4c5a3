package balancer

import (
	"context"
	"fmt"
)

// publish makes s the snapshot that picks read and wakes every
// [Balancer.WaitHosts] waiting on the one it replaces. Swap hands each
// replaced snapshot to one publisher only, so its channel is closed once.
func (b *Balancer) publish(s *snapshot) {
	s.replaced = make(chan struct{})
	if old := b.snap.Swap(s); old != nil {
		close(old.replaced)
	}
}

// WaitHosts blocks until a pick can succeed — the balancer has at least one
// host — or ctx ends, or the balancer is closed (an error wrapping
// [ErrNoHosts]). It does not poll: each published snapshot carries a
// channel that is closed when the next one replaces it. Unlike
// [Balancer.WaitReady], which returns at the first membership update even
// when it is empty, WaitHosts waits for a non-empty one. It is safe to call
// from any number of goroutines; picks are not slowed by waiters.
func (b *Balancer) WaitHosts(ctx context.Context) error {
	for {
		s := b.snap.Load()
		switch {
		case s.picker != nil:
			return nil
		case s.closed:
			return fmt.Errorf("balancer: closed while waiting for hosts: %w", ErrNoHosts)
		}
		select {
		case <-s.replaced:
		case <-ctx.Done():
			return fmt.Errorf("balancer: waiting for hosts: %w", ctx.Err())
		}
	}
}
