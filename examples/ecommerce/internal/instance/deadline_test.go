package instance_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/switchyard/switchyard/discovery/memory"
	"github.com/switchyard/switchyard/examples/ecommerce/internal/instance"
	"github.com/switchyard/switchyard/middleware/deadline"
)

// A request served by Run meets one deadline layer, inside the access
// log: the handler runs with the header's budget (capped at the default),
// and the deadline layer's own answers — 400 for a malformed header, 504
// for a request that arrives with no time left — are logged like any other
// answer. A second deadline layer in front of the log (shttp.NewServer's)
// would answer those before the log saw them.
func TestRunHasOneDeadlineLayer(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	const def = 3 * time.Second
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/left", func(w http.ResponseWriter, r *http.Request) {
		dl, ok := r.Context().Deadline()
		if !ok {
			http.Error(w, "no deadline", 500)
			return
		}
		w.Write([]byte(strconv.FormatInt(time.Until(dl).Milliseconds(), 10)))
	})
	logs := &syncBuffer{ch: make(chan []byte, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() {
		served <- instance.Run(ctx, instance.Config{
			Service: "things", Handler: mux, Registrar: reg, Resolver: reg,
			Logger:          slog.New(slog.NewJSONHandler(logs, nil)),
			DefaultDeadline: def, DrainDelay: -1,
			OnReady: func(a net.Addr) { ready <- a },
		})
	}()
	defer func() {
		cancel()
		go func() {
			for range logs.ch {
			}
		}()
		<-served
		close(logs.ch)
	}()
	var base string
	select {
	case a := <-ready:
		base = "http://" + a.String()
	case err := <-served:
		t.Fatalf("Run: %v", err)
	}

	for _, tt := range []struct {
		header   string // "" sends none
		min, max time.Duration
	}{
		{"", def - time.Second, def},
		{"1500", 500 * time.Millisecond, 1500 * time.Millisecond},
		{"60000", def - time.Second, def}, // capped
	} {
		var h []string
		if tt.header != "" {
			h = []string{deadline.Header, tt.header}
		}
		code, body := get(t, base+"/v1/left", h...)
		ms, err := strconv.Atoi(body)
		if left := time.Duration(ms) * time.Millisecond; code != 200 || err != nil || left < tt.min || left > tt.max {
			t.Errorf("header %q: %d %q; want 200 and a budget in [%v, %v]", tt.header, code, body, tt.min, tt.max)
		}
	}

	wantLogged := map[string]int{"bogus": 400, "0": 504}
	for header, status := range wantLogged {
		if code, _ := get(t, base+"/v1/left?h="+header, deadline.Header, header); code != status {
			t.Errorf("header %q answered %d, want %d", header, code, status)
		}
	}
	timeout := time.After(5 * time.Second)
	for len(wantLogged) > 0 {
		select {
		case line := <-logs.ch:
			var rec struct {
				Path   string `json:"path"`
				Status int    `json:"status"`
			}
			if json.Unmarshal(line, &rec) != nil || rec.Path != "/v1/left" {
				continue
			}
			for h, s := range wantLogged {
				if rec.Status == s {
					delete(wantLogged, h)
				}
			}
		case <-timeout:
			t.Fatalf("no access-log line for the deadline layer's answers %v", wantLogged)
		}
	}
}
