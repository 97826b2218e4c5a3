package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/switchyard/switchyard/discovery"
	shttp "github.com/switchyard/switchyard/transport/http"
)

type item struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Query string `json:"query,omitempty"`
}

// backend is a real HTTP server on 127.0.0.1:0 built with NewServer.
type backend struct {
	srv   *http.Server
	addr  string
	hits  atomic.Int64
	conns atomic.Int64 // connections accepted
	done  chan struct{}
}

func newBackend(t *testing.T, h http.Handler) *backend {
	t.Helper()
	b := &backend{done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	b.srv = shttp.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	b.srv.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.conns.Add(1)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	go func() {
		defer close(b.done)
		_ = b.srv.Serve(ln)
	}()
	t.Cleanup(b.close)
	return b
}

// close kills the server abruptly: listener and every connection closed.
func (b *backend) close() {
	_ = b.srv.Close()
	<-b.done
}

func (b *backend) instance(service string) discovery.Instance {
	return discovery.Instance{ID: service + "@" + b.addr, Service: service, Addr: b.addr}
}

// newTestClient returns an HTTP client on a transport of its own, whose
// idle connections are closed when the test ends.
func newTestClient(t *testing.T) *http.Client {
	tr := shttp.NewTransport()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func itemHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /items/{id}", shttp.NewHandler(
		func(_ context.Context, req any) (any, error) {
			id := req.(string)
			switch id {
			case "missing":
				return nil, shttp.NotFound("no item " + id)
			case "boom":
				return nil, errors.New("database exploded")
			}
			return item{ID: id, Name: "item " + id}, nil
		},
		func(_ context.Context, r *http.Request) (any, error) { return r.PathValue("id"), nil },
		shttp.EncodeJSONResponse,
	))
	mux.HandleFunc("GET /search", func(w http.ResponseWriter, r *http.Request) {
		_ = shttp.EncodeJSONResponse(r.Context(), w, item{Query: r.URL.Query().Get("q")})
	})
	return mux
}

// encodeItemPath puts the request (an ID) into the path, the way a client
// with path parameters does.
func encodeItemPath(_ context.Context, r *http.Request, req any) error {
	r.URL.Path = "/items/" + req.(string)
	return nil
}
