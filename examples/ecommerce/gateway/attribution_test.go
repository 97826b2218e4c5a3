package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/examples/ecommerce/gateway"
	"github.com/switchyard/switchyard/internal/brokenreq"
	"github.com/switchyard/switchyard/middleware/deadline"
)

// hungInstance registers an instance of service whose port accepts
// connections and never answers, as a replica stopped with SIGSTOP does.
func (s *fakeShop) hungInstance(service, id string) {
	inst := discovery.Instance{ID: id, Service: service, Addr: brokenreq.Hung(s.t)}
	if err := s.reg.Register(s.t.Context(), inst); err != nil {
		s.t.Fatal(err)
	}
}

func instanceState(t *testing.T, g *gateway.Gateway, id string) gateway.InstanceState {
	t.Helper()
	for _, s := range g.State(t.Context()).Services {
		for _, i := range s.Instances {
			if i.ID == id {
				return i
			}
		}
	}
	t.Fatalf("no instance %s on the dashboard", id)
	return gateway.InstanceState{}
}

// TestHungInstanceIsEjectedInTheShopsWiring runs the shop's gateway as
// "serve gateway" does — instance.Run's default deadline in front,
// equal to the route timeout — with a hung orders replica as the only one.
// Orders (never retried: they carry a body) time out, each timeout counts
// against the replica, and after the configured number (outlier
// detection's five consecutive failures) it is ejected; a live replica
// started then takes every order. A client's deadline header asking for
// far more than the route's budget changes nothing.
func TestHungInstanceIsEjectedInTheShopsWiring(t *testing.T) {
	for _, header := range []string{"", "300000"} {
		t.Run("deadline header "+header, func(t *testing.T) {
			shop := newFakeShop(t)
			const budget = 300 * time.Millisecond
			base, g := startGatewayWith(t, shop, gateway.Options{Login: noLimit, Signup: noLimit, RouteTimeout: budget}, budget)
			token := signupLogin(t, base, "buyer@example.com")
			if err := shop.reg.Deregister(t.Context(), discovery.Instance{ID: "orders-1", Service: "orders"}); err != nil {
				t.Fatal(err)
			}
			shop.hungInstance("orders", "orders-hung")
			waitFor(t, func() bool { st := g.State(t.Context()); return len(instancesOf(st, "orders")) == 1 })
			hdr := []string{"Idempotency-Key", ""}
			if header != "" {
				hdr = append(hdr, deadline.Header, header)
			}
			order := func(key string) (int, []byte) {
				hdr[1] = key
				st, _, b := call(t, "POST", base+"/api/v1/orders", token,
					map[string]any{"items": []map[string]any{{"product_id": shop.products[0].ID, "quantity": 1}}}, hdr...)
				return st, b
			}
			timeouts := 0
			for i := 0; i < 20 && !instanceState(t, g, "orders-hung").Ejected; i++ {
				st, b := order(fmt.Sprintf("key-%d", i))
				if st != http.StatusGatewayTimeout {
					t.Fatalf("order %d to the hung replica: %d %s, want 504", i, st, b)
				}
				timeouts++
				// The edge's deadline answers the client at the same
				// instant as the route times out; let the gateway finish
				// accounting for the attempt before the next order.
				waitFor(t, func() bool { return instanceState(t, g, "orders-hung").InFlight == 0 })
			}
			if hung := instanceState(t, g, "orders-hung"); !hung.Ejected || timeouts != 5 || hung.Failures != 5 {
				t.Fatalf("after %d route timeouts the hung replica is %+v; want it ejected after exactly 5 counted failures", timeouts, hung)
			}
			shop.start("orders", "orders-2", shop.ordersHandler())
			waitFor(t, func() bool { return len(instancesOf(g.State(t.Context()), "orders")) == 2 })
			for i := range 10 {
				if st, b := order(fmt.Sprintf("after-%d", i)); st != http.StatusCreated && st != http.StatusConflict {
					t.Fatalf("order after the ejection: %d %s", st, b)
				}
			}
		})
	}
}

func instancesOf(st gateway.State, service string) []gateway.InstanceState {
	for _, s := range st.Services {
		if s.Service == service {
			return s.Instances
		}
	}
	return nil
}

// waitFor polls cond, which watches the registry reach the gateway,
// for up to five seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
