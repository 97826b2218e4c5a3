package balancer_test

import (
	"context"
	"io"
	"testing"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/balancertest"
	"github.com/switchyard/switchyard/discovery"
)

// firstHost is a policy whose picker always returns the first host, so
// picking again never avoids it: only the balancer's own fallback can.
type firstHost struct{}

func (firstHost) Name() string { return "first" }
func (firstHost) Build(hosts []*balancer.Host) balancer.Picker {
	return balancer.PickerFunc(func(context.Context) *balancer.Host { return hosts[0] })
}

// countingTried is a TriedHosts that counts the questions it is asked.
type countingTried struct {
	ids   map[string]bool
	asked int
}

func (c *countingTried) Tried(h *balancer.Host) bool {
	c.asked++
	return c.ids[h.Instance.ID]
}

func echoFactory(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
	var id any = inst.ID
	return func(context.Context, any) (any, error) { return id, nil }, nil, nil
}

// TestRetryAvoidsTriedHostsWithAnyPolicy: with a policy that cannot avoid
// anything, a call whose request has tried the host picked goes to the
// next untried host in ID order; when every host was tried, to the pick.
// A first attempt asks Tried once, and nothing else changes.
func TestRetryAvoidsTriedHostsWithAnyPolicy(t *testing.T) {
	b, err := balancer.New(firstHost{}, balancer.Config{Factory: echoFactory})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Update(instances(4))
	tests := []struct {
		tried []string
		want  string
		asked int // questions to Tried; -1: not checked
	}{
		{nil, "i00000", 1},
		{[]string{"i00001"}, "i00000", 1},
		{[]string{"i00000"}, "i00001", -1},
		{[]string{"i00000", "i00001", "i00003"}, "i00002", -1},
		{[]string{"i00000", "i00001", "i00002", "i00003"}, "i00000", -1},
	}
	for _, tt := range tests {
		req := &countingTried{ids: map[string]bool{}}
		for _, id := range tt.tried {
			req.ids[id] = true
		}
		resp, err := b.Call(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if resp != tt.want {
			t.Errorf("tried %v: the call went to %v, want %s", tt.tried, resp, tt.want)
		}
		if tt.asked >= 0 && req.asked != tt.asked {
			t.Errorf("tried %v: Tried asked %d times, want %d", tt.tried, req.asked, tt.asked)
		}
	}
	// A request that knows nothing of its attempts is sent where the
	// policy says.
	if resp, err := b.Call(context.Background(), struct{}{}); err != nil || resp != "i00000" {
		t.Errorf("plain request: Call = %v, %v; want i00000", resp, err)
	}
}

// TestRetryAvoidsOnlyEligibleHosts: an ejected host is not a way out; a
// retry that has tried every eligible host goes where the policy picks.
func TestRetryAvoidsOnlyEligibleHosts(t *testing.T) {
	b, err := balancer.New(firstHost{}, balancer.Config{
		Factory: echoFactory,
		Outlier: &balancer.OutlierConfig{ConsecutiveFailures: 1, MaxEjectionPercent: 50, PanicThreshold: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Update(instances(2))
	// Eject i00000 with one failure.
	h, err := b.Pick(context.Background())
	if err != nil || h.Instance.ID != "i00000" {
		t.Fatalf("Pick = %v, %v", h, err)
	}
	b.Done(context.Background(), h, b.Begin(h), statusErr(500))
	if !h.Ejected() {
		t.Fatal("i00000 was not ejected")
	}
	resp, err := b.Call(context.Background(), balancertest.Tried{"i00001": true})
	if err != nil || resp != "i00001" {
		t.Fatalf("Call = %v, %v; want the only eligible host, tried or not", resp, err)
	}
}
