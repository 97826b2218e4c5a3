// Package httperr writes the library's JSON error answer, the one body and
// the one set of headers that every error response of Switchyard has:
//
//	HTTP/1.1 503 Service Unavailable
//	Content-Type: application/json; charset=utf-8
//	X-Content-Type-Options: nosniff
//	Cache-Control: no-store
//	Content-Length: 74
//
//	{"error":{"code":"overloaded","message":"concurrency: limit reached"}}
//
// transport/http (its Error, EncodeError and WriteError), the gateway and
// the HTTP faces of the middleware all answer through [Write]; it lives in
// internal/ because the middleware cannot import transport/http. Users
// write the same answer with transport/http's WriteError.
package httperr
