package deadline_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/switchyard/switchyard/middleware/deadline"
)

func ExampleParseHeader() {
	for _, v := range []string{"250", "0", "-5", "007"} {
		d, err := deadline.ParseHeader(v)
		fmt.Printf("%q: %v %v\n", v, d, err)
	}
	// Output:
	// "250": 250ms <nil>
	// "0": 0s <nil>
	// "-5": 0s deadline: X-Switchyard-Deadline-Ms must be a whole number of milliseconds
	// "007": 0s deadline: X-Switchyard-Deadline-Ms has a leading zero
}

// A request that arrives with no time left is answered 504 at once; the
// handler is not called.
func ExampleDeadline_Handler() {
	d, err := deadline.New(deadline.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(d.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("handler called")
	})))
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set(deadline.Header, "0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	fmt.Print(resp.StatusCode, " ", string(body))
	// Output:
	// 504 {"error":{"code":"deadline_exceeded","message":"deadline exceeded on arrival"}}
}

// The client transport writes what the context has left, less the hop
// allowance, rounded down to the millisecond.
func ExampleDeadline_Transport() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get(deadline.Header))
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	d, err := deadline.New(deadline.Config{HopAllowance: 100 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	client := &http.Client{Transport: d.Transport(tr)}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ms int
	fmt.Sscan(string(body), &ms)
	fmt.Println("upstream was given less than 1.9 s:", ms < 1900 && ms > 1000)
	// Output:
	// upstream was given less than 1.9 s: true
}

// An invalid Config is an error from New, never a panic later.
func ExampleNew() {
	_, err := deadline.New(deadline.Config{MinBudget: -time.Second})
	fmt.Println(errors.Is(err, deadline.ErrConfig))
	// Output:
	// true
}
