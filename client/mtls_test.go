package client_test

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/balancer"
	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/identity"
	"github.com/switchyard/switchyard/mtls"
	"github.com/switchyard/switchyard/mtls/mtlstest"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// mtlsWorkload returns an mtls.Source holding a certificate of ca for the
// service named service of shop.internal.
func mtlsWorkload(t *testing.T, ca *mtlstest.CA, service string) *mtls.Source {
	t.Helper()
	id, err := identity.ForService("shop.internal", service)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file, bundle := filepath.Join(dir, "tls.pem"), filepath.Join(dir, "ca.pem")
	ca.Issue(id).Write(file, file)
	mtlstest.WriteFile(bundle, ca.PEM)
	src, err := mtls.New(mtls.Config{CertFile: file, KeyFile: file, CAFile: bundle})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// mtlsBackend serves GET /items/{id} over TLS on src's server config on
// 127.0.0.1, answering with the caller's ID as the item's name, and
// counts the requests that reached it.
type mtlsBackend struct {
	addr string
	hits atomic.Int64
}

func newMTLSBackend(t *testing.T, src *mtls.Source) *mtlsBackend {
	t.Helper()
	b := &mtlsBackend{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		caller, _ := identity.FromRequest(r)
		shttp.EncodeJSONResponse(r.Context(), w, item{ID: r.PathValue("id"), Name: caller.String()})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	srv := &http.Server{Handler: mux, TLSConfig: src.ServerConfig(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeTLS(ln, "", "")
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return b
}

// TestMTLSImpostorIsRefusedAndEjected: two instances are registered as
// users, one holding catalog's certificate. A client chain whose transport
// expects users' ID refuses the impostor at every handshake — it serves
// no request — retries each call on the real users, and ejects the
// impostor: the handshake refusal counts as the instance's failure.
func TestMTLSImpostorIsRefusedAndEjected(t *testing.T) {
	ca := mtlstest.NewCA("shop CA")
	real := newMTLSBackend(t, mtlsWorkload(t, ca, "users"))
	impostor := newMTLSBackend(t, mtlsWorkload(t, ca, "catalog"))
	orders := mtlsWorkload(t, ca, "orders")
	reg := memory.New()
	defer reg.Close()
	ctx := context.Background()
	for _, inst := range []discovery.Instance{
		{ID: "a-impostor", Service: "users", Addr: impostor.addr},
		{ID: "b-users", Service: "users", Addr: real.addr},
	} {
		if err := reg.Register(ctx, inst); err != nil {
			t.Fatal(err)
		}
	}

	usersID, err := orders.ServiceID("users")
	if err != nil {
		t.Fatal(err)
	}
	tr := shttp.NewTransport()
	tr.TLSClientConfig = orders.ClientConfig(usersID)
	t.Cleanup(tr.CloseIdleConnections)
	var (
		mu      sync.Mutex // guards ejected
		ejected []string
	)
	ep, err := client.New(ctx, reg, "users",
		shttp.NewFactory(http.MethodGet, "/items/{id}", encodeItemPath, shttp.DecodeJSONResponse[item],
			shttp.WithHTTPClient(&http.Client{Transport: tr}), shttp.WithScheme("https")),
		client.Config{
			Idempotent: true,
			Policy:     roundrobin.New(), // P2C would stop picking the impostor before it is ejected
			Tracing:    client.Tracing{Off: true},
			Outlier: balancer.OutlierConfig{ConsecutiveFailures: 3, OnEject: func(inst discovery.Instance, _ string, _ time.Duration) {
				mu.Lock()
				ejected = append(ejected, inst.ID)
				mu.Unlock()
			}},
		})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := ep.WaitHosts(wctx); err != nil {
		t.Fatal(err)
	}

	const calls = 30
	for i := range calls {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := ep.Call(cctx, "7")
		cancel()
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if it := resp.(item); it.ID != "7" || it.Name != "spiffe://shop.internal/orders" {
			t.Fatalf("call %d answered %+v", i, it)
		}
	}
	if n := impostor.hits.Load(); n != 0 {
		t.Fatalf("the impostor served %d requests", n)
	}
	if n := real.hits.Load(); n != calls {
		t.Fatalf("the real users served %d requests, want %d", n, calls)
	}
	hosts, _ := ep.Balancer().Hosts()
	for _, h := range hosts {
		if h.Instance.ID == "a-impostor" && !h.Ejected {
			t.Fatal("the impostor is not ejected")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ejected) != 1 || ejected[0] != "a-impostor" {
		t.Fatalf("OnEject calls: %v", ejected)
	}
}
