package gateway

import (
	"net/http"
	"strconv"
	"time"

	"github.com/switchyard/switchyard/internal/httperr"
)

// Error codes of the JSON error bodies the gateway writes itself, with
// internal/httperr (the library's one error writer and set of headers).
// Messages are fixed strings or the request's own method and path:
// upstream errors are logged, never echoed to the client.
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

// writeOverloaded answers 503 with a Retry-After of after, in whole
// seconds rounded up and at least one: the service exists but cannot take
// the request now, and the client may try again then.
func writeOverloaded(w http.ResponseWriter, after time.Duration, code, message string) {
	w.Header().Set("Retry-After", strconv.FormatInt(httperr.RetryAfterSeconds(after), 10))
	httperr.Write(w, http.StatusServiceUnavailable, code, message)
}

// StatusClientClosed is the status the gateway records for a request whose
// client hung up before it could be answered (nginx's 499). It is written
// only so that access logs and metrics see a client-side outcome instead
// of net/http's implicit 200; a client that is gone never reads it, and a
// client that merely half-closed its connection learns what happened.
const StatusClientClosed = 499

func writeClientClosed(w http.ResponseWriter) {
	httperr.Write(w, StatusClientClosed, CodeClientClosed, "the client closed the request before it was answered")
}
