package client_test

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/middleware/circuitbreaker"
	"github.com/switchyard/switchyard/middleware/retry"
	"github.com/switchyard/switchyard/outcome"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// brokenUpload is a request body that fails halfway, like the body of a
// caller's request streamed on to an instance.
type brokenUpload struct{ sent bool }

func (b *brokenUpload) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, `{"email":`), nil
	}
	return 0, io.ErrUnexpectedEOF
}

func (*brokenUpload) Close() error { return nil }

// TestBodyErrorIsTheCallers sends idempotent calls whose
// request body fails halfway through the whole client chain: each fails
// with an error classified Aborted, is not retried, and counts against no
// instance (no failure for outlier detection, none for its breaker).
func TestBodyErrorIsTheCallers(t *testing.T) {
	b := newBackend(t, itemHandler())
	reg := memory.New()
	defer reg.Close()
	ctx := context.Background()
	if err := reg.Register(ctx, b.instance("items")); err != nil {
		t.Fatal(err)
	}
	enc := func(_ context.Context, r *http.Request, _ any) error {
		r.Body, r.ContentLength = &brokenUpload{}, -1
		return nil
	}
	var attempts atomic.Int64
	ce, err := client.New(ctx, reg, "items", shttp.NewFactory(http.MethodPut, "/items/1", enc, shttp.DecodeJSONResponse[item], shttp.WithHTTPClient(newTestClient(t))), client.Config{
		Idempotent: true,
		Tracing:    client.Tracing{Off: true},
		Breakers:   client.Breakers{Config: circuitbreaker.Config{ConsecutiveFailures: 1}},
		Retry:      client.Retry{Config: retry.Config{Hooks: retry.Hooks{OnRetry: func(int, error) { attempts.Add(1) }}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ce.Close()
	for range 5 {
		_, err := ce.Call(ctx, nil)
		if c := outcome.Default(ctx, err); c != outcome.Aborted {
			t.Fatalf("call error %v classified %v, want aborted", err, c)
		}
	}
	if n := attempts.Load(); n != 0 {
		t.Fatalf("%d retries of a broken body", n)
	}
	hosts, _ := ce.Balancer().Hosts()
	for _, h := range hosts {
		if h.Failures != 0 || h.ConsecutiveFailures != 0 || h.Ejected {
			t.Fatalf("the instance was blamed: %+v", h)
		}
	}
	for _, ks := range ce.Breakers().States() {
		if br := ce.Breakers().Get(ks.Key); br.State() != circuitbreaker.Closed || br.Counts().Failures != 0 {
			t.Fatalf("breaker %s %v with counts %+v", ks.Key, br.State(), br.Counts())
		}
	}
}
