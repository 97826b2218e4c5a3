package instance_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/instance"
	"github.com/switchyard/switchyard/middleware/deadline"
	shttp "github.com/switchyard/switchyard/transport/http"
)

func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	ch chan []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.ch <- bytes.Clone(p)
	return len(p), nil
}

func TestRun(t *testing.T) {
	reg := memory.New()
	defer reg.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		dl, ok := r.Context().Deadline()
		left := time.Until(dl)
		_ = shttp.EncodeJSONResponse(r.Context(), w, map[string]any{
			"id": r.PathValue("id"), "deadline": ok, "short": left < 2*time.Second,
		})
	})

	logs := &syncBuffer{ch: make(chan []byte, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() {
		served <- instance.Run(ctx, instance.Config{
			Service:    "things",
			Handler:    mux,
			Registrar:  reg,
			Resolver:   reg,
			Logger:     slog.New(slog.NewJSONHandler(logs, nil)),
			DrainDelay: -1,
			OnReady:    func(a net.Addr) { ready <- a },
		})
	}()
	var base string
	select {
	case a := <-ready:
		base = "http://" + a.String()
	case err := <-served:
		t.Fatalf("Run: %v", err)
	}

	if insts := reg.Instances("things"); len(insts) != 1 || "http://"+insts[0].Addr != base {
		t.Fatalf("registered %v, want one instance at %s", insts, base)
	}
	if code, body := get(t, base+"/v1/things/a1"); code != 200 || body != `{"deadline":true,"id":"a1","short":false}` {
		t.Errorf("API: %d %s", code, body)
	}
	// The deadline header from a caller replaces the default.
	if code, body := get(t, base+"/v1/things/a2", deadline.Header, "1500"); code != 200 || !strings.Contains(body, `"short":true`) {
		t.Errorf("API with a deadline header: %d %s", code, body)
	}
	if code, body := get(t, base+"/v1/nothing"); code != 404 || body != `{"error":{"code":"not_found","message":"Not Found"}}` {
		t.Errorf("unknown route: %d %s", code, body)
	}
	req, _ := http.NewRequest(http.MethodDelete, base+"/v1/things/a1", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Error(err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
			strings.TrimSpace(string(body)) != `{"error":{"code":"method_not_allowed","message":"Method Not Allowed"}}` {
			t.Errorf("wrong method: %d %v %s", resp.StatusCode, resp.Header, body)
		}
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz: %d %s", code, body)
	}
	code, metrics := get(t, base+"/metrics")
	if code != 200 || !strings.Contains(metrics, `operation="GET /v1/things/{id}"`) {
		t.Errorf("/metrics: %d; want requests named by their route pattern in:\n%s", code, metrics)
	}

	// An access-log line names the route.
	found := false
	for !found {
		select {
		case line := <-logs.ch:
			found = strings.Contains(string(line), `"route":"GET /v1/things/{id}"`)
		case <-time.After(5 * time.Second):
			t.Fatal("no access-log line with the route")
		}
	}

	cancel()
	go func() { // keep draining the log so the server never blocks on it
		for range logs.ch {
		}
	}()
	if err := <-served; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	close(logs.ch)
	if insts := reg.Instances("things"); len(insts) != 0 {
		t.Fatalf("still registered after the drain: %v", insts)
	}
}

func TestRunAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = instance.Run(context.Background(), instance.Config{
		Service: "gateway", Handler: http.NotFoundHandler(), Listen: ln.Addr().String(), ListenFlag: "addr",
	})
	if !errors.Is(err, instance.ErrServe) || !strings.Contains(err.Error(), "--addr") ||
		!strings.Contains(err.Error(), "ECOMMERCE_ADDR") {
		t.Fatalf("err = %v, want ErrServe naming --addr and ECOMMERCE_ADDR", err)
	}
}

func TestRunNeedsServiceAndHandler(t *testing.T) {
	if err := instance.Run(context.Background(), instance.Config{Service: "x"}); !errors.Is(err, instance.ErrServe) {
		t.Fatalf("err = %v", err)
	}
}
