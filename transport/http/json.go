package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/go-kit/kit/endpoint"
	kithttp "github.com/go-kit/kit/transport/http"

	"github.com/switchyard/switchyard/outcome"
)

// DefaultMaxBodyBytes is the largest request body a [JSONDecoder] and the
// handler built by [NewServer] accept unless told otherwise: 1 MiB.
const DefaultMaxBodyBytes int64 = 1 << 20

// JSONDecoder reads one JSON value from a request body into a request
// struct.
//
// It reads at most MaxBytes+1 bytes, so a huge or endless body costs no
// more than the limit. It answers with [*Error] values: 413 when the body
// is too large, 415 when the Content-Type is set and is not JSON, 408 when
// reading timed out, and 400 for an empty body, malformed JSON, trailing
// data after the value, or a value of the wrong type for a field.
//
// Fields of the JSON object that the target struct does not have are
// ignored unless DisallowUnknownFields is set: decode into a struct that
// holds only what the caller may set (never into a stored model), and an
// extra "role":"admin" in the body goes nowhere.
//
// The zero value is ready to use; a JSONDecoder is a value and safe for
// concurrent use.
type JSONDecoder struct {
	// MaxBytes caps the body. Zero or less means DefaultMaxBodyBytes.
	MaxBytes int64
	// DisallowUnknownFields makes a body with fields the target does not
	// have a 400. The default ignores them.
	DisallowUnknownFields bool
}

// DecodeJSON decodes r's body into v with the zero [JSONDecoder]: at most
// 1 MiB, unknown fields ignored.
func DecodeJSON(r *http.Request, v any) error {
	return JSONDecoder{}.Decode(r, v)
}

// DecodeJSONRequest is a go-kit DecodeRequestFunc that decodes the body
// into a T with the zero [JSONDecoder] and returns the T (not a pointer):
//
//	shttp.NewHandler(e, shttp.DecodeJSONRequest[createUserRequest], shttp.EncodeJSONResponse)
func DecodeJSONRequest[T any](_ context.Context, r *http.Request) (any, error) {
	var v T
	if err := (JSONDecoder{}).Decode(r, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// NewJSONRequestDecoder returns a go-kit DecodeRequestFunc that decodes
// the body into a T with d and returns the T.
func NewJSONRequestDecoder[T any](d JSONDecoder) kithttp.DecodeRequestFunc {
	return func(_ context.Context, r *http.Request) (any, error) {
		var v T
		if err := d.Decode(r, &v); err != nil {
			return nil, err
		}
		return v, nil
	}
}

// Decode reads r's body as exactly one JSON value into v, which must be a
// non-nil pointer. Errors are [*Error] values as described on the type; a
// v that is not a pointer is a programming error and yields a 500.
func (d JSONDecoder) Decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return &Error{Status: http.StatusUnsupportedMediaType, Message: "content type must be application/json"}
	}
	limit := d.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	if r.ContentLength > limit {
		abortBody(r)
		return tooLarge(limit, nil)
	}
	if r.Body == nil || r.Body == http.NoBody {
		return BadRequest("request body is empty")
	}
	buf := getBuffer()
	defer putBuffer(buf)
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1)); err != nil {
		return bodyError(err, limit)
	}
	if int64(buf.Len()) > limit {
		abortBody(r)
		return tooLarge(limit, nil)
	}
	return d.unmarshal(buf.Bytes(), v)
}

func (d JSONDecoder) unmarshal(data []byte, v any) error {
	if len(bytes.TrimLeft(data, " \t\r\n")) == 0 {
		return BadRequest("request body is empty")
	}
	var err error
	if !d.DisallowUnknownFields {
		// Unmarshal checks the whole input, trailing data included.
		err = json.Unmarshal(data, v)
	} else {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
		if err == nil && len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) != 0 {
			err = errTrailing
		}
	}
	if err == nil {
		return nil
	}
	return jsonError(err)
}

var errTrailing = errors.New("invalid character after top-level value")

