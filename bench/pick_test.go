package bench

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/p2c"
	"github.com/switchyard/switchyard/balancer/random"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/discovery"
)

var sizes = []int{3, 100, 10000}

func instances(n int) []discovery.Instance {
	list := make([]discovery.Instance, n)
	for i := range list {
		list[i] = discovery.Instance{ID: fmt.Sprintf("i%05d", i), Service: "svc", Addr: fmt.Sprintf("10.0.%d.%d:80", i/250, i%250+1)}
	}
	return list
}

func nopFactory(discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
	return endpoint.Nop, nil, nil
}

func ours(n int, p balancer.Policy) *balancer.Balancer {
	b, err := balancer.New(p, balancer.Config{Factory: nopFactory})
	if err != nil {
		panic(err)
	}
	b.Update(instances(n))
	return b
}

func kit(n int) sd.FixedEndpointer {
	eps := make(sd.FixedEndpointer, n)
	for i := range eps {
		eps[i] = endpoint.Nop
	}
	return eps
}

// BenchmarkPick compares one pick (returning an endpoint to call) on
// go-kit's balancers and on Switchyard's, through each library's go-kit
// face: lb.Balancer.Endpoint().
func BenchmarkPick(b *testing.B) {
	for _, n := range sizes {
		cases := []struct {
			name string
			lb   lb.Balancer
		}{
			{"gokit-roundrobin", lb.NewRoundRobin(kit(n))},
			{"switchyard-roundrobin", ours(n, roundrobin.New())},
			{"gokit-random", lb.NewRandom(kit(n), 1)},
			{"switchyard-random", ours(n, random.New())},
		}
		for _, c := range cases {
			b.Run(fmt.Sprintf("%s/n=%d", c.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.lb.Endpoint(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkPickParallel is BenchmarkPick from every core at once. go-kit's
// random balancer is left out: it shares one *rand.Rand between goroutines
// and panics or corrupts its state under concurrent picks.
func BenchmarkPickParallel(b *testing.B) {
	for _, n := range sizes {
		cases := []struct {
			name string
			lb   lb.Balancer
		}{
			{"gokit-roundrobin", lb.NewRoundRobin(kit(n))},
			{"switchyard-roundrobin", ours(n, roundrobin.New())},
			{"switchyard-random", ours(n, random.New())},
		}
		for _, c := range cases {
			b.Run(fmt.Sprintf("%s/n=%d", c.name, n), func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := c.lb.Endpoint(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkCall is the whole trip through a balancer to a no-op endpoint
// with the outcome reported: go-kit's Endpoint()+call versus Switchyard's
// Call, which also feeds in-flight counts and latency to the policy (the
// p2c cases learn from each answer).
func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{3, 100} {
		kitRR := lb.NewRoundRobin(kit(n))
		our := ours(n, roundrobin.New())
		b.Run(fmt.Sprintf("gokit-roundrobin/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ep, _ := kitRR.Endpoint()
				ep(ctx, nil)
			}
		})
		b.Run(fmt.Sprintf("switchyard-roundrobin/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				our.Call(ctx, nil)
			}
		})
		// p2c learns from every call: the pick reads the latency
		// estimates that the report of each answer updates.
		learning := ours(n, p2c.New())
		b.Run(fmt.Sprintf("switchyard-p2c/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				learning.Call(ctx, nil)
			}
		})
		b.Run(fmt.Sprintf("switchyard-p2c-parallel/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					learning.Call(ctx, nil)
				}
			})
		})
	}
}
