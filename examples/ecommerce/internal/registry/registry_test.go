package registry_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery/etcd/embedded"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/call"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/instance"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/registry"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/settings"
	shttp "github.com/switchyard/switchyard/transport/http"
)

func TestConnectBadURL(t *testing.T) {
	if _, err := registry.Connect(context.Background(), "127.0.0.1:2379"); !errors.Is(err, settings.ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
}

// A service served with instance.Run on the real registry is found by a Client.
func TestRunOnEtcd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := embedded.Start(ctx, t.TempDir(), "127.0.0.1:0", embedded.Config{UnsafeNoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	reg, err := registry.Connect(ctx, "etcd://"+srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, r *http.Request) {
		_ = shttp.EncodeJSONResponse(r.Context(), w, map[string]string{"pong": "yes"})
	})
	sctx, stop := context.WithCancel(ctx)
	ready := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() {
		served <- instance.Run(sctx, instance.Config{
			Service: "ping", Handler: mux, Registrar: reg.Registrar, Resolver: reg.Resolver,
			DrainDelay: -1, OnReady: func(a net.Addr) { ready <- a }, Logger: slog.New(slog.DiscardHandler),
		})
	}()
	select {
	case <-ready:
	case err := <-served:
		t.Fatal(err)
	}

	c, err := call.New(ctx, reg.Resolver, "ping", http.MethodGet, "/v1/ping", client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := call.JSON[map[string]string](ctx, c, call.Request{})
	if err != nil || got["pong"] != "yes" {
		t.Fatalf("call: %v, %v", got, err)
	}
	stop()
	if err := <-served; err != nil {
		t.Fatalf("instance.Run: %v", err)
	}
}
