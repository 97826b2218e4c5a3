package client_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/switchyard/switchyard/balancer/roundrobin"
	"github.com/switchyard/switchyard/client"
	"github.com/switchyard/switchyard/discovery"
	"github.com/switchyard/switchyard/discovery/memory"
	shttp "github.com/switchyard/switchyard/transport/http"
)

// A client chain for one operation of a service: instances come from the
// registry, calls go through tracing, retries, the balancer and
// per-instance breakers, and a dependency's error comes back with its
// status.
func ExampleNew() {
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()
	for _, name := range []string{"a", "b"} {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
			if r.PathValue("id") != "u1" {
				shttp.WriteError(w, r, shttp.NotFound("no such user"))
				return
			}
			_ = shttp.EncodeJSONResponse(r.Context(), w, map[string]string{"id": "u1", "served_by": name})
		})
		srv := shttp.NewServer(mux)
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		go srv.Serve(ln)
		defer srv.Close()
		reg.Register(ctx, discovery.Instance{ID: "users-" + name, Service: "users", Addr: ln.Addr().String()})
	}

	getUser := shttp.NewFactory(http.MethodGet, "/users/",
		func(_ context.Context, r *http.Request, req any) error {
			r.URL.Path += req.(string) // the path parameter
			return nil
		},
		shttp.DecodeJSONResponse[map[string]string])
	users, err := client.New(ctx, reg, "users", getUser, client.Config{
		Idempotent: true,             // a GET: every call may be retried
		Policy:     roundrobin.New(), // nil: peak-EWMA P2C
		Timeout:    2 * time.Second,  // for calls whose context has no deadline
		Tracing:    client.Tracing{Off: true},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer users.Close()

	var servedBy []string
	for range 2 {
		resp, _ := users.Call(ctx, "u1")
		servedBy = append(servedBy, resp.(map[string]string)["served_by"])
	}
	slices.Sort(servedBy)
	fmt.Println(servedBy)
	_, err = users.Call(ctx, "u2")
	fmt.Println(shttp.StatusOf(err), err.(*shttp.ResponseError).Code)
	// Output:
	// [a b]
	// 502 not_found
}
