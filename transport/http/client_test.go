package http_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/outcome"
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

func TestFactory(t *testing.T) {
	b := newBackend(t, itemHandler())
	inst := b.instance("items")
	f := shttp.NewFactory(http.MethodGet, "/items/", encodeItemPath,
		shttp.DecodeJSONResponse[item], shttp.WithHTTPClient(newTestClient(t)))
	ep, closer, err := f(inst)
	if err != nil || closer != nil {
		t.Fatalf("factory: %v %v", closer, err)
	}
	ctx := context.Background()

	resp, err := ep(ctx, "7")
	if err != nil || resp.(item) != (item{ID: "7", Name: "item 7"}) {
		t.Fatalf("got %v, %v", resp, err)
	}

	_, err = ep(ctx, "missing")
	var re *shttp.ResponseError
	if !errors.As(err, &re) || re.Status != 404 || re.Code != "not_found" || re.Message != "no item missing" {
		t.Fatalf("404: %#v", err)
	}
	if outcome.Default(ctx, err) != outcome.CallerFault {
		t.Error("a 404 is the caller's fault")
	}
	if !strings.Contains(re.Error(), "GET http://"+b.addr+"/items/missing") {
		t.Errorf("error text %q", re.Error())
	}

	_, err = ep(ctx, "boom")
	if !errors.As(err, &re) || re.Status != 500 || re.Message != "internal server error" {
		t.Fatalf("500: %#v", err)
	}
	if outcome.Default(ctx, err) != outcome.ServerFailure {
		t.Error("a 500 is a server failure")
	}

	// A path with a query keeps it.
	sf := shttp.NewFactory(http.MethodGet, "/search?q=red+shoes", shttp.EncodeJSONRequest,
		shttp.DecodeJSONResponse[item], shttp.WithHTTPClient(newTestClient(t)))
	sep, _, _ := sf(inst)
	if resp, err := sep(ctx, nil); err != nil || resp.(item).Query != "red shoes" {
		t.Fatalf("query: %v %v", resp, err)
	}

	// Errors, successes and error bodies alike leave the connection
	// reusable: a hundred sequential calls use one connection.
	before := b.conns.Load()
	for i := range 100 {
		id := []string{"1", "missing", "boom"}[i%3]
		_, _ = ep(ctx, id)
	}
	if n := b.conns.Load() - before; n > 1 {
		t.Errorf("100 sequential calls opened %d connections, want ≤ 1", n)
	}

	// A decoder that stops reading before the end of the body does not
	// cost a connection either: the factory drains what is left.
	lazy := shttp.NewFactory(http.MethodGet, "/items/", encodeItemPath,
		func(_ context.Context, resp *http.Response) (any, error) {
			_, err := io.ReadFull(resp.Body, make([]byte, 1))
			return nil, err
		}, shttp.WithHTTPClient(newTestClient(t)))
	lep, _, _ := lazy(inst)
	before = b.conns.Load()
	for range 50 {
		if _, err := lep(ctx, "1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.conns.Load() - before; n > 1 {
		t.Errorf("50 calls with a lazy decoder opened %d connections, want 1", n)
	}

	// A dead instance is a server failure.
	b.close()
	_, err = ep(ctx, "1")
	if err == nil || outcome.Default(ctx, err) != outcome.ServerFailure {
		t.Fatalf("dead instance: %v", err)
	}
}

func TestEncodeJSONRequestIsReplayable(t *testing.T) {
	r, _ := http.NewRequest(http.MethodPost, "http://x/", nil)
	if err := shttp.EncodeJSONRequest(context.Background(), r, item{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	want := `{"id":"1","name":""}`
	if r.ContentLength != int64(len(want)) || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("length %d, type %q", r.ContentLength, r.Header.Get("Content-Type"))
	}
	for range 2 {
		body, _ := r.GetBody()
		data, _ := io.ReadAll(body)
		if string(data) != want {
			t.Fatalf("body %q", data)
		}
	}
}

func TestCheckResponseForeignBody(t *testing.T) {
	// A server that is not ours: plain text error.
	b := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream exploded", http.StatusBadGateway)
	}))
	resp, err := newTestClient(t).Get("http://" + b.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	err = shttp.CheckResponse(resp)
	var re *shttp.ResponseError
	if !errors.As(err, &re) || re.Status != 502 || re.Code != "bad_gateway" || re.Message != "" {
		t.Fatalf("%#v", err)
	}
}
