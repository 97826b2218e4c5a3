package authn_test

import (
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// startService serves h on 127.0.0.1:0 and registers it as service in reg.
func startService(t *testing.T, reg *memory.Registry, service string, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := shttp.NewServer(h)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	inst := discovery.Instance{ID: service + "-" + ln.Addr().String(), Service: service, Addr: ln.Addr().String()}
	if err := reg.Register(context.Background(), inst); err != nil {
		t.Fatal(err)
	}
	return ln.Addr().String()
}
