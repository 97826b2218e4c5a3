package gateway

import (
	"encoding/json"
	"net/http"
)

// Error codes of the JSON error bodies the gateway writes itself.
const (
	CodeNotFound         = "not_found"
	CodeBadPath          = "bad_path"
	CodeBodyTooLarge     = "body_too_large"
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
