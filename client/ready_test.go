package client_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// WaitHosts returns once the registry reports an instance of the service,
// not at the first (empty) view, and gives up with ctx.
func TestClientEndpointWaitHosts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := memory.New()
		defer reg.Close()
		factory := shttp.NewFactory("GET", "/", nil, shttp.DecodeJSONResponse[map[string]any])
		ce, err := client.New(t.Context(), reg, "items", factory, client.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer ce.Close()

		short, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := ce.WaitHosts(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitHosts with no instance = %v, want the deadline", err)
		}

		done := make(chan error, 1)
		go func() { done <- ce.WaitHosts(t.Context()) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("WaitHosts returned %v before any instance registered", err)
		default:
		}
		if err := reg.Register(t.Context(), discovery.Instance{ID: "i1", Service: "items", Addr: "127.0.0.1:1"}); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("WaitHosts = %v after an instance registered", err)
		}
		if n, _ := ce.Balancer().Len(); n != 1 {
			t.Fatalf("balancer has %d hosts after WaitHosts, want 1", n)
		}

		ce.Close()
		if err := ce.WaitHosts(t.Context()); !errors.Is(err, balancer.ErrNoHosts) {
			t.Fatalf("WaitHosts after Close = %v, want ErrNoHosts", err)
		}
	})
}
