package client_test

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/outcome"
)

// TestAttemptTimeoutAttribution runs the client chain over in-process
// endpoints in a synctest bubble: "hung" waits for its context to end,
// "ok" answers at once. An attempt's own timeout ends with the cause
// outcome.ErrTimeout (a server failure of the hung instance, retried on the
// other); a caller deadline shorter than the attempt timeout ends the
// attempt as the caller's (neutral, not retried, not counted).
func TestAttemptTimeoutAttribution(t *testing.T) {
	const attempt = 300 * time.Millisecond
	tests := []struct {
		name          string
		callerBudget  time.Duration
		wantErr       bool
		wantClass     outcome.Class
		wantHungFails bool
	}{
		{"the attempt timeout counts against the instance", 10 * time.Second, false, outcome.ServerFailure, true},
		{"the caller's shorter deadline is neutral", 100 * time.Millisecond, true, outcome.Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				reg := memory.New()
				defer reg.Close()
				for _, id := range []string{"a-hung", "b-ok"} {
					if err := reg.Register(ctx, discovery.Instance{ID: id, Service: "svc", Addr: "127.0.0.1:" + map[string]string{"a-hung": "1", "b-ok": "2"}[id]}); err != nil {
						t.Fatal(err)
					}
				}
				var (
					class   atomic.Int32
					waited  atomic.Int64
					hungHit atomic.Int32
				)
				class.Store(-1)
				factory := func(inst discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
					if inst.ID == "b-ok" {
						return func(context.Context, any) (any, error) { return "ok", nil }, nil, nil
					}
					return func(ctx context.Context, _ any) (any, error) {
						hungHit.Add(1)
						start := time.Now()
						<-ctx.Done()
						waited.Store(int64(time.Since(start)))
						class.Store(int32(outcome.Default(ctx, ctx.Err())))
						return nil, ctx.Err()
					}, nil, nil
				}
				ce, err := client.New(ctx, reg, "svc", factory, client.Config{
					Policy:         roundrobin.New(),
					Tracing:        client.Tracing{Off: true},
					Idempotent:     true,
					AttemptTimeout: client.AttemptTimeout{Initial: attempt},
					Outlier:        balancer.OutlierConfig{ConsecutiveFailures: 1},
				})
				if err != nil {
					t.Fatal(err)
				}
				defer ce.Close()

				// Round robin: one of two calls goes to the hung instance first.
				for range 2 {
					cctx, cancel := context.WithTimeout(ctx, tt.callerBudget)
					_, err = ce.Call(cctx, nil)
					cancel()
					if hungHit.Load() > 0 {
						break
					}
				}
				if hungHit.Load() == 0 {
					t.Fatal("the hung instance was never called")
				}
				if (err != nil) != tt.wantErr {
					t.Fatalf("call error %v, want error %v", err, tt.wantErr)
				}
				if tt.wantErr && !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("call error %v, want the caller's deadline", err)
				}
				if got := outcome.Class(class.Load()); got != tt.wantClass {
					t.Fatalf("the hung attempt ended as %v, want %v", got, tt.wantClass)
				}
				if want := min(attempt, tt.callerBudget); time.Duration(waited.Load()) != want {
					t.Fatalf("the hung attempt waited %v, want %v", time.Duration(waited.Load()), want)
				}
				hosts, _ := ce.Balancer().Hosts()
				for _, h := range hosts {
					if h.Instance.ID == "a-hung" && h.Ejected != tt.wantHungFails {
						t.Fatalf("hung instance ejected = %v, want %v: %+v", h.Ejected, tt.wantHungFails, h)
					}
				}
			})
		})
	}
}

