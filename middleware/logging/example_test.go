package logging_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/switchyard/switchyard/middleware/logging"
)

// stable drops the fields that change from run to run, so the example's
// output can be checked, and redacts like logging.ReplaceAttr.
func stable(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == "duration") {
		return slog.Attr{}
	}
	return logging.ReplaceAttr(groups, a)
}

func ExampleLogger_Handler() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: stable}))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		// The request-scoped logger already knows the method and path.
		logging.FromContext(r.Context()).Info("cache miss", "id", r.PathValue("id"))
		w.Write([]byte(`{"id":"p1"}`))
	})
	lg, err := logging.New(logging.Config{Logger: logger, Headers: []string{"Authorization", "User-Agent"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	h := lg.Handler(mux)

	req := httptest.NewRequest(http.MethodGet, "/products/p1?fields=name&access_token=abc123", nil)
	req.Header.Set("Authorization", "Bearer abc123")
	req.Header.Set("User-Agent", "shop/1.0")
	h.ServeHTTP(httptest.NewRecorder(), req)
	// Output:
	// level=INFO msg="cache miss" method=GET path=/products/p1 id=p1
	// level=INFO msg="http request" method=GET route="GET /products/{id}" path=/products/p1 query="fields=name&access_token=REDACTED" status=200 bytes=11 remote_addr=192.0.2.1:1234 headers.Authorization=REDACTED headers.User-Agent=shop/1.0
}

func ExampleLogger_Endpoint() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: stable}))
	lg, err := logging.New(logging.Config{Logger: logger})
	if err != nil {
		fmt.Println(err)
		return
	}
	ep := lg.Operation("orders.create").Endpoint(func(ctx context.Context, req any) (any, error) {
		logging.FromContext(ctx).Debug("not shown: below the handler's level")
		return "created", nil
	})
	ep(context.Background(), map[string]string{"card": "4111 1111 1111 1111"})
	// Output:
	// level=INFO msg=call operation=orders.create outcome=success
}
