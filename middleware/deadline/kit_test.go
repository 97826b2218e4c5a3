package deadline_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"
	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/switchyard/switchyard/middleware/deadline"
)

// kitServer is a go-kit server whose endpoint reports what time it had
// left; ServerBefore reads the header and Middleware enforces it.
func kitServer(t *testing.T, left chan<- time.Duration) string {
	ep := func(ctx context.Context, _ any) (any, error) {
		dl, ok := ctx.Deadline()
		if ok {
			left <- time.Until(dl)
		} else {
			left <- -1
		}
		return map[string]string{"status": "ok"}, nil
	}
	srv, _ := serve(t, kithttp.NewServer(
		mustDeadline(deadline.Config{}).Endpoint(ep),
		func(context.Context, *http.Request) (any, error) { return nil, nil },
		kithttp.EncodeJSONResponse,
		kithttp.ServerBefore(mustDeadline(deadline.Config{}).ServerBefore),
	))
	return srv.URL
}

func TestGoKitServer(t *testing.T) {
	left := make(chan time.Duration, 4)
	url := kitServer(t, left)
	_, c := serve(t, http.NotFoundHandler())
	for _, tc := range []struct {
		header string
		code   int
		ec     string
	}{
		{"abc", 400, "bad_deadline"},
		{"0", 504, "deadline_exceeded"},
		{"500", 200, ""},
		{"", 200, ""},
	} {
		var values []string
		if tc.header != "" {
			values = []string{tc.header}
		}
		if code, ec := send(t, c, url, values...); code != tc.code || ec != tc.ec {
			t.Errorf("header %q: got %d %q, want %d %q", tc.header, code, ec, tc.code, tc.ec)
		}
	}
	if l := <-left; l <= 400*time.Millisecond || l > 500*time.Millisecond {
		t.Fatalf("endpoint had %v left of a 500 ms header", l)
	}
	if l := <-left; l != -1 {
		t.Fatalf("endpoint had a deadline (%v) without a header", l)
	}
	if len(left) != 0 {
		t.Fatal("endpoint called for a refused request")
	}
}

func TestGoKitClient(t *testing.T) {
	left := make(chan time.Duration, 1)
	u, _ := url.Parse(kitServer(t, left))
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := kithttp.NewClient(http.MethodGet, u,
		kithttp.EncodeJSONRequest,
		func(context.Context, *http.Response) (any, error) { return nil, nil },
		kithttp.SetClient(&http.Client{Transport: tr}),
		kithttp.ClientBefore(mustDeadline(deadline.Config{}).ClientBefore),
	)
	var ep endpoint.Endpoint = mustDeadline(deadline.Config{}).Endpoint(client.Endpoint())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := ep(ctx, struct{}{}); err != nil {
		t.Fatal(err)
	}
	if l := <-left; l <= 0 || l > 300*time.Millisecond {
		t.Fatalf("server had %v left of the client's 300 ms", l)
	}
}