// TestAttemptTimeoutFollowsLatency shows the timeout learning: after many
// answers of 40ms the attempt timeout is about 3 × p99 (≈ 120ms, within
// the tracker's 12.5 % buckets), not the 1s initial one. The call has two
// attempts; the first is the one that times out, the second (the last)
// runs until the caller's deadline.
func TestAttemptTimeoutFollowsLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reg := memory.New()
		defer reg.Close()
		if err := reg.Register(ctx, discovery.Instance{ID: "a", Service: "svc", Addr: "127.0.0.1:1"}); err != nil {
			t.Fatal(err)
		}
		var hang atomic.Bool
		var waited []time.Duration // of hung attempts; the endpoint runs on the caller's goroutine
		factory := func(discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
			return func(ctx context.Context, _ any) (any, error) {
				start := time.Now()
				if hang.Load() {
					<-ctx.Done()
					waited = append(waited, time.Since(start))
					return nil, ctx.Err()
				}
				select { // waits like a network call, arming the attempt's timer
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(40 * time.Millisecond):
					return "ok", nil
				}
			}, nil, nil
		}
		ce, err := client.New(ctx, reg, "svc", factory, client.Config{
			Tracing:        client.Tracing{Off: true},
			Idempotent:     true,
			Retry:          client.Retry{Config: retry.Config{MaxAttempts: 2, Backoff: retry.NoBackoff}},
			AttemptTimeout: client.AttemptTimeout{Floor: 10 * time.Millisecond},
			Outlier:        balancer.OutlierConfig{DisableConsecutive: true},
			Breakers:       client.Breakers{Off: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer ce.Close()
		for i := range 200 {
			if _, err := ce.Call(ctx, nil); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		hang.Store(true)
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := ce.Call(cctx, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("hung call: %v, want the caller's deadline", err)
		}
		if len(waited) != 2 {
			t.Fatalf("%d hung attempts, want 2", len(waited))
		}
		if got := waited[0]; got < 120*time.Millisecond || got > 140*time.Millisecond {
			t.Fatalf("attempt timeout %v after 40ms answers, want about 3 × 40ms", got)
		}
		if got, want := waited[0]+waited[1], 5*time.Second; got != want {
			t.Fatalf("the last attempt ended %v into the call, want at the caller's deadline, %v", got, want)
		}
	})
}

// TestLastAttemptHasNoTimeout: without a retry layer every attempt is the
// last, so an answer slower than the attempt timeout still arrives.
func TestLastAttemptHasNoTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reg := memory.New()
		defer reg.Close()
		if err := reg.Register(ctx, discovery.Instance{ID: "a", Service: "svc", Addr: "127.0.0.1:1"}); err != nil {
			t.Fatal(err)
		}
		factory := func(discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
			return func(ctx context.Context, _ any) (any, error) {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(3 * time.Second):
					return "ok", nil
				}
			}, nil, nil
		}
		ce, err := client.New(ctx, reg, "svc", factory, client.Config{
			Tracing:    client.Tracing{Off: true},
			Idempotent: true,
			Retry:      client.Retry{Off: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer ce.Close()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := ce.Call(cctx, nil); err != nil {
			t.Fatalf("a 3 s answer under a 1 s attempt timeout and a 10 s deadline: %v", err)
		}
	})
}

