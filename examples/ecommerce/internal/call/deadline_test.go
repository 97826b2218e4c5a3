package call_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/call"
	"github.com/switchyard/switchyard/middleware/deadline"
)

// A call through a Client sends exactly one deadline header,
// within the caller's budget: the chain's deadline layer is the only one.
func TestClientSendsOneDeadlineHeader(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	got := make(chan []string, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Values(deadline.Header)
		w.Write([]byte("{}"))
	})
	startService(t, reg, "things", mux)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	c, err := call.New(ctx, reg, "things", http.MethodGet, "/v1/things/x", client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Call(ctx, call.Request{}); err != nil {
		t.Fatal(err)
	}
	vs := <-got
	if len(vs) != 1 {
		t.Fatalf("deadline headers %q, want exactly one", vs)
	}
	d, err := deadline.ParseHeader(vs[0])
	if err != nil || d <= 0 || d > 4*time.Second {
		t.Fatalf("deadline header %q (%v), want a budget within the caller's 4 s", vs[0], err)
	}
}
