package tracing_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"go.opentelemetry.io/otel/trace"

	"github.com/go-kit/kit/endpoint"

	"github.com/switchyard/switchyard/middleware/tracing"
)

// A client span around a server span; the endpoint records a resilience
// decision on the span it runs in. The first middleware is the outermost.
func Example() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())

	// One Tracer per span kind; Operation names the spans.
	client, err := tracing.New(tracing.Config{TracerProvider: tp}) // Kind: client by default
	if err != nil {
		fmt.Println(err)
		return
	}
	server, err := tracing.New(tracing.Config{TracerProvider: tp, Kind: trace.SpanKindServer})
	if err != nil {
		fmt.Println(err)
		return
	}
	ep := endpoint.Chain(
		client.Operation("catalog.get").Endpoint,
		server.Operation("catalog.get.serve").Endpoint,
	)(func(ctx context.Context, req any) (any, error) {
		tracing.Event(ctx, "switchyard.ratelimit.shed", "over_limit")
		return nil, errors.New("no capacity")
	})
	_, err = ep(context.Background(), nil)
	fmt.Println("error:", err)

	names := map[[8]byte]string{}
	for _, s := range rec.Ended() {
		names[s.SpanContext().SpanID()] = s.Name()
	}
	for _, s := range rec.Ended() {
		parent := names[s.Parent().SpanID()]
		if parent == "" {
			parent = "-"
		}
		fmt.Printf("%s kind=%s parent=%s status=%s\n", s.Name(), s.SpanKind(), parent, s.Status().Code)
		for _, e := range s.Events() {
			if e.Name != "exception" {
				fmt.Printf("  event %s %s=%s\n", e.Name, e.Attributes[0].Key, e.Attributes[0].Value.AsString())
			}
		}
	}
	// Output:
	// error: no capacity
	// catalog.get.serve kind=server parent=catalog.get status=Error
	//   event switchyard.ratelimit.shed reason=over_limit
	// catalog.get kind=client parent=- status=Error
}

// Handler and Transport carry the trace across an HTTP hop. Without an
// operation name, the server span is named after the matched route.
func ExampleTracer_Transport() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	tr, err := tracing.New(tracing.Config{TracerProvider: tp})
	if err != nil {
		fmt.Println(err)
		return
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.PathValue("id"))
	})
	srv := httptest.NewServer(tr.Handler(mux))
	defer srv.Close()

	client := &http.Client{Transport: tr.Transport(nil)}
	resp, err := client.Get(srv.URL + "/products/7")
	if err != nil {
		fmt.Println(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	spans := rec.Ended()
	server, clientSpan := spans[0], spans[1]
	fmt.Println(clientSpan.Name(), clientSpan.SpanKind())
	fmt.Println(server.Name(), server.SpanKind())
	fmt.Println("same trace:", server.SpanContext().TraceID() == clientSpan.SpanContext().TraceID())
	fmt.Println("server is child of client:", server.Parent().SpanID() == clientSpan.SpanContext().SpanID())
	// Output:
	// GET client
	// GET /products/{id} server
	// same trace: true
	// server is child of client: true
}

// An invalid configuration is an error from New, never a panic later.
func ExampleNew() {
	_, err := tracing.New(tracing.Config{Kind: trace.SpanKind(42)})
	fmt.Println(errors.Is(err, tracing.ErrConfig))
	// Output:
	// true
}