// TestAttemptTimeoutGrowsWhenEveryReplicaSlowsDown: two replicas answer in
// 5 ms until the timeout is learnt (the 250 ms floor), then both answer in
// twice that. Every call still succeeds — its last attempt waits for the
// answer — and the timeouts of the others are learnt as latencies, so the
// timeout grows past the new latency and calls are answered at the first
// attempt again, with no breaker opened and no replica ejected.
func TestAttemptTimeoutGrowsWhenEveryReplicaSlowsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		reg := memory.New()
		defer reg.Close()
		for i, id := range []string{"a", "b"} {
			if err := reg.Register(ctx, discovery.Instance{ID: id, Service: "svc", Addr: "127.0.0.1:" + strconv.Itoa(i+1)}); err != nil {
				t.Fatal(err)
			}
		}
		var (
			latency  atomic.Int64
			timeout  atomic.Int64 // the last timeout an attempt was given
			attempts atomic.Int64
		)
		latency.Store(int64(5 * time.Millisecond))
		factory := func(discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
			return func(ctx context.Context, _ any) (any, error) {
				attempts.Add(1)
				if dl, ok := ctx.Deadline(); ok && !retry.FinalAttempt(ctx) {
					timeout.Store(int64(time.Until(dl)))
				}
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(time.Duration(latency.Load())):
					return "ok", nil
				}
			}, nil, nil
		}
		var trips atomic.Int64
		ce, err := client.New(ctx, reg, "svc", factory, client.Config{
			Tracing:    client.Tracing{Off: true},
			Idempotent: true,
			Breakers:   client.Breakers{Config: circuitbreaker.Config{Hooks: circuitbreaker.Hooks{OnStateChange: func(string, circuitbreaker.State, circuitbreaker.State) { trips.Add(1) }}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer ce.Close()
		call := func(i int) {
			t.Helper()
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if _, err := ce.Call(cctx, nil); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		for i := range 300 {
			call(i)
		}
		learnt := time.Duration(timeout.Load())
		if learnt != client.DefaultAttemptFloor {
			t.Fatalf("timeout %v after 5 ms answers, want the floor", learnt)
		}
		slow := 2 * learnt
		latency.Store(int64(slow))
		for i := range 100 {
			call(i)
		}
		if got := time.Duration(timeout.Load()); got <= slow {
			t.Fatalf("timeout %v after answers of %v, want it to have grown past them", got, slow)
		}
		before := attempts.Load()
		for i := range 10 {
			call(i)
		}
		if n := attempts.Load() - before; n != 10 {
			t.Fatalf("10 calls took %d attempts once the timeout had grown, want 10", n)
		}
		if n := trips.Load(); n != 0 {
			t.Fatalf("%d breaker state changes, want none", n)
		}
		hosts, _ := ce.Balancer().Hosts()
		for _, h := range hosts {
			if h.Ejected {
				t.Fatalf("replica %s ejected", h.Instance.ID)
			}
		}
	})
}

// TestAttemptContextEndsWithTheAttempt keeps an attempt's context past the
// attempt's end (as a goroutine left running by an endpoint would) and
// looks at it only then: it is done and canceled, never left running until
// its timeout; one looked at during the attempt is done after it too.
func TestAttemptContextEndsWithTheAttempt(t *testing.T) {
	for _, armDuring := range []bool{false, true} {
		t.Run(map[bool]string{false: "armed after the end", true: "armed during the attempt"}[armDuring], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				reg := memory.New()
				defer reg.Close()
				if err := reg.Register(ctx, discovery.Instance{ID: "a", Service: "svc", Addr: "127.0.0.1:1"}); err != nil {
					t.Fatal(err)
				}
				kept := make(chan context.Context, 1)
				factory := func(discovery.Instance) (endpoint.Endpoint, io.Closer, error) {
					return func(ctx context.Context, _ any) (any, error) {
						if armDuring {
							<-time.After(time.Millisecond)
							_ = ctx.Done()
						}
						kept <- ctx
						return "ok", nil
					}, nil, nil
				}
				ce, err := client.New(ctx, reg, "svc", factory, client.Config{Tracing: client.Tracing{Off: true}, Idempotent: true})
				if err != nil {
					t.Fatal(err)
				}
				defer ce.Close()
				if _, err := ce.Call(ctx, nil); err != nil {
					t.Fatal(err)
				}
				actx := <-kept
				select {
				case <-actx.Done():
				default:
					t.Fatal("the attempt's context is not done after the attempt")
				}
				if !errors.Is(actx.Err(), context.Canceled) {
					t.Fatalf("Err() = %v, want canceled", actx.Err())
				}
				if _, ok := actx.Deadline(); !ok {
					t.Fatal("the attempt's context has no deadline")
				}
			})
		})
	}
}
