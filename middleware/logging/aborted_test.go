package logging_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/internal/brokenreq"
	"github.com/switchyard/switchyard/middleware/logging"
)

// TestHandlerLogsRequestsTheClientBrokeAsAborted sends requests with
// broken framing, truncated, oversized and abandoned bodies over raw
// sockets to a handler that answers 500 when it cannot read its body. Each
// is logged at Warn with aborted=true — a hang-up's line is the only trace
// it leaves — and none at Error; the well-formed request at Info.
func TestHandlerLogsRequestsTheClientBrokeAsAborted(t *testing.T) {
	for _, c := range brokenreq.Cases("/login") {
		t.Run(c.Name, func(t *testing.T) {
			buf := &syncBuffer{}
			addr, wait := brokenreq.Serve(t, newLogger(t, logging.Config{Logger: slog.New(slog.NewJSONHandler(buf, nil))}).Handler(brokenreq.Naive))
			for range 3 {
				brokenreq.Send(t, addr, c)
			}
			if status := brokenreq.Good(t, addr, "/login"); status != http.StatusOK {
				t.Fatalf("a well-formed request answered %d", status)
			}
			wait(4)
			levels := map[string]int{}
			for line := range strings.Lines(buf.String()) {
				var rec struct {
					Level   string `json:"level"`
					Aborted bool   `json:"aborted"`
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				if rec.Aborted != (rec.Level == "WARN") {
					t.Fatalf("line %q: aborted and level disagree", line)
				}
				levels[rec.Level]++
			}
			if levels["WARN"] != 3 || levels["INFO"] != 1 || levels["ERROR"] != 0 {
				t.Fatalf("levels %v, want 3 WARN (aborted) and 1 INFO:\n%s", levels, buf)
			}
		})
	}
}
