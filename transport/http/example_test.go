package http_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	shttp "github.com/switchyard/switchyard/transport/http"
)

// signupRequest holds only what a caller may set: a "role" in the body
// has nowhere to go.
type signupRequest struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

type user struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Role  string `json:"role"`
}

// created makes EncodeJSONResponse answer 201.
func (user) StatusCode() int { return http.StatusCreated }

func signup(_ context.Context, req any) (any, error) {
	r := req.(signupRequest)
	switch {
	case r.Email == "":
		return nil, shttp.BadRequest("email is required")
	case r.Email == "taken@example.com":
		return nil, &shttp.Error{Status: http.StatusConflict, Code: "email_taken", Message: "email already registered"}
	}
	return user{ID: "u1", Email: r.Email, Role: "customer"}, nil
}

// A go-kit endpoint served with the package's decoder, encoder and error
// body, on a server with timeouts and a body limit.
func ExampleNewServer() {
	mux := http.NewServeMux()
	mux.Handle("POST /users", shttp.NewHandler(signup,
		shttp.DecodeJSONRequest[signupRequest], shttp.EncodeJSONResponse))
	srv := shttp.NewServer(mux) // ReadHeaderTimeout, IdleTimeout, MaxHeaderBytes, 1 MiB bodies

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()

	post := func(body string) {
		resp, err := http.Post("http://"+ln.Addr().String()+"/users", "application/json", strings.NewReader(body))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		fmt.Print(resp.StatusCode, " ", string(out))
	}
	post(`{"email":"ann@example.com","name":"Ann","role":"admin"}`) // role ignored
	post(`{"email":"taken@example.com"}`)
	post(`{"name":"no email"}`)
	post(`{"email":`)
	// Output:
	// 201 {"id":"u1","email":"ann@example.com","role":"customer"}
	// 409 {"error":{"code":"email_taken","message":"email already registered"}}
	// 400 {"error":{"code":"bad_request","message":"email is required"}}
	// 400 {"error":{"code":"malformed_json","message":"truncated JSON"}}
}

// Readiness follows the process's state and its checks; liveness stays
// up while draining.
func ExampleHealth() {
	h := shttp.NewHealth()
	h.AddCheck("db", func(context.Context) error { return nil })
	mux := http.NewServeMux()
	h.Mount(mux)
	srv := shttp.NewServer(mux)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()

	show := func(path string) {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Print(path, " ", resp.StatusCode, " ", string(body))
	}
	show("/readyz")
	h.SetState(shttp.Draining)
	show("/readyz")
	show("/healthz")
	// Output:
	// /readyz 200 {"status":"ready","checks":[{"name":"db","ok":true}]}
	// /readyz 503 {"status":"draining","checks":[{"name":"db","ok":true}]}
	// /healthz 200 {"status":"ok"}
}

// Errors choose what the caller sees; anything else is a 500 that reveals
// nothing.
func ExampleErrorFor() {
	for _, err := range []error{
		shttp.NotFound("no such order"),
		fmt.Errorf("orders: %w", shttp.Conflict("out of stock")),
		fmt.Errorf("orders: insert: %w", io.ErrUnexpectedEOF),
		context.DeadlineExceeded,
	} {
		e := shttp.ErrorFor(err)
		body, _ := e.MarshalJSON()
		fmt.Println(e.StatusCode(), string(body))
	}
	// Output:
	// 404 {"error":{"code":"not_found","message":"no such order"}}
	// 409 {"error":{"code":"conflict","message":"out of stock"}}
	// 500 {"error":{"code":"internal_server_error","message":"internal server error"}}
	// 504 {"error":{"code":"deadline_exceeded","message":"deadline exceeded"}}
}
