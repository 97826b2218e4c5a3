package gateway

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Error codes of the JSON error bodies the gateway writes itself.
const (
	CodeNotFound         = "not_found"
	CodeBadPath          = "bad_path"
	CodeBodyTooLarge     = "body_too_large"
	CodeBadBody          = "bad_body"
	CodeClientClosed     = "client_closed_request"
	CodeUpstreamFailed   = "upstream_failed"
	CodeNoUpstream       = "no_healthy_upstream"
	CodeDeadline         = "deadline_exceeded"
	CodeMethodNotAllowed = "method_not_allowed"
)

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError writes the gateway's JSON error body. Messages are fixed
// strings: upstream errors are logged, never echoed to the client.
func writeError(w http.ResponseWriter, status int, code, message string) {
	var body errorBody
	body.Error.Code = code
	body.Error.Message = message
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// writeOverloaded answers 503 with a Retry-After of after, in whole
// seconds rounded up and at least one: the service exists but cannot take
// the request now, and the client may try again then.
func writeOverloaded(w http.ResponseWriter, after time.Duration, code, message string) {
	secs := max(int64(math.Ceil(after.Seconds())), 1)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	writeError(w, http.StatusServiceUnavailable, code, message)
}

// StatusClientClosed is the status the gateway records for a request whose
// client hung up before it could be answered (nginx's 499). It is written
// only so that access logs and metrics see a client-side outcome instead
// of net/http's implicit 200; a client that is gone never reads it, and a
// client that merely half-closed its connection learns what happened.
const StatusClientClosed = 499

func writeClientClosed(w http.ResponseWriter) {
	writeError(w, StatusClientClosed, CodeClientClosed, "the client closed the request before it was answered")
}
