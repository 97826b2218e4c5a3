// Package identity names the services of a fleet the way SPIFFE does, and
// carries the verified name of a request's caller in its context.
//
// An [ID] is a SPIFFE ID, spiffe://<trust domain>/<path>: the trust domain
// is the authority that issued the certificates (one company, one
// cluster, one development CA), the path names the workload within it.
// Switchyard gives a service the path "/<service name>" ([ForService]), so
// spiffe://shop.internal/orders is the orders service of the trust domain
// shop.internal. A workload proves it holds an ID with an X.509
// certificate that carries the ID as its only URI subject alternative name
// (an X.509-SVID in SPIFFE's words) and chains to a CA of the trust
// domain; package mtls builds the TLS configurations that check both.
//
// On the server side, the caller's ID is read from the client certificate
// the TLS handshake verified ([FromConnectionState], [FromRequest]) — never
// from one it did not, and never from a header — and put on the request
// context ([NewContext], [FromContext]), where authorization
// (middleware/authz), logs and handlers find it. [HTTPToContext] does that
// for go-kit HTTP servers.
//
// IDs are values: comparable with ==, usable as map keys, and safe to
// share between goroutines. The zero ID names no one.
package identity