// jsonError turns an error from encoding/json into the Error the caller
// sees. The messages name fields of the request struct and JSON offsets,
// which the caller sent; never Go types or values of the server.
func jsonError(err error) *Error {
	var (
		e   *Error
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
		iue *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &e):
		// A custom UnmarshalJSON that chose its own answer.
		return e
	case errors.As(err, &iue):
		return &Error{Status: http.StatusInternalServerError, Err: err}
	case errors.As(err, &se) && se.Offset >= 0 && se.Error() == "unexpected end of JSON input":
		return &Error{Status: http.StatusBadRequest, Code: "malformed_json", Message: "truncated JSON", Err: err}
	case errors.As(err, &se):
		return &Error{Status: http.StatusBadRequest, Code: "malformed_json",
			Message: fmt.Sprintf("malformed JSON at byte %d", se.Offset), Err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Status: http.StatusBadRequest, Code: "malformed_json", Message: "truncated JSON", Err: err}
	case errors.Is(err, errTrailing):
		return &Error{Status: http.StatusBadRequest, Code: "malformed_json", Message: "data after the JSON value", Err: err}
	case errors.As(err, &ute):
		msg := "a value has the wrong type"
		if ute.Field != "" {
			msg = fmt.Sprintf("field %q has the wrong type", ute.Field)
		}
		return &Error{Status: http.StatusBadRequest, Code: "invalid_field", Message: msg, Err: err}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		// encoding/json has no typed error for this one.
		return &Error{Status: http.StatusBadRequest, Code: "unknown_field", Message: "unknown field " + name, Err: err}
	}
	return &Error{Status: http.StatusBadRequest, Message: "invalid request body", Err: err}
}

// bodyError is the answer to a failure reading a request body with limit
// as the decoder's own cap (≤ 0: none): 413 over a limit, 408 when reading timed out,
// and 400 otherwise (a read error, broken chunked framing, a body cut off
// by a hang-up). The cause is marked with outcome.Abort: the caller broke
// its request, and no breaker, limiter or metric counts it against the
// server.
func bodyError(err error, limit int64) *Error {
	err = outcome.Abort(err)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		if limit > 0 {
			return tooLarge(min(limit, mbe.Limit), err)
		}
		return tooLarge(mbe.Limit, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Status: http.StatusRequestTimeout, Message: "timed out reading the request body", Err: err}
	}
	return &Error{Status: http.StatusBadRequest, Message: "could not read the request body", Err: err}
}

func tooLarge(limit int64, cause error) *Error {
	return &Error{
		Status:  http.StatusRequestEntityTooLarge,
		Message: "request body is larger than " + strconv.FormatInt(limit, 10) + " bytes",
		Header:  http.Header{"Connection": {"close"}},
		Err:     cause,
	}
}

// isJSON reports whether the media type ct is application/json or a
// structured-syntax +json type.
func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	if strings.EqualFold(mt, "application/json") {
		return true
	}
	mt = strings.ToLower(mt)
	return strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// EncodeJSONResponse is a go-kit EncodeResponseFunc that writes response
// as JSON with Content-Length set, so that a value that fails to encode
// becomes a clean 500 instead of a truncated 200.
//
//   - A response implementing go-kit's endpoint.Failer with a non-nil
//     Failed() is written as that error by [EncodeError].
//   - The status is 200, or the response's StatusCode() when it has one
//     (go-kit's StatusCoder); its Headers() are added when it has them.
//   - A nil response, or status 204, writes no body.
func EncodeJSONResponse(ctx context.Context, w http.ResponseWriter, response any) error {
	if f, ok := response.(endpoint.Failer); ok && f.Failed() != nil {
		EncodeError(ctx, f.Failed(), w)
		return nil
	}
	code := http.StatusOK
	if sc, ok := response.(kithttp.StatusCoder); ok {
		code = sc.StatusCode()
	}
	if hd, ok := response.(kithttp.Headerer); ok {
		h := w.Header()
		for k, vs := range hd.Headers() {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
	}
	if response == nil || code == http.StatusNoContent {
		if code == http.StatusOK {
			code = http.StatusNoContent
		}
		w.WriteHeader(code)
		return nil
	}
	buf := getBuffer()
	defer putBuffer(buf)
	if err := json.NewEncoder(buf).Encode(response); err != nil {
		return fmt.Errorf("http: encode response: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	_, err := w.Write(buf.Bytes())
	return err
}

// bufPool recycles encode and decode buffers. Buffers that grew past
// maxPooled are dropped so one large body does not pin memory.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooled = 64 << 10

func getBuffer() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooled {
		return
	}
	b.Reset()
	bufPool.Put(b)
}
