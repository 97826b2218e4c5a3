package fault_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/middleware/fault"
)

// Abort every call to an endpoint with 503, as a game day might.
func ExampleInjector_Endpoint() {
	inj, err := fault.New(fault.Config{AbortPercent: 100})
	if err != nil {
		panic(err)
	}
	_, err = inj.Endpoint(endpoint.Nop)(context.Background(), nil)
	fmt.Println(err)
	// Output:
	// status 503 Service Unavailable: fault: injected abort
}

// With Headers on, a test can ask one request to fail.
func ExampleInjector_Handler() {
	inj, err := fault.New(fault.Config{Headers: true})
	if err != nil {
		panic(err)
	}
	h := inj.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	}))

	req := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	fmt.Print(w.Code, " ", w.Body.String())

	req.Header.Set("X-Switchyard-Fault-Abort", "429")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	fmt.Print(w.Code, " ", w.Body.String())
	// Output:
	// 200 hello
	// 429 {"error":{"code":"fault_injected","message":"fault injection aborted the request with status 429"}}
}
